"""Projection benchmark: the fast schedule's W+ search against the previous release's, on faces each generator made.

For each generator (every family the tests can build, written in its real on-disk format and read back by the
loaders: StyleGAN1 TF pickle, StyleGAN2-ADA pickle, rosinality .pt; 32-256 px) and each seed set of targets
(6 faces rendered from random W+ with an independent w per layer, psi 0.7, rounded to 8 bits like a photo),
both versions train a FaceSpace with their default settings and with 4x the default steps. Each run is its own
process at one thread (interleaved: previous, new, previous, new, ...), timed in CPU seconds. Printed per run:
worst / median face PSNR at the output resolution (from the W+ table, rendered by this script), CPU seconds, and
the CPU seconds until every face had reached 30 / 35 / 40 dB (from the training callback; '-' = never).

    OMP_NUM_THREADS=1 python bench/projection.py                   # all generators, seed sets 1 2
    python bench/projection.py --only sg2-ada-64 --sets 1 2 3 --cost 1

The previous release is read from git (`--reference`, default: the commit before the projector) into a
temporary folder, so no old code lives in the tree.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS_RELEASE = "adb93bb"  # the first landing: Adam on the W+ table from the best of 256 sampled starts
THRESHOLDS = (30, 35, 40)
DEFAULT_STEPS = 300  # both versions' default step budget


def fixtures():
    """name -> (description, builder of the file in dir)."""
    import torch

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from stylegan_fixtures import write_ada_pickle, write_rosinality, write_tf_pickle

    from facespace.stylegan import build_generator, tiny_generator

    def ada_like(path):
        # Built as NVIDIA's ADA code builds an untrained generator: its w_avg is still zeros.
        torch.manual_seed(0)
        G = build_generator({"family": "stylegan2", "resolution": 64, "z_dim": 512, "w_dim": 512,
                             "mapping_layers": 8, "channels": {r: 32 for r in (4, 8, 16, 32, 64)}})
        init = {"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 64, "img_channels": 3,
                "mapping_kwargs": {"num_layers": 8},
                "synthesis_kwargs": {"channel_base": 2048, "channel_max": 32, "num_fp16_res": 0, "conv_clamp": None}}
        return write_ada_pickle(G, path, init_kwargs=init)

    def sg1_wide(path):
        return write_tf_pickle(tiny_generator("stylegan1", 64, seed=0, z_dim=512, w_dim=512, mapping_hidden=512,
                                              mapping_layers=8), path)

    return {
        "sg1-tf-32": ("StyleGAN1 TF pickle, 32 px, tiny", lambda d: write_tf_pickle(
            tiny_generator("stylegan1", 32, seed=0), d / "sg1-tf-32.pkl")),
        "sg1-tf-64": ("StyleGAN1 TF pickle, 64 px, tiny", lambda d: write_tf_pickle(
            tiny_generator("stylegan1", 64, seed=0), d / "sg1-tf-64.pkl")),
        "sg1-tf-64-w512": ("StyleGAN1 TF pickle, 64 px, 512-wide latents", lambda d: sg1_wide(d / "sg1-tf-64-w512.pkl")),
        "sg2-ada-64": ("StyleGAN2-ADA pickle, 64 px, 512-wide latents, zero w_avg", lambda d: ada_like(d / "sg2-ada-64.pkl")),
        "ros-32": ("rosinality .pt, 32 px, tiny", lambda d: write_rosinality(
            tiny_generator("stylegan2", 32, seed=1), d / "ros-32.pt")),
        "ros-256": ("rosinality .pt, 256 px, tiny", lambda d: write_rosinality(
            tiny_generator("stylegan2", 256, seed=0), d / "ros-256.pt")),
    }


def write_targets(model: Path, seed: int, faces: int, out: Path):
    import numpy as np
    import torch

    from facespace.stylegan import load_generator

    G = load_generator(model)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(faces * G.num_ws, G.z_dim, generator=g)
    ws = G.mapping(z, psi=0.7).view(faces, G.num_ws, G.num_ws, G.w_dim)[:, 0].contiguous()
    with torch.no_grad():
        img = ((G.synthesis(ws) + 1) / 2).clamp(0, 1)
    img = (img * 255).round() / 255  # an 8-bit picture, as a photo would be
    np.save(out, img.permute(0, 2, 3, 1).numpy().astype(np.float32))


def worker(args):
    """One training run in this process, against the code in --tree; prints one JSON line."""
    sys.path.insert(0, args.tree)
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from facespace.runtime import PlainRuntime
    from facespace.stylegan import StyleGAN, load_generator
    from facespace.train import TrainSettings, train_facespace

    G = load_generator(args.model)
    targets = torch.from_numpy(np.load(args.targets))
    reached = {t: None for t in THRESHOLDS}
    c0 = time.process_time()

    def on_step(step, seconds, per_face, phase):
        worst = float(per_face.min())
        for t in THRESHOLDS:
            if reached[t] is None and worst >= t:
                reached[t] = round(time.process_time() - c0, 2)

    fs = train_facespace(StyleGAN(G), targets, None, TrainSettings(steps=args.steps),
                         PlainRuntime("cpu", show_progress=False), callback=on_step)
    cpu = time.process_time() - c0
    with torch.no_grad():
        img = ((G.synthesis(fs.wplus_table) + 1) / 2).clamp(0, 1)
    mse = (img - targets.permute(0, 3, 1, 2)).square().flatten(1).mean(1)
    psnr = (-10 * torch.log10(mse.clamp_min(1e-12))).tolist()
    print(json.dumps({"psnr": psnr, "cpu": round(cpu, 2), "reached": reached, "steps_run": fs.metadata["steps_run"]}))


def previous_tree(repo: Path, rev: str, into: Path) -> Path:
    tree = into / f"facespace-{rev}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "facespace"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_one(tree: Path, model: Path, targets: Path, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--worker", "--tree", str(tree), "--model", str(model),
                          "--targets", str(targets), "--steps", str(steps)], capture_output=True, text=True,
                         env=env, cwd=str(tree))
    if out.returncode != 0:
        raise RuntimeError(f"run failed ({tree.name}, {model.name}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", help="generators to run (default: all)")
    p.add_argument("--sets", type=int, nargs="+", default=[1, 2], help="seeds of the target sets")
    p.add_argument("--faces", type=int, default=6)
    p.add_argument("--cost", type=int, nargs="+", default=[1, 4], help="multiples of the default step budget")
    p.add_argument("--reference", default=PREVIOUS_RELEASE, help="git revision of the previous release")
    p.add_argument("--repo", default=str(ROOT), help="git repository holding --reference (default: this one)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--targets", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(ROOT))
    gens = fixtures()
    names = args.only or list(gens)
    unknown = [n for n in names if n not in gens]
    if unknown:
        p.error(f"unknown generators {unknown}; choose from {', '.join(gens)}")
    with tempfile.TemporaryDirectory(prefix="facespace-bench-") as tmp:
        tmp = Path(tmp)
        trees = {"previous": previous_tree(Path(args.repo), args.reference, tmp), "new": ROOT}
        print(f"== projection: {args.faces} faces per set from random W+ (psi 0.7, 8-bit), sets {args.sets}; "
              f"previous = {args.reference}, new = working tree; CPU seconds at 1 thread, one process per run")
        print(f"{'generator':16s} {'set':>3s} {'cost':>4s} {'version':9s} {'worst':>6s} {'median':>6s} "
              f"{'cpu s':>7s} " + " ".join(f"{'t' + str(t):>6s}" for t in THRESHOLDS) + "  steps")
        summary = {}
        for name in names:
            model = gens[name][1](tmp)
            for s in args.sets:
                targets = tmp / f"{name}-set{s}.npy"
                write_targets(model, s, args.faces, targets)
                for cost in args.cost:
                    order = ["previous", "new"] if (s + cost) % 2 == 0 else ["new", "previous"]
                    for version in order:
                        r = run_one(trees[version], model, targets, DEFAULT_STEPS * cost)
                        v = sorted(r["psnr"])
                        med = (v[len(v) // 2] + v[(len(v) - 1) // 2]) / 2
                        summary.setdefault((name, cost, version), []).append((v[0], med, r["cpu"]))
                        marks = " ".join(f"{r['reached'][str(t)]:6.1f}" if r["reached"][str(t)] is not None
                                         else f"{'-':>6s}" for t in THRESHOLDS)
                        print(f"{name:16s} {s:3d} {cost:3d}x {version:9s} {v[0]:6.1f} {med:6.1f} {r['cpu']:7.1f} "
                              f"{marks}  {r['steps_run']}", flush=True)
        print("-- per generator and cost: worst face over all sets, mean median, total CPU s; new/previous CPU")
        for name in names:
            for cost in args.cost:
                rows = {v: summary[(name, cost, v)] for v in ("previous", "new")}
                line = []
                for v in ("previous", "new"):
                    worst = min(r[0] for r in rows[v])
                    med = sum(r[1] for r in rows[v]) / len(rows[v])
                    line.append(f"{v} {worst:5.1f}/{med:5.1f} dB {sum(r[2] for r in rows[v]):6.1f} s")
                ratio = sum(r[2] for r in rows["new"]) / sum(r[2] for r in rows["previous"])
                print(f"{name:16s} {cost}x  " + "  ".join(line) + f"  cpu new/previous {ratio:4.2f}")


if __name__ == "__main__":
    main()
