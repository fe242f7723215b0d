"""StyleGAN3 synthesis speed: ours vs NVlabs/stylegan3 on its pure-PyTorch reference ops, in one run.

    python bench/synthesis_stylegan3.py --reference-dir DIR [--config t r] [--resolution 256] [--batch 1]
        [--channel-base 32768 --channel-max 512] [--translate 0.1,0 --rotate 10] [--threads 1]

DIR is a checkout of NVlabs/stylegan3. Its Generator gets random weights (biases, input affine, magnitude
EMAs and w_avg too), is pickled by its own persistence code, and our engine loads that pickle through the
restricted reader; both then render the same W+ (interleaved timing, median of --repeats, process CPU
time and wall time). Printed: max abs difference of the images (with the transform, if given), forward
and forward+backward times with the ratio reference/ours, and the filtered activation of the largest
layer alone (NVIDIA's `_filtered_lrelu_ref` vs ours). `python bench/synthesis.py --family stylegan3` runs
the same.
"""
from __future__ import annotations

import argparse
import importlib
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
from facespace.stylegan import load_generator  # noqa: E402
from facespace.stylegan.stylegan3 import filtered_lrelu, input_transform  # noqa: E402


def import_reference(ref_dir: Path):
    """training.networks_stylegan3 and its filtered_lrelu op from a checkout (CPU: their reference paths)."""
    sys.path.insert(0, str(ref_dir))
    for name in ("requests", "click"):  # imported by its dnnlib utilities, unused here
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.command = stub.option = lambda *a, **k: (lambda f: f)
            sys.modules[name] = stub
    try:
        import pkg_resources  # noqa: F401  (conv2d_gradfix imports parse_version from it)
    except ImportError:
        stub = types.ModuleType("pkg_resources")
        stub.parse_version = lambda v: tuple(int(p) for p in v.split("+")[0].split(".")[:2])
        sys.modules["pkg_resources"] = stub
    return (importlib.import_module("training.networks_stylegan3"),
            importlib.import_module("torch_utils.ops.filtered_lrelu"))


def nvidia_transform(translate, rotate) -> np.ndarray:
    """What NVIDIA's gen_images.py puts in synthesis.input.transform for --translate / --rotate."""
    a = np.radians(rotate)
    m = np.array([[np.cos(a), np.sin(a), translate[0]], [-np.sin(a), np.cos(a), translate[1]], [0, 0, 1]])
    return np.linalg.inv(m)


def reference_pair(networks, config: str, resolution: int, channel_base: int, channel_max: int, seed: int = 0):
    """NVIDIA's Generator with random weights (train.py's settings for the config), and ours read from its pickle."""
    torch.manual_seed(seed)
    kw = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
              mapping_kwargs={"num_layers": 2}, channel_base=channel_base, channel_max=channel_max,
              magnitude_ema_beta=0.999)
    if config == "r":
        kw.update(conv_kernel=1, use_radial_filters=True, channel_base=channel_base * 2, channel_max=channel_max * 2)
    ref = networks.Generator(**kw).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.endswith("bias") and "input.affine" not in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
        affine = ref.synthesis.input.affine.weight
        affine.copy_(torch.randn(affine.shape, generator=g) * 0.5)
        for name, b in ref.named_buffers():
            if name.endswith("magnitude_ema"):
                b.copy_(torch.rand([], generator=g) * 1.5 + 0.5)
        ref.mapping.w_avg.copy_(torch.randn(ref.w_dim, generator=g) * 0.3)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "stylegan3.pkl"
        path.write_bytes(pickle.dumps({"G_ema": ref}))
        ours = load_generator(path)
    return ref, ours


def time_call(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def bench(fns: dict, repeats: int) -> dict:
    """Interleaved timing after one warm-up each; median (wall, CPU) per name."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(time_call(fn))
    return {k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for k, v in times.items()}


def report(label: str, res: dict) -> None:
    (rw, rc), (ow, oc) = res["reference"], res["ours"]
    print(f"{label}: reference {rw:.3f} s wall, {rc:.3f} s CPU; ours {ow:.3f} s wall, {oc:.3f} s CPU; "
          f"ratio reference/ours {rw / ow:.2f}x wall, {rc / oc:.2f}x CPU", flush=True)


def forward_backward(synth, ws):
    ws = ws.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        synth(ws).square().mean().backward()
    return ws.grad


def run_config(config: str, args, networks, fl_module) -> None:
    R, B = args.resolution, args.batch
    ref, ours = reference_pair(networks, config, R, args.channel_base, args.channel_max)
    z = torch.randn(B, 512, generator=torch.Generator().manual_seed(1))
    moved = args.translate != (0.0, 0.0) or args.rotate
    transform = input_transform(args.translate, args.rotate) if moved else None
    ref.synthesis.input.transform.copy_(torch.from_numpy(nvidia_transform(args.translate, args.rotate)).float())
    with torch.no_grad():
        ws = ref.mapping(z, None, truncation_psi=0.7)
        ref_img = ref.synthesis(ws)
        our_img = ours.synthesis(ws, transform=transform)
    tag = (f"stylegan3-{config} {R}px batch {B} cpu fp32 threads {torch.get_num_threads()} "
           f"({ours.num_params():,} params)")
    print(f"{tag}: max abs diff reference vs ours = {(ref_img - our_img).abs().max().item():.2e} "
          f"(image values up to {ref_img.abs().max().item():.2f}; transform {args.translate}, {args.rotate} deg)",
          flush=True)

    def ref_fwd():
        with torch.no_grad():
            return ref.synthesis(ws)

    def our_fwd():
        with torch.no_grad():
            return ours.synthesis(ws, transform=transform)

    report(f"{tag} forward", bench({"reference": ref_fwd, "ours": our_fwd}, args.repeats))
    if not args.no_backward:
        report(f"{tag} forward+backward", bench({
            "reference": lambda: forward_backward(ref.synthesis, ws),
            "ours": lambda: forward_backward(lambda w: ours.synthesis(w, transform=transform), ws)}, args.repeats))
    # the filtered activation alone, on the layer with the largest upsampled tensor
    name = max(ref.synthesis.layer_names[:-1], key=lambda n: (lambda m: m.out_channels * (
        int(m.in_size[0]) * m.up_factor) ** 2)(getattr(ref.synthesis, n)))
    layer = getattr(ref.synthesis, name)
    x = torch.randn(B, layer.out_channels, int(layer.in_size[0]) + layer.conv_kernel - 1,
                    int(layer.in_size[0]) + layer.conv_kernel - 1, generator=torch.Generator().manual_seed(2))
    b = torch.randn(layer.out_channels, generator=torch.Generator().manual_seed(3))
    pad = (layer.padding[0], layer.padding[1])
    kw = dict(up=layer.up_factor, down=layer.down_factor, gain=float(np.sqrt(2)), slope=0.2, clamp=256)
    op_ref = lambda: fl_module._filtered_lrelu_ref(x, fu=layer.up_filter, fd=layer.down_filter, b=b,  # noqa: E731
                                                   padding=layer.padding, **kw)
    op_ours = lambda: filtered_lrelu(x + b.reshape(1, -1, 1, 1), layer.up_filter, layer.down_filter,  # noqa: E731
                                     padding=pad, **kw)
    with torch.no_grad():
        diff = (op_ref() - op_ours()).abs().max().item()
        res = bench({"reference": op_ref, "ours": op_ours}, args.repeats)
    report(f"  filtered leaky ReLU alone, layer {name} input {tuple(x.shape)} up {layer.up_factor} "
           f"(max abs diff {diff:.1e})", res)


def run(args) -> None:
    networks, fl_module = import_reference(args.reference_dir)
    for config in args.config:
        run_config(config, args, networks, fl_module)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", nargs="+", choices=["t", "r"], default=["t", "r"])
    p.add_argument("--channel-base", type=int, default=32768,
                   help="T's channel_base (R doubles it, as train.py does); default 32768 as released")
    p.add_argument("--channel-max", type=int, default=512, help="T's channel_max (R doubles it); default 512")
    p.add_argument("--translate", type=lambda s: tuple(float(v) for v in s.split(",")), default=(0.0, 0.0),
                   metavar="X,Y", help="input transform: pan by X,Y image widths")
    p.add_argument("--rotate", type=float, default=0.0, help="input transform: degrees")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference-dir", type=Path, required=True, help="NVlabs/stylegan3 checkout")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-backward", action="store_true", help="time the forward pass only")
    add_arguments(p)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args)


if __name__ == "__main__":
    main()
