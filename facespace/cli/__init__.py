"""`python -m facespace COMMAND ...`: the library from the shell, one module per command group."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from ..errors import FaceSpaceError, OutputExistsError
from ..fileio import os_error_text
from ..limits import one_line
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


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line (the full usage is one --help away)."""

    def error(self, message):
        self.exit(2, f"error: {one_line(message)} (see {self.prog} --help)\n")


def error_line(exc: BaseException) -> str:
    """What the user caused, as one line naming the file or input at fault."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.errno is not None:
        return one_line(f"{exc.filename}: {os_error_text(exc)}")
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller batch size or resolution"
    return one_line(str(exc) or type(exc).__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m facespace", description="Blend and morph faces with StyleGAN.")
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
    except (FaceSpaceError, OSError, ValueError) as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # a GPU out of memory is torch.OutOfMemoryError, a RuntimeError
        if type(exc).__name__ != "OutOfMemoryError":
            raise
        print(f"error: {error_line(MemoryError())}", file=sys.stderr)
        return 1
