"""`random`, `render`, `mix`, `join`, `directions` and `edit`: W+ latents from the shell.

Latent files are .safetensors (W+ codes, generator fingerprint, labels); every command reads what the others
write, and `blend --latent-out` and `project` (with a .safetensors name) write them too. A .npy of W+ codes
[N,num_ws,w_dim] is read as well, for the generator given with --model.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import FaceSpaceError
from ..fileio import atomic_path, check_writable
from ..imageops import image_to_pil
from ..runtime import PlainRuntime
from ..stylegan.loaders import recorded_model
from .blend import check_picture_target, write_pictures

LATENT_HELP = "latent file: .safetensors (from any FaceSpace command or node) or .npy of W+ [N,num_ws,w_dim]"


def load_stylegan(model_path):
    from ..stylegan import StyleGAN, load_generator

    return StyleGAN(load_generator(model_path), name=Path(model_path).stem)


def latent_and_generator(path, model=None, allow_mismatch: bool = False):
    """(latent, StyleGAN): the generator from --model, else the file the latent records."""
    from ..latent import load_latent

    path = Path(path)
    if model is None:
        if path.suffix.lower() == ".npy":
            raise FaceSpaceError(f"{path} is a .npy of W+ codes; pass --model with the generator they belong to")
        model = recorded_model(load_latent(path).generator_file, str(path),
                               "pass --model with the generator it belongs to")
    stylegan = load_stylegan(model)
    return load_latent(path, stylegan, allow_mismatch=allow_mismatch), stylegan


def latent_target(out, overwrite: bool) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".safetensors":
        raise FaceSpaceError(f"--out {out} must end in .safetensors (a latent file)")
    return check_writable(out, overwrite)


def _print_latent(latent, out) -> None:
    shown = ", ".join(latent.labels[:6]) + (", ..." if len(latent) > 6 else "")
    print(f"wrote {out}: {len(latent)} W+ code{'s' if len(latent) != 1 else ''} ({shown})")


def run_random(args) -> int:
    from ..latent import random_latent, save_latent

    out = latent_target(args.out, args.overwrite)
    stylegan = load_stylegan(args.model)
    latent = random_latent(stylegan, args.seed, args.count, psi=args.psi, cutoff=args.cutoff,
                           runtime=PlainRuntime(args.device))
    save_latent(latent, out, args.overwrite)
    _print_latent(latent, out)
    return 0


def run_render(args) -> int:
    out = Path(args.out)
    raw = out.suffix.lower() == ".npy"
    if raw:
        check_writable(out, args.overwrite)
    else:
        check_picture_target(out, args.overwrite)
    latent, stylegan = latent_and_generator(args.latent, args.model, args.allow_mismatch)
    rt = PlainRuntime(args.device)
    images = stylegan.render(latent.wplus, runtime=rt, batch_size=args.batch_size, desc="render", native=raw)
    if raw:
        with atomic_path(out, args.overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, images.numpy())
        written = [out]
    else:
        written = write_pictures(image_to_pil(images), out, args.overwrite, cols=args.cols or min(len(latent), 8))
    for path in written:
        print(f"wrote {path}")
    return 0


def run_mix(args) -> int:
    from ..latent import load_latent, mix_latents, parse_layer_mix, save_latent

    out = latent_target(args.out, args.overwrite)
    if len(args.latents) < 2:
        raise FaceSpaceError(f"mix needs at least two latents, got {len(args.latents)}")
    stylegan = load_stylegan(args.model) if args.model else None
    latents = [load_latent(p, stylegan) for p in args.latents]
    mixes = [parse_layer_mix(text, latents[0].num_ws, len(latents)) for text in args.layers or []]
    latent = mix_latents(latents, mixes, normalize=not args.raw)
    save_latent(latent, out, args.overwrite)
    _print_latent(latent, out)
    return 0


def run_join(args) -> int:
    from ..latent import concat, load_latent, save_latent

    out = latent_target(args.out, args.overwrite)
    stylegan = load_stylegan(args.model) if args.model else None
    latent = concat([load_latent(p, stylegan) for p in args.latents])
    save_latent(latent, out, args.overwrite)
    _print_latent(latent, out)
    return 0


def run_directions(args) -> int:
    from ..latent import compute_directions, parse_layers, save_directions

    out = Path(args.out)
    if out.suffix.lower() != ".npy":
        raise FaceSpaceError(f"--out {out} must end in .npy")
    check_writable(out, args.overwrite)
    stylegan = load_stylegan(args.model)
    layers = parse_layers(args.layers, stylegan.num_ws, "--layers")
    if args.method != "sefa" and len(layers) < stylegan.num_ws:
        raise FaceSpaceError("--layers picks the style weights SeFa factorises; GANSpace works on W itself")
    rows = compute_directions(stylegan.generator, args.method, args.count, runtime=PlainRuntime(args.device),
                              seed=args.seed, layers=layers)
    save_directions(rows, out, args.overwrite)
    print(f"wrote {out}: {rows.shape[0]} unit {args.method} directions [{rows.shape[0]},{rows.shape[1]}], "
          f"strongest first")
    return 0


def run_edit(args) -> int:
    from ..latent import load_latent, parse_layers, pick_direction, read_directions, save_latent, sweep_latent, \
        sweep_strengths

    out = latent_target(args.out, args.overwrite)
    stylegan = load_stylegan(args.model) if args.model else None
    latent = load_latent(args.latent, stylegan)
    directions = read_directions(args.directions, latent.num_ws, latent.w_dim, per_layer=args.per_layer)
    direction = pick_direction(directions, args.component)
    edited = sweep_latent(latent, direction, sweep_strengths(args.strength, args.sweep),
                          parse_layers(args.layers, latent.num_ws, "--layers"),
                          name=f"{Path(args.directions).stem}{args.component}")
    save_latent(edited, out, args.overwrite)
    _print_latent(edited, out)
    return 0


def register(subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--overwrite", action="store_true", help="replace existing output files")

    p = subparsers.add_parser("random", parents=[common], help="W+ latents of seeds (the faces `sample` draws)",
                              description="Write the truncated W+ codes of seeds seed, seed+1, ... to a latent file.")
    p.add_argument("model", metavar="MODEL", help="generator file")
    p.add_argument("--out", required=True, help="OUT.safetensors")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--count", type=int, default=1, help="number of seeds (default 1)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi (1 = none; default 0.7)")
    p.add_argument("--cutoff", type=int, default=None, help="truncate only W+ layers below this index")
    p.set_defaults(run=run_random)

    p = subparsers.add_parser("render", parents=[common], help="render a latent file",
                              description="Render the W+ codes of a latent file as pictures or raw output.")
    p.add_argument("latent", metavar="LATENT", help=LATENT_HELP)
    p.add_argument("--model", help="generator file (default: the one the latent records)")
    p.add_argument("--out", required=True, help="OUT.png (one picture; several codes in a grid), a folder "
                                                "(numbered PNGs) or OUT.npy (raw output [N,3,H,W] float32, as "
                                                "`sample` writes it)")
    p.add_argument("--cols", type=int, default=0, help="grid columns for several codes (default: up to 8 per row)")
    p.add_argument("--batch-size", type=int, default=8, help="images rendered at once (default 8)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="render on a generator other than the one the codes were made for")
    p.set_defaults(run=run_render)

    p = subparsers.add_parser(
        "mix", parents=[common], help="mix latents layer by layer (style mixing)",
        description="Mix latent files per W+ layer range. Each --layers A-B:w1,w2,... gives an inclusive range "
                    "(or coarse / middle / fine) and one weight per input latent, divided by their sum; layers no "
                    "--layers covers keep the first latent. A batch of N mixes with a batch of N or of 1.")
    p.add_argument("latents", metavar="LATENT", nargs="+", help=LATENT_HELP)
    p.add_argument("--out", required=True, help="OUT.safetensors")
    p.add_argument("--layers", action="append", metavar="A-B:w1,w2,...", help="a layer range and its weights")
    p.add_argument("--model", help="generator file (needed for .npy inputs; checks the others)")
    p.add_argument("--raw", action="store_true", help="use the weights as given instead of dividing by their sum")
    p.set_defaults(run=run_mix)

    p = subparsers.add_parser("join", parents=[common], help="put latent files of one generator into one batch",
                              description="Write the codes of every LATENT, in order, to one latent file "
                                          "(e.g. keyframes for `morph`).")
    p.add_argument("latents", metavar="LATENT", nargs="+", help=LATENT_HELP)
    p.add_argument("--out", required=True, help="OUT.safetensors")
    p.add_argument("--model", help="generator file (needed for .npy inputs; checks the others)")
    p.set_defaults(run=run_join)

    p = subparsers.add_parser(
        "directions", parents=[common], help="editing directions of a generator (SeFa or GANSpace)",
        description="Write [K,w_dim] unit directions in W, strongest first: sefa (eigenvectors of AᵀA over the "
                    "style affine weights) or ganspace (principal components of sampled W).")
    p.add_argument("model", metavar="MODEL", help="generator file")
    p.add_argument("--method", required=True, choices=("sefa", "ganspace"))
    p.add_argument("--out", required=True, help="DIRS.npy")
    p.add_argument("--count", type=int, default=None, help="how many directions (default: w_dim)")
    p.add_argument("--seed", type=int, default=0, help="seed of GANSpace's samples (default 0)")
    p.add_argument("--layers", default="all", help="sefa: factorise only the style weights of these W+ layers "
                                                   "(A-B inclusive, or coarse / middle / fine; default all)")
    p.set_defaults(run=run_directions)

    p = subparsers.add_parser(
        "edit", parents=[common], help="move latents along a direction",
        description="Add strength x row K of a directions file to the chosen W+ layers (all by default); "
                    "--sweep N writes N strengths from -|S| to +|S| per code instead (a filmstrip).")
    p.add_argument("latent", metavar="LATENT", help=LATENT_HELP)
    p.add_argument("--directions", required=True, help="DIRS.npy: [K,w_dim] rows (from `directions`), one [w_dim] "
                                                       "direction, or [K,num_ws,w_dim]")
    p.add_argument("--component", type=int, default=0, help="row K of the directions (default 0, the strongest)")
    p.add_argument("--strength", type=float, required=True, help="how far to move along the row")
    p.add_argument("--layers", default="all", help="W+ layers A-B (inclusive), coarse / middle / fine (default all)")
    p.add_argument("--sweep", type=int, default=1, help="strengths per code, -|S|..+|S| (default 1: just S)")
    p.add_argument("--per-layer", action="store_true", help="read a 2-D directions file as one [num_ws,w_dim] direction")
    p.add_argument("--model", help="generator file (needed for a .npy latent; checks a .safetensors one)")
    p.add_argument("--out", required=True, help="OUT.safetensors")
    p.set_defaults(run=run_edit)
