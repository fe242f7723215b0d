"""`python -m facespace project`: find a W+ code for each image, written as one .npy for `sample --latent`."""
from __future__ import annotations

from pathlib import Path

from ..errors import FaceSpaceError
from ..fileio import atomic_path, check_writable
from ..runtime import PlainRuntime


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "project", help="find the W+ code of each image (a .npy that `sample --latent` renders)",
        description="Project images into the generator's W+ space: one code per image, written as a float32 "
                    ".npy of shape [N, num_ws, w_dim]. Square images of another size are resized; faces should be "
                    "aligned first (`align`). Prints each image's PSNR at the generator's resolution.")
    p.add_argument("model", help="generator file (any supported StyleGAN format)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="square images (aligned faces)")
    p.add_argument("--out", required=True, metavar="LATENTS.npy", help="where to write the W+ codes (a name ending "
                                                                      "in .safetensors writes a latent file, with "
                                                                      "the generator's fingerprint and a label per image)")
    p.add_argument("--steps", type=int, help="most steps (default 300)")
    p.add_argument("--target-psnr", type=float, help="a face stops once it reaches this PSNR in dB (default 45; "
                                                     "0 = use every step)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds (default: no time limit)")
    p.add_argument("--resolution", type=int, help="compute the loss at most at this resolution (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(run=run)


def read_targets(files: list[Path], resolution: int):
    """The images as [N,3,R,R] 0..1 at the generator's resolution; non-square images are refused."""
    from PIL import Image

    from ..align.photos import load_photo
    from ..imageops import pil_to_image

    pics = []
    for f in files:
        pic = load_photo(f)
        if pic.width != pic.height:
            raise FaceSpaceError(f"{f} is {pic.width}x{pic.height} pixels; projection needs square images "
                                 f"(aligned faces: run `python -m facespace align` first)")
        if pic.size != (resolution, resolution):
            pic = pic.resize((resolution, resolution), Image.LANCZOS)
        pics.append(pic)
    return pil_to_image(pics).permute(0, 3, 1, 2).contiguous()


def run(args) -> int:
    import numpy as np

    from ..projection import ProjectionSettings, project
    from ..stylegan import StyleGAN, load_generator

    out = Path(args.out)
    if out.suffix.lower() not in (".npy", ".safetensors"):
        raise FaceSpaceError(f"--out {out} must end in .npy (W+ codes for `sample --latent`) or .safetensors "
                             f"(a latent file)")
    check_writable(out, args.overwrite)
    files = [Path(f) for f in args.images]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"image file(s) not found: {', '.join(missing)}")
    overrides = {k: v for k, v in {"steps": args.steps, "target_psnr": args.target_psnr, "seconds": args.seconds,
                                   "resolution": args.resolution, "seed": args.seed}.items() if v is not None}
    settings = ProjectionSettings(**overrides)
    G = load_generator(args.model)
    targets = read_targets(files, G.resolution)
    result = project(StyleGAN(G, name=Path(args.model).name), targets, settings, PlainRuntime(args.device))
    if out.suffix.lower() == ".safetensors":
        from ..latent import Latent, save_latent
        from ..names import clean_name, unique_names

        labels = unique_names(clean_name(f.stem) for f in files)
        save_latent(Latent(result.wplus, G.fingerprint(), tuple(labels), generator_file=G.source_path), out,
                    args.overwrite)
    else:
        with atomic_path(out, args.overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, result.wplus.numpy().astype(np.float32))
    names = [f.name for f in files]
    width = max(len(n) for n in names)
    for name, value in zip(names, result.psnr.tolist()):
        mark = "  below target" if 0 < settings.target_psnr and value < settings.target_psnr else ""
        print(f"{name:{width}s}  {value:5.1f} dB{mark}")
    print(f"wrote {out} ({len(files)} x {G.num_ws} x {G.w_dim} W+); {result.summary(names)}")
    return 0
