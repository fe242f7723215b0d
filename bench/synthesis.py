"""Synthesis speed: images/s (forward) and forward+backward step time, StyleGAN1 and StyleGAN2.

    python bench/synthesis.py --resolution 256 --batch 1 --device cpu [--reference-dir DIR ...]

Each --reference-dir is a checkout of a reference implementation, recognised by its content:
  - lernapparat/lernapparat (style_gan/pytorch_style_gan.ipynb): StyleGAN1 port of NVIDIA's TF graph;
  - NVlabs/stylegan2-ada-pytorch (training/networks.py): StyleGAN2, run on its pure-PyTorch op paths.
The reference network gets random weights, the same weights are handed to our engine through its
own readers, and both are timed in the same run (interleaved, median of --repeats) on the same
latents; the script prints times, the ratio reference/ours and the max abs difference of the images.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import pickle
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from facespace.stylegan import build_generator, load_generator  # noqa: E402
from facespace.stylegan.formats.nvidia_tf import convert_stylegan1  # noqa: E402
from facespace.stylegan.safe_pickle import TFNetwork  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthesis_stylegan3  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds); on a shared CPU the CPU time is the steadier of the two."""
    sync(device)
    t, c = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t, time.process_time() - c


def forward_backward(synth, ws):
    ws = ws.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        img = synth(ws)
        img.square().mean().backward()
    return ws.grad


# ------------------------------------------------------------------ references

def load_lernapparat(ref_dir: Path):
    """The notebook's class definitions as an importable module (written to a temp dir, never into the repo)."""
    nb = json.loads((ref_dir / "style_gan" / "pytorch_style_gan.ipynb").read_text())
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = "".join(cell["source"])
        if text.lstrip().startswith("g_all ="):
            break
        cells.append("\n".join(l for l in text.splitlines() if not l.startswith("%") and "import IPython" not in l))
    tmp = Path(tempfile.mkdtemp(prefix="stylegan1_ref_"))
    (tmp / "lernapparat_stylegan1.py").write_text("\n\n".join(cells))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("lernapparat_stylegan1")


def lernapparat_pair(mod, resolution: int, device, seed=0):
    """Reference StyleGAN1 (FFHQ channel layout) with random weights, and our Generator with the same weights."""
    torch.manual_seed(seed)
    mapping, synth = mod.G_mapping(), mod.G_synthesis(resolution=resolution)
    for m in synth.modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            m.eps = 1e-8  # NVIDIA's TF epsilon (the port's nn.InstanceNorm2d default is 1e-5)
    g = torch.Generator().manual_seed(seed)
    noises = [m for m in synth.modules() if type(m).__name__ == "NoiseLayer"]
    layer_res = [4, 4] + [2 ** k for k in range(3, int(math.log2(resolution)) + 1) for _ in (0, 1)]
    with torch.no_grad():
        for n, p in list(mapping.named_parameters()) + list(synth.named_parameters()):
            if n.endswith("bias") or "noise" in n:
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
        for nl, r in zip(noises, layer_res):
            nl.noise = torch.randn(1, 1, r, r, generator=g)
    t = lambda x: x.detach().numpy().astype(np.float32)  # noqa: E731
    conv = lambda w: t(w.permute(2, 3, 1, 0))  # noqa: E731
    mv = []
    for i in range(8):
        dense = getattr(mapping, f"dense{i}")
        mv += [(f"Dense{i}/weight", t(dense.weight.t())), (f"Dense{i}/bias", t(dense.bias))]
    sv = [(f"noise{i}", t(nl.noise)) for i, nl in enumerate(noises)]
    for name, blk in synth.blocks.items():
        r = int(name.split("x")[0])
        p = f"{r}x{r}"
        if r == 4:
            sv += [("4x4/Const/const", t(blk.const)), ("4x4/Const/bias", t(blk.bias)),
                   ("4x4/Conv/weight", conv(blk.conv.weight)), ("4x4/Conv/bias", t(blk.conv.bias))]
            scopes = [("4x4/Const", blk.epi1), ("4x4/Conv", blk.epi2)]
            c = blk.conv.weight.shape[0]
        else:
            sv += [(f"{p}/Conv0_up/weight", conv(blk.conv0_up.weight)), (f"{p}/Conv0_up/bias", t(blk.conv0_up.bias)),
                   (f"{p}/Conv1/weight", conv(blk.conv1.weight)), (f"{p}/Conv1/bias", t(blk.conv1.bias))]
            scopes = [(f"{p}/Conv0_up", blk.epi1), (f"{p}/Conv1", blk.epi2)]
            c = blk.conv1.weight.shape[0]
        for sc, epi in scopes:
            sv += [(f"{sc}/Noise/weight", t(epi.top_epi.noise.weight)),
                   (f"{sc}/StyleMod/weight", t(epi.style_mod.lin.weight.t())),
                   (f"{sc}/StyleMod/bias", t(epi.style_mod.lin.bias))]
        lod = int(math.log2(resolution // r))
        if lod == 0:
            sv += [("ToRGB_lod0/weight", conv(synth.torgb.weight)), ("ToRGB_lod0/bias", t(synth.torgb.bias))]
        else:
            sv += [(f"ToRGB_lod{lod}/weight", np.zeros((1, 1, c, 3), np.float32)),
                   (f"ToRGB_lod{lod}/bias", np.zeros(3, np.float32))]

    def net(name, variables, components=None):
        n = TFNetwork()
        n.__setstate__({"name": name, "variables": variables, "components": components or {}, "static_kwargs": {}})
        return n

    gs = net("G", [("dlatent_avg", np.zeros(512, np.float32))],
             {"mapping": net("G_mapping", mv), "synthesis": net("G_synthesis", sv)})
    ours = convert_stylegan1(gs, "reference weights").eval().requires_grad_(False)
    mapping.eval().requires_grad_(False).to(device)
    synth.eval().requires_grad_(False).to(device)
    for nl in noises:
        nl.noise = nl.noise.to(device)
    return mapping, synth, ours.to(device)


def float64_reference(synth, ws):
    """The reference synthesis in float64, as ground truth for the fp32 rounding error of both engines."""
    import copy

    s64 = copy.deepcopy(synth).double()
    for m in s64.modules():
        if getattr(m, "noise", None) is not None and isinstance(m.noise, torch.Tensor):
            m.noise = m.noise.double()
    with torch.no_grad():
        return s64(ws.double()).float()


def ada_pair(ref_dir: Path, resolution: int, device, seed=0):
    """Reference StyleGAN2 (config-f channel layout) with random weights, and ours loaded from its pickle."""
    sys.path.insert(0, str(ref_dir))
    for name in ("requests", "click"):  # imported by its dnnlib/legacy helpers, unused here
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.command = stub.option = lambda *a, **k: (lambda f: f)
            sys.modules[name] = stub
    networks = importlib.import_module("training.networks")
    torch.manual_seed(seed)
    G = networks.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                           mapping_kwargs={"num_layers": 8},
                           synthesis_kwargs={"channel_base": 32768, "channel_max": 512, "num_fp16_res": 0,
                                             "conv_clamp": None}).eval().requires_grad_(False)
    with torch.no_grad():
        for n, p in G.named_parameters():
            if n.endswith("noise_strength") or n.endswith("bias"):
                p.add_(torch.randn(p.shape) * 0.2)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ref.pkl"
        path.write_bytes(pickle.dumps({"G_ema": G}))
        ours = load_generator(path)
    return G.to(device), ours.to(device)


# ------------------------------------------------------------------ runs

def bench(label, fns, repeats, device):
    """fns: {name: callable}; interleaved timing, median per name."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(time_call(fn, device))
    return {k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for k, v in times.items()}


def report(label, res, batch):
    names = list(res)
    line = ", ".join(f"{k} {w:.3f} s wall ({batch / w:.2f} img/s), {c:.3f} s CPU" for k, (w, c) in res.items())
    if len(names) == 2:
        (rw, rc), (ow, oc) = res[names[0]], res[names[1]]
        line += f"; ratio reference/ours {rw / ow:.2f}x wall, {rc / oc:.2f}x CPU"
    print(f"{label}: {line}", flush=True)


def run_family(family, args, device, refs):
    R, B = args.resolution, args.batch
    g = torch.Generator().manual_seed(1)
    if family == "stylegan1" and "stylegan1" in refs:
        ref_map, ref_syn, ours = lernapparat_pair(refs["stylegan1"], R, device)
        z = torch.randn(B, 512, generator=g).to(device)
        with torch.no_grad():
            ws_ref = ref_map(z)[:, :ours.num_ws].contiguous()
            ref_img, our_img = ref_syn(ws_ref), ours.synthesis(ours.mapping(z))
            diff = (ref_img - our_img).abs().max().item()
            exact = float64_reference(ref_syn, ws_ref)
        print(f"stylegan1 {R}px: fp32 error against the reference run in float64: "
              f"reference {(ref_img - exact).abs().max():.2e}, ours {(our_img - exact).abs().max():.2e} "
              f"(image values up to {exact.abs().max():.2f})", flush=True)
        ref_fwd, ref_bwd = (lambda: ref_syn(ws_ref)), (lambda: forward_backward(ref_syn, ws_ref))
    elif family == "stylegan2" and "stylegan2" in refs:
        ref, ours = ada_pair(refs["stylegan2"], R, device)
        z = torch.randn(B, 512, generator=g).to(device)
        with torch.no_grad():
            ws_ref = ref.mapping(z, None)
            diff = (ref.synthesis(ws_ref, noise_mode="const", force_fp32=True)
                    - ours.synthesis(ours.mapping(z))).abs().max().item()
        syn = lambda w: ref.synthesis(w, noise_mode="const", force_fp32=True)  # noqa: E731
        ref_fwd, ref_bwd = (lambda: syn(ws_ref)), (lambda: forward_backward(syn, ws_ref))
    else:
        ours = build_generator({"family": family, "resolution": R}).eval().requires_grad_(False).to(device)
        ref_fwd = ref_bwd = None
        diff = None
    ws = ours.mapping(torch.randn(B, ours.z_dim, generator=g).to(device))
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]

    def ours_fwd():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return ours.synthesis(ws)

    def ours_bwd():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return forward_backward(ours.synthesis, ws)

    def ref_fwd_nograd():
        with torch.no_grad():
            return ref_fwd()

    tag = f"{family} {R}px batch {B} {device.type} {args.precision} threads {torch.get_num_threads()}"
    if diff is not None:
        print(f"{tag}: max abs diff reference vs ours (fp32, same weights and latents) = {diff:.2e}", flush=True)
    fwd = {"reference": ref_fwd_nograd, "ours": ours_fwd} if ref_fwd else {"ours": ours_fwd}
    report(f"{tag} forward", bench("forward", fwd, args.repeats, device), B)
    if not args.no_backward:
        bwd = {"reference": ref_bwd, "ours": ours_bwd} if ref_bwd else {"ours": ours_bwd}
        report(f"{tag} forward+backward", bench("fwd+bwd", bwd, args.repeats, device), B)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", choices=["stylegan1", "stylegan2", "both", "stylegan3"], default="both",
                   help="stylegan3: see bench/synthesis_stylegan3.py (needs an NVlabs/stylegan3 --reference-dir)")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32", help="ours only (autocast)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-backward", action="store_true", help="time the forward pass only")
    p.add_argument("--reference-dir", action="append", default=[], type=Path,
                   help="reference checkout (lernapparat/lernapparat or NVlabs/stylegan2-ada-pytorch); repeatable")
    synthesis_stylegan3.add_arguments(p)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    refs = {}
    for d in args.reference_dir:
        if (d / "style_gan" / "pytorch_style_gan.ipynb").exists():
            refs["stylegan1"] = load_lernapparat(d)
        elif (d / "training" / "networks.py").exists():
            refs["stylegan2"] = d
        elif (d / "training" / "networks_stylegan3.py").exists():
            refs["stylegan3"] = d
        else:
            p.error(f"{d} is not a lernapparat, stylegan2-ada-pytorch or stylegan3 checkout")
    if args.family == "stylegan3":
        if "stylegan3" not in refs:
            p.error("--family stylegan3 needs --reference-dir of an NVlabs/stylegan3 checkout")
        args.reference_dir = refs["stylegan3"]
        return synthesis_stylegan3.run(args)
    for family in (["stylegan1", "stylegan2"] if args.family == "both" else [args.family]):
        run_family(family, args, device, refs)


if __name__ == "__main__":
    main()
