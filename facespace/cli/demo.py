"""`python -m facespace demo`: the whole pipeline in one command."""
from __future__ import annotations

import contextlib

import torch

from ..demo import ALIGN_CHOICES, SELF_CHECK_STEPS, run_demo
from ..runtime import PlainRuntime


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="train a FaceSpace and write blends with charts and a morph, in one go",
        description="With --model and --faces: your generator and photos (aligned first unless they are already "
                    "square crops of one size). Without them: a self-check on a small built-in generator and "
                    "synthetic pictures (not real faces) that needs nothing downloaded.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", help="StyleGAN generator file")
    p.add_argument("--faces", help="folder of face photos (aligned or not)")
    p.add_argument("--steps", type=int,
                   help=f"training steps (default: {SELF_CHECK_STEPS} for the self-check, else the trainer's)")
    p.add_argument("--align", default="auto", choices=ALIGN_CHOICES,
                   help="align the photos first: auto (unless all are square crops of one size), always, "
                        "never (centre-cropped to a square)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and of the random blends (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace files of an earlier run in --out")
    p.set_defaults(run=run)


@contextlib.contextmanager
def torch_threads(count: int | None):
    """Run with `count` CPU threads (None: unchanged), restoring the count afterwards."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(args) -> int:
    # The self-check's tiny networks gain nothing from more threads, and on a busy CPU lose a lot.
    self_check = args.model is None and args.faces is None
    with torch_threads(1 if self_check else None):
        result = run_demo(args.out, model=args.model, faces=args.faces, steps=args.steps, overwrite=args.overwrite,
                          align=args.align, seed=args.seed, runtime=PlainRuntime(args.device))
    print(f"done in {result.seconds:.1f} s; wrote to {result.out_dir}:")
    for key, path in result.files.items():
        print(f"  {key:10s} {path}")
    if result.self_check:
        print("This was a SELF-CHECK on synthetic pictures, not real faces (see README.txt).")
    return 0
