"""`info`, `convert` and `sample`: inspect, convert and try out a StyleGAN generator file.

`sample --latent FILE.npy` takes z [N,z_dim], W [N,w_dim] or W+ [N,num_ws,w_dim], told apart by shape.
A 2-D array whose width is both z_dim and w_dim (512 for NVIDIA's models) is read as z unless
`--latent-space w` is given. Truncation (--psi, --cutoff) applies to z only; W and W+ are rendered as given.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..errors import FaceSpaceError
from ..fileio import PICTURE_SUFFIXES, atomic_path, check_writable, save_picture
from ..npy_file import read_npy
from ..imageops import native_to_pil
from ..runtime import PlainRuntime
from ..stylegan import load_generator, save_generator, z_from_seeds
from ..stylegan.generator import NOISE_MODES
from ..stylegan.handle import check_finite_latents, check_finite_output
from ..stylegan.stylegan3 import config_name, input_transform, layer_plan


def generator_info(G) -> dict:
    info = {"file": G.provenance.get("file", ""), "format": G.provenance.get("format", ""), "family": G.family}
    if G.family == "stylegan3":
        info["config"] = config_name(G.arch)
    info.update({
        "resolution": G.resolution,
        "num_ws": G.num_ws,
        "w_dim": G.w_dim,
        "z_dim": G.z_dim,
        "img_channels": G.img_channels,
        "mapping_layers": G.arch["mapping_layers"],
        # StyleGAN3: channels of each synthesis layer, by layer name; else by resolution, 4 first
        "channels": ({s["name"]: s["out_channels"] for s in layer_plan(G.arch)[1]} if G.family == "stylegan3"
                     else dict(sorted((int(k), v) for k, v in G.arch["channels"].items()))),
        "parameters": G.num_params(),
        "fingerprint": G.fingerprint(),
    })
    return info


def facespace_info(path) -> dict | None:
    """What a FaceSpace file holds (from its header), or None when the file is not a FaceSpace."""
    from ..errors import ModelFormatError
    from ..train import read_facespace_info

    from ..safetensors_file import read_header
    from ..space.file import FORMAT

    try:
        if read_header(path, "FaceSpace file").metadata.get("format") != FORMAT:
            return None  # another kind of file (a generator, a latent, ...): the caller says what it is
    except ModelFormatError:
        return None
    info = read_facespace_info(path)
    return {
        "file": str(path),
        "format": "facespace",
        "faces": list(info["names"]),
        "encoder": info["encoder_kind"],
        "generator_fingerprint": info["generator_fingerprint"],
        "generator_file": info.get("generator_file", ""),
        "resolution": info["resolution"],
        "num_ws": info["num_ws"],
        "w_dim": info["w_dim"],
        "psnr": info.get("psnr", {}),
    }


def run_info(args) -> int:
    info = facespace_info(args.model) if Path(args.model).is_file() else None
    print(json.dumps(info or generator_info(load_generator(args.model)), indent=2))
    return 0


def run_convert(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise FaceSpaceError(f"output {out} must end in .safetensors (the pack's own generator format)")
    check_writable(out, args.overwrite)
    G = load_generator(args.model)
    save_generator(G, out, overwrite=args.overwrite)
    print(f"wrote {out} ({G.family}, {G.resolution} px, {G.provenance.get('format')} -> safetensors, "
          f"fingerprint {G.fingerprint()})")
    return 0


def read_latents(path: Path, G, space: str) -> tuple[str, torch.Tensor]:
    """Load a .npy of latents -> ('z', [N,z_dim]) | ('w', [N,w_dim]) | ('wplus', [N,num_ws,w_dim]);
    a latent file (.safetensors) gives its W+ codes (refused when made for another generator)."""
    if path.suffix.lower() == ".safetensors":
        from ..latent import load_latent

        return "wplus", load_latent(path, G).wplus
    arr = read_npy(path, "latents")
    if arr.ndim == 1:
        arr = arr[None]
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise FaceSpaceError(f"latents in {path} must be finite floats, got dtype {arr.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    expected = (f"z [N,{G.z_dim}], W [N,{G.w_dim}] or W+ [N,{G.num_ws},{G.w_dim}]")
    if t.ndim == 3:
        if t.shape[1:] != (G.num_ws, G.w_dim) or space == "z":
            raise FaceSpaceError(f"latents in {path} have shape {tuple(arr.shape)}; expected {expected}")
        return "wplus", t
    if t.ndim != 2:
        raise FaceSpaceError(f"latents in {path} have shape {tuple(arr.shape)}; expected {expected}")
    d = t.shape[1]
    if space == "w" and d == G.w_dim:
        return "w", t
    if space == "z" and d == G.z_dim:
        return "z", t
    if space == "auto":
        if d == G.z_dim:  # also when z_dim == w_dim: z unless told otherwise
            return "z", t
        if d == G.w_dim:
            return "w", t
    raise FaceSpaceError(f"latents in {path} have shape {tuple(arr.shape)}; expected {expected}"
                         + (f" (read as {space})" if space != "auto" else ""))


def run_sample(args) -> int:
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix != ".npy" and suffix not in PICTURE_SUFFIXES:
        raise FaceSpaceError(f"--out {out} must end in .npy (raw generator output) or "
                             f"{', '.join(PICTURE_SUFFIXES)} (images)")
    if args.batch < 1:
        raise FaceSpaceError(f"--batch must be at least 1, got {args.batch}")
    rt = PlainRuntime(args.device)
    G = load_generator(args.model)
    if args.latent:
        kind, lat = read_latents(Path(args.latent), G, args.latent_space)
    else:
        if args.count < 1:
            raise FaceSpaceError(f"--count must be at least 1, got {args.count}")
        kind, lat = "z", z_from_seeds(range(args.seed, args.seed + args.count), G.z_dim)
    n = lat.shape[0]
    if n == 1 or suffix == ".npy":
        names = [out]
    else:
        names = [out.with_name(f"{out.stem}_{i:03d}{out.suffix}") for i in range(n)]
    for p in names:
        check_writable(p, args.overwrite)
    transform = None
    if args.translate != (0.0, 0.0) or args.rotate:
        if G.family != "stylegan3":
            raise FaceSpaceError(f"--translate / --rotate move StyleGAN3 images only; {Path(args.model).name} is a "
                                 f"{G.family} generator")
        transform = input_transform(args.translate, args.rotate)
    module = rt.load(G)
    device = rt.device()
    chunks = []
    progress = rt.progress(n, "sample")
    try:
        with torch.no_grad():
            for start in range(0, n, args.batch):
                rt.check_cancel()
                x = lat[start:start + args.batch].to(device)
                if kind == "z":
                    ws = module.mapping(x, psi=args.psi, cutoff=args.cutoff)
                elif kind == "w":
                    ws = x.unsqueeze(1).repeat(1, G.num_ws, 1)
                else:
                    ws = x
                check_finite_latents(ws)
                raw = module.synthesis(ws, noise_mode=args.noise, transform=transform)
                check_finite_output(raw, Path(args.model).name, start)
                chunks.append(raw.float().cpu())
                progress.update(x.shape[0])
    finally:
        progress.close()
    images = torch.cat(chunks)
    if suffix == ".npy":
        with atomic_path(out, args.overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, images.numpy().astype(np.float32))
    else:
        for p, pic in zip(names, native_to_pil(images)):
            save_picture(pic, p, args.overwrite)
    print(f"wrote {names[0] if len(names) == 1 else f'{names[0]} .. {names[-1].name}'} "
          f"({n} image{'s' if n != 1 else ''}, {G.resolution} px, from {kind})")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="print a generator file's family, sizes, format and fingerprint as JSON "
                                           "(or a FaceSpace file's faces, encoder and generator)",
                              description="Read a generator or FaceSpace file (detected by content) and print one "
                                          "JSON object.")
    p.add_argument("model", help="generator file (NVIDIA .pkl, rosinality .pt, the pack's .safetensors) or a "
                                 "trained FaceSpace .safetensors")
    p.set_defaults(run=run_info)

    p = subparsers.add_parser("convert", help="convert a generator file to the pack's .safetensors",
                              description="Convert any supported generator file to a FaceSpace .safetensors "
                                          "(weights + architecture + provenance; no pickle, loads fast and safely).")
    p.add_argument("model", help="generator file to convert")
    p.add_argument("out", help="output .safetensors file")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(run=run_convert)

    p = subparsers.add_parser(
        "sample", help="render faces from seeds or from latents in a .npy file",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="generator file")
    p.add_argument("--out", required=True,
                   help="OUT.npy: raw output [N,3,H,W] float32 (about -1..1); OUT.png (or .jpg, .webp): "
                        "images (OUT_000.png, OUT_001.png, ... when N > 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (z drawn as NVIDIA's scripts do); default 0")
    p.add_argument("--count", type=int, default=1, help="number of seeds: seed, seed+1, ...; default 1")
    p.add_argument("--latent", help="a .npy of z [N,z_dim], W [N,w_dim] or W+ [N,num_ws,w_dim], or a latent file "
                                    "(.safetensors), instead of seeds")
    p.add_argument("--latent-space", choices=["auto", "z", "w"], default="auto",
                   help="how to read a 2-D --latent whose width fits both z and W (auto reads it as z)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi for z (1 = none); default 1")
    p.add_argument("--cutoff", type=int, default=None, help="truncate only W+ layers below this index")
    p.add_argument("--noise", choices=NOISE_MODES, default="const", help="noise mode; default const")
    p.add_argument("--batch", type=int, default=8, help="images per forward pass; default 8")
    p.add_argument("--translate", type=_pair, default=(0.0, 0.0), metavar="X,Y",
                   help="StyleGAN3: pan the image by X,Y image widths/heights (right, down); default 0,0")
    p.add_argument("--rotate", type=float, default=0.0, help="StyleGAN3: turn the image by this many degrees "
                   "counter-clockwise; default 0")
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    p.set_defaults(run=run_sample)


def _pair(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers X,Y such as 0.1,-0.05, got {text!r}") from None
    return x, y
