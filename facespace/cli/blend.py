"""`python -m facespace blend` and `python -m facespace morph`: new faces and morphs from a trained FaceSpace."""
from __future__ import annotations

from pathlib import Path

from ..errors import FaceSpaceError
from ..fileio import PICTURE_SUFFIXES, check_writable, save_numbered_pictures, save_picture
from ..limits import short
from ..stylegan.loaders import recorded_model
from ..imageops import grid, image_to_pil
from ..morph import EASINGS, SPACES
from ..runtime import PlainRuntime


def register(subparsers) -> None:
    b = subparsers.add_parser(
        "blend", help="blend the training faces of a FaceSpace into new faces",
        description="Render blends of the training faces. Weights by name ('anna=0.6, bea=0.4', faces not named get "
                    "0) or by position ('0.6, 0.4, 0, ...', one per face), or --random N blends from --seed.")
    _common(b)
    b.add_argument("--weights", default="", help="blend weights (default: every face equally)")
    b.add_argument("--out", required=True,
                   help="FILE.png (one blend, or a grid of several) or a folder (one numbered PNG per blend)")
    b.add_argument("--chart", metavar="FILE.png", help="also write the blends with their weight bar charts above them")
    b.add_argument("--latent-out", metavar="FILE.safetensors",
                   help="also write the blends' W+ codes as a latent file (with the weights that made them)")
    b.add_argument("--random", type=int, metavar="N", help="make N random blends instead (|N(0,1)| per face)")
    b.add_argument("--seed", type=int, default=0, help="seed of --random and of 'random' layer groups (default 0)")
    b.add_argument("--raw", action="store_true", help="use the weights as given instead of dividing by their sum")
    for group, what in (("coarse", "pose, face shape"), ("middle", "features, hair"), ("fine", "colours, skin")):
        b.add_argument(f"--{group}", default="", metavar="WEIGHTS",
                       help=f"weights for the {group} W+ layers ({what}); 'random' = random per blend")
    b.set_defaults(run=run_blend)

    m = subparsers.add_parser(
        "morph", help="morph through the training faces of a FaceSpace",
        description="Render a morph from face to face as a GIF, an MP4 (needs imageio-ffmpeg or ffmpeg on PATH) "
                    "or a folder of numbered PNG frames. Given a latent file instead of a FaceSpace, the morph "
                    "walks through its codes (--order names their labels).")
    _common(m)
    m.add_argument("--out", required=True, help="FILE.gif, FILE.mp4 or a folder for numbered PNGs")
    m.add_argument("--frames", type=int, default=12, help="steps from one face to the next (default 12)")
    m.add_argument("--hold", type=int, default=0, help="extra frames on each face (default 0)")
    m.add_argument("--order", default="", help="faces to visit, comma separated (default: all, training order)")
    m.add_argument("--easing", default="linear", choices=tuple(EASINGS),
                   help="pace within each transition (default linear)")
    m.add_argument("--space", default="wplus", choices=SPACES,
                   help="interpolate the W+ codes (default) or the face codes through the encoder")
    m.add_argument("--loop", action="store_true", help="walk back to the first face for a seamless loop")
    m.add_argument("--fps", type=float, default=25, help="frames per second of the GIF / MP4 (default 25)")
    m.set_defaults(run=run_morph)


def _common(p) -> None:
    p.add_argument("facespace", metavar="FACESPACE", help="trained FaceSpace file (.safetensors); for morph also a "
                                                          "latent file")
    p.add_argument("--model", help="the StyleGAN generator file the FaceSpace was trained with "
                                   "(default: the file it was trained from, as recorded in the FaceSpace)")
    p.add_argument("--batch-size", type=int, default=8, help="images rendered at once (default 8)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def load_for_rendering(facespace_path, model_path=None):
    """A FaceSpace file bound to its generator (refused when it was trained for another one)."""
    from ..stylegan import StyleGAN, load_generator
    from ..space import load_facespace

    model_path = model_path or recorded_generator(facespace_path)
    generator = load_generator(model_path)
    return load_facespace(facespace_path, stylegan=StyleGAN(generator, name=Path(model_path).stem))


def recorded_generator(facespace_path) -> str:
    """The generator file a FaceSpace was trained from, as its metadata records it (it must still be there)."""
    from ..space import read_facespace_info

    info = read_facespace_info(facespace_path)
    return recorded_model(info.get("generator_file"), str(facespace_path),
                          "pass --model with the generator it was trained with "
                          f"(fingerprint {short(info.get('generator_fingerprint'))})")


def check_picture_target(out, overwrite: bool = False, folder_ok: bool = True) -> None:
    """Refuse an output before rendering: a picture file in the way, or a name that is neither picture nor folder."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in PICTURE_SUFFIXES:
        check_writable(out, overwrite)
    elif suffix or not folder_ok:
        raise FaceSpaceError(f"cannot write pictures to {out}: use a .png, .jpg or .webp file"
                             + (" or a folder name" if folder_ok else ""))


def write_pictures(pics, out, overwrite: bool = False, cols: int = 5) -> list[Path]:
    """One picture file (several pictures tiled into a grid), or a folder of numbered PNGs (blend_001.png ...)."""
    out = Path(out)
    if out.suffix.lower() in PICTURE_SUFFIXES:
        sheet = pics[0] if len(pics) == 1 else grid(pics, cols=min(len(pics), cols))
        return [save_picture(sheet, out, overwrite)]
    return save_numbered_pictures(pics, out, "blend", overwrite, start=1, min_digits=3)


def run_blend(args) -> int:
    from ..blend import format_weights, layer_groups, plan_blends
    from ..chart import charts_over_faces
    from ..latent import blend_latent, save_latent
    from .latent import latent_target

    check_picture_target(args.out, args.overwrite)
    if args.chart:
        check_picture_target(args.chart, args.overwrite, folder_ok=False)
        if Path(args.chart).resolve() == Path(args.out).resolve():
            raise FaceSpaceError(f"--chart {args.chart} is the --out file; give the chart a name of its own")
    if args.latent_out:
        latent_target(args.latent_out, args.overwrite)
    rt = PlainRuntime(args.device)
    fs = load_for_rendering(args.facespace, args.model)
    count = args.random if args.random is not None else 1
    plan = plan_blends(fs.names, args.weights, mode="random" if args.random is not None else "weights",
                       count=count, seed=args.seed, normalize=not args.raw,
                       group_weights={"coarse": args.coarse, "middle": args.middle, "fine": args.fine},
                       num_ws=fs.num_ws)
    latent = blend_latent(fs, plan)
    images = fs.render(latent.wplus, runtime=rt, batch_size=args.batch_size)
    written = write_pictures(image_to_pil(images), args.out, args.overwrite)
    if args.latent_out:
        written.append(save_latent(latent, args.latent_out, args.overwrite))
    if args.chart:
        rows, series = plan.chart_data()
        charts = image_to_pil(charts_over_faces(images, fs.names, rows, series=series))
        written += write_pictures(charts, args.chart, args.overwrite)
    spans = layer_groups(fs.num_ws) if plan.groups else {}
    for i, row in enumerate(plan.chart_rows()):
        print(f"blend {i + 1}: {format_weights(fs.names, row)}")
        for group, group_rows in plan.groups.items():
            layers = spans[group]
            print(f"  {group} layers {layers.start}-{layers.stop - 1}: "
                  f"{format_weights(fs.names, group_rows[i].tolist())}")
    for path in written:
        print(f"wrote {path}")
    return 0


def run_morph(args) -> int:
    from ..latent import is_latent_file
    from ..morph import MorphPlan, morph_target, parse_order, render_morph, save_morph

    rt = PlainRuntime(args.device)
    out = Path(args.out)
    morph_target(out, args.fps, args.overwrite)  # refuse a bad target before rendering, not after
    if is_latent_file(args.facespace):
        return _run_latent_morph(args, rt, out)
    fs = load_for_rendering(args.facespace, args.model)
    plan = MorphPlan(parse_order(args.order, fs.names), frames=args.frames, hold=args.hold, easing=args.easing,
                     space=args.space, loop=args.loop)
    frames = render_morph(fs, plan, runtime=rt, batch_size=args.batch_size)
    saved = save_morph(frames, out, fps=args.fps, overwrite=args.overwrite)
    where = f"{out} ({len(saved)} PNG frames)" if isinstance(saved, list) else str(saved)
    print(f"wrote {where}: {len(frames)} frames through {', '.join(fs.names[i] for i in plan.order)}")
    return 0


def _run_latent_morph(args, rt, out) -> int:
    from ..latent import keyframe_names, latent_order, morph_latent
    from ..morph import MorphPlan, save_morph
    from .latent import latent_and_generator

    if args.space != "wplus":
        raise FaceSpaceError("--space code walks a FaceSpace's face codes; a latent file morphs in W+")
    keys, stylegan = latent_and_generator(args.facespace, args.model)
    plan = MorphPlan(latent_order(args.order, keys), frames=args.frames, hold=args.hold, easing=args.easing,
                     loop=args.loop)
    frames = morph_latent(keys, plan).render(stylegan, runtime=rt, batch_size=args.batch_size, desc="morph")
    saved = save_morph(frames, out, fps=args.fps, overwrite=args.overwrite)
    where = f"{out} ({len(saved)} PNG frames)" if isinstance(saved, list) else str(saved)
    names = keyframe_names(keys)
    print(f"wrote {where}: {len(frames)} frames through {', '.join(names[i] for i in plan.order)}")
    return 0
