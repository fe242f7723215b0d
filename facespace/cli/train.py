"""`python -m facespace train`: learn a FaceSpace from a folder of aligned faces."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

from ..errors import FaceSpaceError
from ..fileio import check_writable
from ..runtime import PlainRuntime


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="learn a FaceSpace (encoder + per-face W+) from aligned faces",
        description="Train an encoder that maps one code per face onto the generator's W+ so that it reproduces "
                    "each face; face names come from the image file names (sorted).")
    p.add_argument("--model", required=True, help="generator file (any supported StyleGAN format)")
    p.add_argument("--faces", required=True, metavar="DIR", help="folder of aligned face images")
    p.add_argument("--out", required=True, metavar="FILE.safetensors", help="FaceSpace file to write")
    p.add_argument("--encoder", choices=("linear", "mlp"), default=None,
                   help="linear (exact convex blends; the fast default) or mlp (the original's network)")
    p.add_argument("--schedule", choices=("fast", "original"), default="fast",
                   help="fast (default): whole-batch W+ optimisation then distillation; original: the original "
                        "research schedule")
    p.add_argument("--steps", type=int, help="steps per cycle (epochs per cycle for --schedule original)")
    p.add_argument("--cycles", type=int, help="learning-rate cycles")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--anneal", type=float, help="learning-rate factor from one cycle to the next")
    p.add_argument("--structural", type=float, help="weight of 1 - MS-SSIM")
    p.add_argument("--perceptual", type=float, help="weight of the VGG16 loss (needs VGG16 weights in models/vgg)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resolution", type=int,
                   help="train at this resolution, a power of two up to the generator's (default: 256 for fast, "
                        "full for original)")
    p.add_argument("--target-psnr", type=float, help="a face stops once it reaches this PSNR in dB (fast default 45; "
                                                     "0 = use every step)")
    p.add_argument("--seconds", type=float, help="fast: stop after this many seconds (default: steps only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(run=run)


def face_files(folder) -> list:
    """The aligned faces in --faces: pictures sorted by name as `align` lists photos, hidden files skipped."""
    from ..align.photos import list_photos

    try:
        return list_photos(folder)
    except FaceSpaceError as exc:
        raise FaceSpaceError(f"--faces: {exc}") from None


def check_resolution(resolution: int | None, G) -> None:
    """--resolution must be one the generator renders at: a power of two from 4 up to its own."""
    if resolution is None:
        return
    offered = [4 << i for i in range(G.resolution.bit_length()) if 4 << i <= G.resolution]
    if resolution not in offered:
        raise FaceSpaceError(f"--resolution {resolution} is not a resolution of the generator; it renders at "
                             f"{', '.join(map(str, offered))} (powers of two up to its {G.resolution} px)")


def run(args) -> int:
    from PIL import Image

    from ..align.photos import load_photo
    from ..imageops import pil_to_image
    from ..projection.report import psnr_line
    from ..stylegan import StyleGAN, load_generator
    from ..train import TrainSettings, save_facespace, train_facespace

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise FaceSpaceError(f"--out {out} must end in .safetensors (a FaceSpace file)")
    check_writable(out, args.overwrite)
    files = face_files(args.faces)
    if len(files) < 2:
        raise FaceSpaceError(f"--faces {args.faces} holds one face; a FaceSpace needs at least two faces "
                             f"(blends and morphs mix faces), and 6-10 work best")
    overrides = {k: v for k, v in {
        "encoder": args.encoder, "steps": args.steps, "cycles": args.cycles, "lr": args.lr, "anneal": args.anneal,
        "structural_weight": args.structural, "perceptual_weight": args.perceptual, "seed": args.seed,
        "resolution": args.resolution, "target_psnr": args.target_psnr,
        "seconds": args.seconds}.items() if v is not None}
    settings = TrainSettings.preset(args.schedule, **overrides)
    G = load_generator(args.model)
    check_resolution(args.resolution, G)
    pics = []
    for f in files:
        pic = load_photo(f)  # checked for size before decoding, one at a time
        if pic.width != pic.height:
            raise FaceSpaceError(f"{f} is {pic.width}x{pic.height} pixels; aligned faces are square "
                                 f"(run `facespace align` first)")
        if pic.size != (G.resolution, G.resolution):
            pic = pic.resize((G.resolution, G.resolution), Image.LANCZOS)
        pics.append(pic)
    names = [f.stem for f in files]  # cleaned and made unique by training, as alignment does
    rt = PlainRuntime(args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fs = train_facespace(StyleGAN(G, name=Path(args.model).name), pil_to_image(pics), names, settings, rt)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    save_facespace(fs, out, overwrite=args.overwrite)
    psnr = fs.metadata["psnr"]
    print(f"wrote {out} ({len(fs.names)} faces, {settings.encoder} encoder, {fs.metadata['steps_run']} steps, "
          f"{fs.metadata['seconds']:.1f} s)")
    identity = fs.metadata.get("identity")
    print("identity distance to each face (dlib, below 0.6 = same person): "
          + ", ".join(f"{n} {d:.3f}" for n, d in identity.items()) if identity else fs.metadata["identity_note"])
    print(psnr_line(list(psnr), list(psnr.values()), fs.metadata["psnr_resolution"], settings.target_psnr))
    return 0
