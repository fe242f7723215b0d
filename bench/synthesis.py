"""Synthesis speed against a reference and against the plain convolutions of the same shapes.

    python bench/synthesis.py --resolution 256 1024 --batch 1 4 [--reference-dir DIR ...] [--device cuda]

For each family, resolution and batch, forward and forward+backward (gradient to the latents, as
projection and training use it) are timed for ours, the reference and "the limit": the same
convolutions our network runs (shapes from our generator), as bare `torch.nn.functional` calls on
random inputs in channels_last, with nothing else around them. The printed ratios are ours/limit
(1.0 = synthesis costs only its convolutions) and reference/ours. On the CPU the default is one
thread and process CPU time, which a shared machine disturbs least.

Each --reference-dir is a checkout of a reference implementation, recognised by its content:
  - lernapparat/lernapparat (style_gan/pytorch_style_gan.ipynb): StyleGAN1 port of NVIDIA's TF graph;
  - NVlabs/stylegan2-ada-pytorch (training/networks.py): StyleGAN2, run on its pure-PyTorch op paths.
The reference network gets random weights, the same weights are handed to our engine through its
own readers, and both are timed in the same run (interleaved, median of --repeats) on the same
latents; the script also prints the max abs difference of the images.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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


# ------------------------------------------------------------------ the limit: plain convolutions of our shapes

@dataclass(frozen=True)
class ConvShape:
    """One convolution of a synthesis network as plain `torch.nn.functional` sees it (per image)."""
    cin: int
    cout: int
    size: int  # input height = width
    kernel: int
    transposed: bool = False
    stride: int = 1
    padding: int = 0

    def macs(self) -> int:
        per_input_px = self.cin * self.cout * self.kernel ** 2 / (self.stride ** 2 if not self.transposed else 1)
        return int(per_input_px * self.size ** 2)


def stylegan_shapes(G) -> list[ConvShape]:
    """Convolutions StyleGAN1/2 cannot skip: the 3x3 convs, the up convs as stride-2 transposed 3x3 convs (the
    least work of the equivalent forms), the ToRGB 1x1 convs; no blur, FIR, modulation or epilogue."""
    net = G.synthesis_network
    shapes = []
    for res in net.resolutions:
        block = getattr(net, f"b{res}")
        if hasattr(block, "conv0"):
            co, ci = block.conv0.weight.shape[:2]
            shapes.append(ConvShape(ci, co, res // 2, 3, transposed=True, stride=2))
        c = block.conv1.weight.shape[0]
        shapes.append(ConvShape(c, c, res, 3, padding=1))
        if G.family == "stylegan2" or res == net.resolutions[-1]:
            shapes.append(ConvShape(c, G.img_channels, res, 1))
    return shapes


def plain_convolutions(shapes: list[ConvShape], batch: int, device, dtype, backward: bool):
    """A callable running every shape once as a plain convolution (channels_last, the faster layout here at
    high resolution), inputs made beforehand; with `backward` also the input gradient, as projection needs it."""
    cl = torch.channels_last
    g = torch.Generator().manual_seed(0)
    runs = []
    for s in shapes:
        x = torch.randn(batch, s.cin, s.size, s.size, generator=g).to(device, dtype).contiguous(memory_format=cl)
        wshape = (s.cin, s.cout) if s.transposed else (s.cout, s.cin)
        w = (torch.randn(*wshape, s.kernel, s.kernel, generator=g) * 0.05).to(device, dtype)
        w = w.contiguous(memory_format=cl)
        op = F.conv_transpose2d if s.transposed else F.conv2d
        with torch.no_grad():
            out_shape = op(x[:1], w, stride=s.stride, padding=s.padding).shape
        dy = torch.randn(batch, *out_shape[1:], generator=g).to(device, dtype).contiguous(memory_format=cl)
        runs.append((op, s, x.requires_grad_(backward), w, dy))

    def run():
        with torch.set_grad_enabled(backward):
            for op, s, x, w, dy in runs:
                y = op(x, w, stride=s.stride, padding=s.padding)
                if backward:
                    torch.autograd.grad(y, x, dy)

    return run


# ------------------------------------------------------------------ cases

@dataclass
class Case:
    """One family at one resolution and batch: our generator and latents, the reference's passes (or None)."""
    ours: object
    ws: torch.Tensor
    ref_forward: object = None
    ref_backward: object = None
    shapes: list = field(default_factory=list)


def stylegan1_case(R, B, device, refs) -> Case:
    g = torch.Generator().manual_seed(1)
    if "stylegan1" not in refs:
        ours = build_generator({"family": "stylegan1", "resolution": R}).eval().requires_grad_(False).to(device)
        return Case(ours, ours.mapping(torch.randn(B, 512, generator=g).to(device)), shapes=stylegan_shapes(ours))
    ref_map, ref_syn, ours = lernapparat_pair(refs["stylegan1"], R, device)
    z = torch.randn(B, 512, generator=g).to(device)
    with torch.no_grad():
        ws_ref = ref_map(z)[:, :ours.num_ws].contiguous()
        ref_img, our_img = ref_syn(ws_ref), ours.synthesis(ours.mapping(z))
        exact = float64_reference(ref_syn, ws_ref)
    print(f"stylegan1 {R}px batch {B}: max abs diff reference vs ours {(ref_img - our_img).abs().max():.2e}; "
          f"fp32 error against the reference run in float64: reference {(ref_img - exact).abs().max():.2e}, "
          f"ours {(our_img - exact).abs().max():.2e} (image values up to {exact.abs().max():.2f})", flush=True)
    return Case(ours, ours.mapping(z), lambda: ref_syn(ws_ref), lambda: forward_backward(ref_syn, ws_ref),
                stylegan_shapes(ours))


def stylegan2_case(R, B, device, refs) -> Case:
    g = torch.Generator().manual_seed(1)
    if "stylegan2" not in refs:
        ours = build_generator({"family": "stylegan2", "resolution": R}).eval().requires_grad_(False).to(device)
        return Case(ours, ours.mapping(torch.randn(B, 512, generator=g).to(device)), shapes=stylegan_shapes(ours))
    ref, ours = ada_pair(refs["stylegan2"], R, device)
    z = torch.randn(B, 512, generator=g).to(device)
    syn = lambda w: ref.synthesis(w, noise_mode="const", force_fp32=True)  # noqa: E731
    with torch.no_grad():
        ws_ref = ref.mapping(z, None)
        diff = (syn(ws_ref) - ours.synthesis(ours.mapping(z))).abs().max().item()
    print(f"stylegan2 {R}px batch {B}: max abs diff reference vs ours (fp32, same weights and latents) {diff:.2e}",
          flush=True)
    return Case(ours, ours.mapping(z), lambda: syn(ws_ref), lambda: forward_backward(syn, ws_ref),
                stylegan_shapes(ours))


CASES = {"stylegan1": stylegan1_case, "stylegan2": stylegan2_case}


# ------------------------------------------------------------------ runs

def bench(fns, repeats, device):
    """fns: {name: callable}; one warm-up each, then `repeats` rounds interleaved; median (wall, CPU) per name."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(time_call(fn, device))
    return {k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for k, v in times.items()}


def run_case(family, R, B, args, device, refs) -> list[dict]:
    case = CASES[family](R, B, device, refs)
    ours, ws = case.ours, case.ws
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    autocast = lambda: torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)  # noqa: E731

    def ours_fwd():
        with torch.no_grad(), autocast():
            return ours.synthesis(ws)

    def ours_bwd():
        with autocast():
            return forward_backward(ours.synthesis, ws)

    def ref_fwd():
        with torch.no_grad():
            return case.ref_forward()

    gmac = sum(s.macs() for s in case.shapes) * B / 1e9
    rows = []
    passes = [("forward", ours_fwd, ref_fwd if case.ref_forward else None, False)]
    if not args.no_backward:
        passes.append(("fwd+bwd", ours_bwd, case.ref_backward, True))
    for name, ours_fn, ref_fn, backward in passes:
        fns = {"ours": ours_fn, "limit": plain_convolutions(case.shapes, B, device, dtype, backward)}
        if ref_fn is not None:
            fns["reference"] = ref_fn
        res = bench(fns, args.repeats, device)
        col = 0 if args.clock == "wall" else 1
        t = {k: v[col] for k, v in res.items()}
        row = {"family": family, "res": R, "batch": B, "pass": name, "ours": t["ours"], "limit": t["limit"],
               "reference": t.get("reference"), "gmac": gmac * (2 if backward else 1)}
        print(f"{family} {R}px batch {B} {name}: " + ", ".join(f"{k} {v:.3f} s" for k, v in t.items())
              + f" ({args.clock}); ours/limit {t['ours'] / t['limit']:.2f}"
              + (f", reference/ours {t['reference'] / t['ours']:.2f}" if "reference" in t else ""), flush=True)
        rows.append(row)
    return rows


def print_table(rows, clock):
    print(f"\n| family | px | batch | pass | ours s | limit s | reference s | ours/limit | ref/ours | limit GMAC/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = r["reference"]
        print(f"| {r['family']} | {r['res']} | {r['batch']} | {r['pass']} | {r['ours']:.3f} | {r['limit']:.3f} | "
              + (f"{ref:.3f} | {r['ours'] / r['limit']:.2f} | {ref / r['ours']:.2f}" if ref is not None
                 else f"- | {r['ours'] / r['limit']:.2f} | -")
              + f" | {r['gmac'] / r['limit']:.1f} |")
    print(f"({clock} seconds, medians; limit = plain convolutions of our shapes, channels_last; fwd+bwd counts the "
          f"input gradient, as projection and training use it)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", choices=[*CASES, "stylegan3", "all"], default="all",
                   help="all: StyleGAN1 and 2, and StyleGAN3 when an NVlabs/stylegan3 --reference-dir is given "
                        "(see bench/synthesis_stylegan3.py)")
    p.add_argument("--resolution", type=int, nargs="+", default=[256])
    p.add_argument("--batch", type=int, nargs="+", default=[1])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="ours (autocast) and the limit; the reference stays fp32")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady on a shared CPU)")
    p.add_argument("--clock", choices=["cpu", "wall"], default=None,
                   help="which time the ratios use (default: CPU time on the CPU, wall time on a GPU)")
    p.add_argument("--no-backward", action="store_true", help="time the forward pass only")
    p.add_argument("--reference-dir", action="append", default=[], type=Path,
                   help="reference checkout (lernapparat/lernapparat or NVlabs/stylegan2-ada-pytorch); repeatable")
    synthesis_stylegan3.add_arguments(p)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.clock = args.clock or ("cpu" if device.type == "cpu" else "wall")
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
    if args.family == "stylegan3" and "stylegan3" not in refs:
        p.error("--family stylegan3 needs --reference-dir of an NVlabs/stylegan3 checkout")
    rows = []
    for family in (list(CASES) if args.family == "all" else [args.family] if args.family in CASES else []):
        for R in args.resolution:
            for B in args.batch:
                rows += run_case(family, R, B, args, device, refs)
    if rows:
        print_table(rows, args.clock)
    if args.family == "stylegan3" or (args.family == "all" and "stylegan3" in refs):
        for R in args.resolution:
            for B in args.batch:
                synthesis_stylegan3.run(argparse.Namespace(**{**vars(args), "resolution": R, "batch": B,
                                                              "reference_dir": refs["stylegan3"]}))


if __name__ == "__main__":
    main()
