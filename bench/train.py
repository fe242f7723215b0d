"""Training benchmark: the original schedule against our defaults, on faces a generator made itself.

Part 1 (convergence): a tiny random StyleGAN2 renders faces from known random W+; each schedule/encoder
trains until every face's reconstruction through the encoder reaches --target dB (or its schedule ends).
Prints wall time and steps to the target and the ratio against the original schedule.

Part 2 (step cost): seconds per optimisation step with a StyleGAN2 of realistic channel counts
(config-f widths) at --resolution, random weights: the original's step (batch 2, target propagation:
two renders at full resolution) against ours (all faces in one batch at the working resolution cap).

    python bench/train.py                       # both parts, 256 px for part 2
    python bench/train.py --resolution 1024 --skip-convergence
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facespace.imageops import native_to_image  # noqa: E402
from facespace.runtime import PlainRuntime  # noqa: E402
from facespace.stylegan import StyleGAN, build_generator, tiny_generator  # noqa: E402
from facespace.train import TrainSettings, train_facespace  # noqa: E402
from facespace.train.losses import psnr  # noqa: E402


def generator_faces(G, n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n * G.num_ws, G.z_dim, generator=g)
    ws = G.mapping(z, psi=0.7).view(n, G.num_ws, G.num_ws, G.w_dim)[:, 0].contiguous()
    with torch.no_grad():
        return native_to_image(G.synthesis(ws))


def time_to_target(G, faces, settings: TrainSettings, target: float):
    """Train once; return (seconds to target or None, steps to target or None, total seconds, final PSNR per face)."""
    reached = {}

    def on_step(step, seconds, per_face, phase):
        # For the original schedule and for the MLP fine-tune this is the encoder's own output.
        encoder_output = settings.schedule == "original" or settings.encoder == "linear" or phase == "encoder"
        if not reached and encoder_output and bool((per_face >= target).all()):
            reached["at"] = (seconds, step)

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="perceptual loss off")
        fs = train_facespace(StyleGAN(G), faces, None, settings, PlainRuntime("cpu", show_progress=False),
                             callback=on_step)
    total = time.perf_counter() - t0
    with torch.no_grad():
        out = (G.synthesis(fs.encode(torch.eye(len(fs)))) + 1) / 2
    final = psnr(out, faces.permute(0, 3, 1, 2))
    if bool((final >= target).all()) and not reached:
        reached["at"] = (total, fs.metadata["steps_run"])  # reached only by the last step or the distillation
    if "at" in reached and settings.schedule == "fast":
        reached["at"] = (total, reached["at"][1])  # the fast schedule's time includes distillation
    seconds, steps = reached.get("at", (None, None))
    return seconds, steps, total, final


def convergence(args):
    G = tiny_generator(resolution=args.tiny_resolution, seed=0)
    configs = [
        ("original / mlp", TrainSettings.original(target_psnr=args.target)),
        ("original / linear", TrainSettings.original(encoder="linear", target_psnr=args.target)),
        ("fast / linear", TrainSettings(encoder="linear", steps=args.fast_steps, target_psnr=args.target)),
        ("fast / mlp", TrainSettings(encoder="mlp", steps=args.fast_steps, target_psnr=args.target)),
    ]
    if args.skip_original:
        configs = configs[2:]
    if args.ablation:
        configs += [
            ("fast / linear, no restarts", TrainSettings(steps=args.fast_steps, target_psnr=args.target,
                                                         init_candidates=0)),
            ("fast / linear, no shared-w phase", TrainSettings(steps=args.fast_steps, target_psnr=args.target,
                                                                shared_w_fraction=0.0)),
            ("fast / linear, + MS-SSIM 0.1", TrainSettings(steps=args.fast_steps, target_psnr=args.target,
                                                            structural_weight=0.1)),
        ]
    print(f"== convergence: tiny StyleGAN2 {G.resolution} px, {args.faces} faces from random W+, target "
          f"{args.target} dB on every face, {len(args.sets)} target set(s), CPU {torch.get_num_threads()} thread(s)")
    print("   (no VGG16 weights here: the perceptual loss is off in every run)")
    results = {}
    for name, settings in configs:
        rows = []
        for s in args.sets:
            faces = generator_faces(G, args.faces, seed=s)
            rows.append(time_to_target(G, faces, settings, args.target))
        results[name] = rows
        for s, (sec, steps, total, final) in zip(args.sets, rows):
            got = f"{sec:7.2f} s, {steps:5d} steps" if sec is not None else f"not reached in {total:.1f} s"
            print(f"{name:34s} set {s}: {got:30s} final PSNR min {final.min():5.1f} mean {final.mean():5.1f} dB")
    print("-- wall time to the target, summed over target sets (runs that never reach it count their full time)")
    reference = "original / mlp" if "original / mlp" in results else "fast / linear"
    base = sum(r[0] if r[0] is not None else r[2] for r in results[reference])
    base_reached = all(r[0] is not None for r in results[reference])
    for name, rows in results.items():
        t = sum(r[0] if r[0] is not None else r[2] for r in rows)
        ok = all(r[0] is not None for r in rows)
        note = "" if ok else " (target not reached in every set)"
        print(f"{name:34s} {t:8.2f} s   {reference.split(' /')[0]}/this = {base / t:6.1f}x{note}")
    if not base_reached and reference.startswith("original"):
        print("note: the original schedule did not reach the target in every set; its ratio uses its full "
              "schedule time, so the speed-up is a lower bound")


def realistic_generator(resolution: int):
    """StyleGAN2 config-f channel counts (512 up to 64 px, then halving), random weights."""
    channels = {2 ** i: min(32768 // 2 ** i, 512) for i in range(2, int(math.log2(resolution)) + 1)}
    torch.manual_seed(0)
    G = build_generator({"family": "stylegan2", "resolution": resolution, "channels": channels})
    return G.eval().requires_grad_(False)


def step_cost(args):
    torch.manual_seed(0)
    G = realistic_generator(args.resolution)
    n = args.step_faces
    print(f"== step cost: StyleGAN2 config-f widths at {args.resolution} px ({G.num_params() / 1e6:.1f} M params), "
          f"{n} faces, CPU {torch.get_num_threads()} thread(s), {args.timing_steps} timed step(s) after "
          f"{args.warmup} warm-up step(s)")
    ws_mean = G.w_avg.view(1, 1, -1).repeat(n, G.num_ws, 1)
    target = torch.rand(n, 3, args.resolution, args.resolution)

    def one_step(ws, res, batches):
        for b in batches:
            w = ws[b].clone().requires_grad_(True)
            img = G.synthesis(w, max_resolution=res if res < G.resolution else None)
            t = torch.nn.functional.interpolate(target[b], size=img.shape[-1], mode="area")
            ((img + 1) / 2 - t).square().mean().backward()

    def timed(fn):
        for _ in range(args.warmup):
            fn()
        t0 = time.perf_counter()
        for _ in range(args.timing_steps):
            fn()
        return (time.perf_counter() - t0) / args.timing_steps

    pairs = [list(range(i, min(i + 2, n))) for i in range(0, n, 2)]
    # Original: per batch of 2, the table's render and the encoder's render, both at full resolution.
    orig_step = timed(lambda: one_step(ws_mean, G.resolution, pairs[:1] * 2))
    orig_epoch = orig_step * len(pairs)
    cap = min(args.cap, G.resolution)
    fast_step = timed(lambda: one_step(ws_mean, cap, [list(range(n))]))
    print(f"original step (2 faces, 2 renders at {G.resolution} px): {orig_step:8.2f} s; one pass over {n} faces "
          f"{orig_epoch:8.2f} s")
    print(f"fast step ({n} faces, 1 render at {cap} px):            {fast_step:8.2f} s")
    print(f"per pass over all faces: original/fast = {orig_epoch / fast_step:.1f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", type=float, default=30.0, help="PSNR every face must reach (dB)")
    p.add_argument("--faces", type=int, default=8)
    p.add_argument("--sets", type=int, nargs="+", default=[1, 2], help="seeds of the target sets")
    p.add_argument("--tiny-resolution", type=int, default=32)
    p.add_argument("--fast-steps", type=int, default=1000, help="step budget of the fast schedule")
    p.add_argument("--ablation", action=argparse.BooleanOptionalAction, default=True,
                   help="also time variants of the fast schedule")
    p.add_argument("--resolution", type=int, default=256, help="generator resolution for the step cost")
    p.add_argument("--cap", type=int, default=256, help="the fast schedule's working resolution cap")
    p.add_argument("--step-faces", type=int, default=8)
    p.add_argument("--timing-steps", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    p.add_argument("--skip-convergence", action="store_true")
    p.add_argument("--skip-original", action="store_true", help="convergence of the fast schedule only")
    p.add_argument("--skip-step-cost", action="store_true")
    args = p.parse_args()
    if not args.skip_convergence:
        convergence(args)
    if not args.skip_step_cost:
        step_cost(args)


if __name__ == "__main__":
    main()
