"""Alignment speed: seconds per photo for landmark detection and for the FFHQ warp.

    python bench/align.py [--size 1024] [--repeat 3]

Photos: the two test photos, plus a 3000x3000 textured upscale of astronaut.png standing in for a
phone photo. The warp is timed for this package's `align_ffhq` and for the literal implementation of
the published recipe kept in the tests (its ratio, and the PSNR between the two, printed per photo).
Detection is timed for dlib, and for face_alignment when its weight files are already on disk.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from facespace.align import align_ffhq, select_faces  # noqa: E402
from facespace.align.dlib_backend import DlibBackend  # noqa: E402
from test_align_ffhq import psnr, reference_align  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def photos() -> dict[str, Image.Image]:
    data = ROOT / "tests" / "data"
    astronaut = Image.open(data / "astronaut.png").convert("RGB")
    rng = np.random.default_rng(0)
    big = np.asarray(astronaut.resize((3000, 3000), Image.Resampling.LANCZOS), dtype=np.float32)
    big = Image.fromarray(np.uint8(np.clip(big + rng.normal(0, 12, big.shape), 0, 255)))
    return {"astronaut 512x512": astronaut,
            "grace_hopper 512x600": Image.open(data / "grace_hopper.jpg").convert("RGB"),
            "phone-size 3000x3000": big}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))

    start = time.perf_counter()
    dlib_backend = DlibBackend()
    print(f"dlib backend init: {time.perf_counter() - start:.2f} s")
    fan = None
    try:
        from facespace.align.fan_backend import FanBackend

        fan = FanBackend(device="cpu")
    except Exception as exc:  # weights not on disk: skip that row
        print(f"face_alignment: not timed ({str(exc).split(';')[0]})")

    print(f"\nwarp at {args.size}x{args.size} (best of {args.repeat}); detection per photo")
    print(f"{'photo':<22} {'dlib detect':>11} {'FAN detect':>10} {'warp':>8} {'reference warp':>14} "
          f"{'speed-up':>8} {'PSNR dB':>8}")
    totals = np.zeros(3)
    pictures = photos()
    for name, img in pictures.items():
        arr = np.asarray(img)
        t_dlib = best_of(lambda: dlib_backend.detect(arr), args.repeat)
        faces = select_faces(dlib_backend.detect(arr))
        lm = faces[0].landmarks
        t_fan = f"{best_of(lambda: fan.detect(arr), 1):.3f}s" if fan is not None else "n/a"
        t_ours = best_of(lambda: align_ffhq(img, lm, args.size), args.repeat)
        t_ref = best_of(lambda: reference_align(img, lm, args.size), args.repeat)
        quality = psnr(align_ffhq(img, lm, args.size), reference_align(img, lm, args.size))
        totals += (t_dlib, t_ours, t_ref)
        print(f"{name:<22} {t_dlib:>10.3f}s {t_fan:>10} {t_ours:>7.3f}s {t_ref:>13.3f}s "
              f"{t_ref / t_ours:>7.1f}x {quality:>8.1f}")
    n = len(pictures)
    print(f"{'mean':<22} {totals[0] / n:>10.3f}s {'':>10} {totals[1] / n:>7.3f}s {totals[2] / n:>13.3f}s "
          f"{totals[2] / totals[1]:>7.1f}x")


if __name__ == "__main__":
    main()
