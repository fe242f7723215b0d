"""`python -m facespace COMMAND ...`: the library from the shell, one module per command group."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from ..errors import FaceSpaceError, OutputExistsError
from ..runtime import usable_device

# Along the user's path; each module defines register(subparsers) and sets a `run` default.
COMMAND_MODULES = (
    "model",
    "align",
    "project",
    "train",
    "blend",
    "latent",
    "demo",
    "paste",
    "similarity",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m facespace", description="Blend and morph faces with StyleGAN.")
    parser.add_argument("--device", default="auto", help="torch device: auto (CUDA when available, else CPU), cpu, cuda, cuda:1 ...")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.device != "auto":
            usable_device(args.device)  # before any work, in one line naming the devices this machine has
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OutputExistsError as exc:  # the shell's way to allow it
        print(f"error: {OutputExistsError(exc.path, 'pass --overwrite')}", file=sys.stderr)
        return 2
    except (FaceSpaceError, FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
