"""The whole pipeline in one call: generator -> faces -> FaceSpace -> blends with charts -> morph.

With a generator file and a folder of photos it runs on them (photos that are not square crops of
one size are aligned first). Without them it runs a self-check that needs nothing on disk: a small
built-in random generator and six "faces" it renders itself from random latent codes. Those are
coloured textures, not real faces; the self-check shows that every stage works end to end.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, ImageOps

from .align.photos import photo_size
from .errors import FaceSpaceError
from .fileio import atomic_path, check_writable, save_picture
from .imageops import grid, image_to_pil, pil_to_image
from .names import unique_names
from .runtime import Runtime, get_runtime

SELF_CHECK_SEED = 7
SELF_CHECK_RESOLUTION = 64
SELF_CHECK_FACES = 6
SELF_CHECK_STEPS = 200
SELF_CHECK_NAMES = [f"synthetic_{c}" for c in "abcdefghij"]
BLENDS = 5
MORPH_FRAMES = 8
MORPH_FPS = 12
MAX_TILE = 512        # blend pictures and GIF frames are made no larger than this
MIN_TILE = 128
ALIGN_CHOICES = ("auto", "always", "never")

FILES = {
    "facespace": "facespace.safetensors",
    "generator": "generator.safetensors",
    "faces": "faces.png",
    "blends": "blends.png",
    "morph": "morph.gif",
    "readme": "README.txt",
}


@dataclass
class DemoResult:
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    psnr: dict[str, float] = field(default_factory=dict)
    self_check: bool = True
    seconds: float = 0.0


def run_demo(out_dir, model=None, faces=None, steps: int | None = None, overwrite: bool = False,
             align: str = "auto", seed: int = 0, runtime: Runtime | None = None,
             log: Callable[[str], None] = print) -> DemoResult:
    """Train a FaceSpace and write blends with charts, a morph GIF, the FaceSpace and a README into `out_dir`.

    Every output name is checked before the work starts, so a refused run leaves `out_dir` as it was.
    """
    from .train import TrainSettings, save_facespace, train_facespace

    started = time.perf_counter()
    rt = get_runtime(runtime)
    if (model is None) != (faces is None):
        raise FaceSpaceError("--model and --faces go together: give both for your own faces, or neither for "
                             "the built-in self-check")
    if steps is not None and steps < 1:
        raise FaceSpaceError(f"--steps must be 1 or more, got {steps}")
    self_check = model is None
    out_dir = Path(out_dir)
    paths = _output_paths(out_dir, self_check, overwrite)

    result = DemoResult(out_dir=out_dir, self_check=self_check)
    if self_check:
        log("SELF-CHECK: no --model/--faces given, so a small built-in random generator renders "
            f"{SELF_CHECK_FACES} synthetic pictures (not real faces) to train on.")
        stylegan, images, names = _self_check_inputs(rt)
        # Written into out_dir below; recorded now so `blend` and `morph` find it without --model.
        stylegan.generator.source_path = str(paths["generator"].resolve())
        aligned = False
        steps = steps or SELF_CHECK_STEPS
    else:
        stylegan, images, names, aligned = _user_inputs(model, faces, align, rt)
        log(f"{len(names)} faces from {faces}{' (aligned)' if aligned else ''}: {', '.join(names)}")
    settings = TrainSettings(seed=seed) if steps is None else TrainSettings(steps=steps, seed=seed)
    result.names = list(names)

    log(f"training a FaceSpace on {len(names)} faces ({settings.steps} steps) ...")
    fs = train_facespace(stylegan, images, names, settings, runtime=rt)
    result.psnr = fs.psnr()
    log("reconstruction PSNR (dB): " + ", ".join(f"{n} {v:.1f}" for n, v in result.psnr.items()))

    out_dir.mkdir(parents=True, exist_ok=True)
    result.files["facespace"] = save_facespace(fs, paths["facespace"], overwrite=overwrite)
    if self_check:
        from .stylegan import save_generator

        result.files["generator"] = save_generator(stylegan.generator, paths["generator"], overwrite=overwrite)
    rt.check_cancel()
    result.files["faces"] = save_picture(_faces_sheet(fs, images, rt), paths["faces"], overwrite)
    rt.check_cancel()
    result.files["blends"] = save_picture(_blends_sheet(fs, seed, rt), paths["blends"], overwrite)
    rt.check_cancel()
    result.files["morph"] = _write_morph(fs, paths["morph"], overwrite, rt)
    with atomic_path(paths["readme"], overwrite) as tmp:
        tmp.write_text(_readme(result, model, faces, aligned, settings, fs), encoding="utf-8")
    result.files["readme"] = paths["readme"]
    result.seconds = time.perf_counter() - started
    return result


def _output_paths(out_dir: Path, self_check: bool, overwrite: bool) -> dict[str, Path]:
    """The files this run writes (the generator only in a self-check), each refused if it is in the way."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FaceSpaceError(f"--out {out_dir} is a file; expected a folder")
    paths = {key: out_dir / name for key, name in FILES.items() if self_check or key != "generator"}
    for path in paths.values():
        check_writable(path, overwrite)
    return paths


def _self_check_inputs(rt: Runtime, count: int = SELF_CHECK_FACES):
    """(StyleGAN, IMAGE batch, names) of the self-check: a tiny random generator and pictures it renders."""
    from .stylegan import StyleGAN, tiny_generator

    G = tiny_generator(resolution=SELF_CHECK_RESOLUTION, seed=SELF_CHECK_SEED)
    stylegan = StyleGAN(G, psi=0.7, name="built-in self-check generator")
    gen = torch.Generator().manual_seed(SELF_CHECK_SEED)
    # Pictures the generator makes the usual way (z -> truncated w), as real aligned faces sit near its W space.
    z = torch.randn(count, G.z_dim, generator=gen)
    w = stylegan.mapping(z, rt)
    images = stylegan.render(w, runtime=rt)
    return stylegan, images, SELF_CHECK_NAMES[:count]


def _user_inputs(model, faces, align: str, rt: Runtime):
    """(StyleGAN, IMAGE batch, names, aligned?) from the user's generator file and folder of photos."""
    from .stylegan import StyleGAN, load_generator

    generator = load_generator(model)
    images, names, aligned = load_faces(faces, generator.resolution, align, rt)
    if len(names) < 2:
        raise FaceSpaceError(f"{faces}: found {len(names)} face(s); blending and morphing need at least 2")
    return StyleGAN(generator, name=Path(model).stem), images, names, aligned


def load_faces(folder, resolution: int, align: str = "auto", runtime: Runtime | None = None):
    """(IMAGE batch, unique names, aligned?) of the photos in `folder` at the generator's resolution.

    align 'auto' aligns FFHQ-style unless every photo is a square of one size; 'never' takes each
    photo as it is, centre-cropped to a square.
    """
    from .align import align_faces
    from .align.photos import gather_photos, list_photos

    if align not in ALIGN_CHOICES:
        raise FaceSpaceError(f"align must be one of {', '.join(ALIGN_CHOICES)}, got {align!r}")
    paths = list_photos(folder)
    if align == "always" or (align == "auto" and not _same_square_size(paths)):
        result = align_faces(files=paths, size=resolution, preview=False, runtime=runtime)
        return result.images, result.names, True
    photos = gather_photos(files=paths)
    pics = [ImageOps.fit(p.image, (resolution, resolution), Image.Resampling.LANCZOS) for p in photos]
    return pil_to_image(pics), unique_names(p.name for p in photos), False


def _same_square_size(paths: list[Path]) -> bool:
    """True when every photo is a square of one size, i.e. already cropped (read from the file headers)."""
    sizes = set()
    for p in paths:
        try:
            sizes.add(photo_size(p))
        except FaceSpaceError:
            return False  # the photo loader then names the file it cannot read
    return len(sizes) == 1 and len(set(next(iter(sizes)))) == 1


def _faces_sheet(fs, images: torch.Tensor, rt: Runtime) -> Image.Image:
    """Top row: the training faces; bottom row: their reconstructions."""
    recon = fs.stylegan.render(fs.face_wplus(), runtime=rt)
    targets = _resized(images, recon.shape[1])
    tile = min(max(recon.shape[1], MIN_TILE), MAX_TILE // 2)
    pics = [p.resize((tile, tile), Image.Resampling.LANCZOS) for p in image_to_pil(torch.cat([targets, recon]))]
    return grid(pics, cols=len(fs.names))


def _blends_sheet(fs, seed: int, rt: Runtime) -> Image.Image:
    """BLENDS random blends side by side, each under the bar chart of its weights."""
    from .blend import plan_blends, render_blends
    from .chart import charts_over_faces

    plan = plan_blends(fs.names, mode="random", count=BLENDS, seed=seed, num_ws=fs.num_ws)
    blends = render_blends(fs, plan, runtime=rt)
    rows, series = plan.chart_data()
    return grid(image_to_pil(charts_over_faces(_fit(blends, MAX_TILE), fs.names, rows, series=series)), cols=BLENDS)


def _write_morph(fs, path: Path, overwrite: bool, rt: Runtime) -> Path:
    """A looping GIF through every face."""
    from .morph import MorphPlan, render_morph, write_gif

    plan = MorphPlan(list(range(len(fs.names))), frames=MORPH_FRAMES, easing="smoothstep", loop=True)
    frames = _fit(render_morph(fs, plan, runtime=rt), MAX_TILE // 2)
    return write_gif(frames, path, fps=MORPH_FPS, overwrite=overwrite)


def _fit(images: torch.Tensor, largest: int, smallest: int = MIN_TILE) -> torch.Tensor:
    """IMAGE batch resized so that its side lies within smallest..largest pixels."""
    return _resized(images, min(max(images.shape[1], smallest), largest))


def _resized(images: torch.Tensor, side: int) -> torch.Tensor:
    """IMAGE batch of squares resized to side x side (antialiased when shrinking)."""
    if images.shape[1:3] == (side, side):
        return images
    x = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=(side, side), mode="bilinear",
                                        antialias=side < images.shape[1])
    return x.permute(0, 2, 3, 1).clamp(0, 1).contiguous()


def _readme(result: DemoResult, model, faces, aligned: bool, settings, fs) -> str:
    lines = ["FaceSpace demo", "==============", ""]
    if result.self_check:
        lines += [
            "SELF-CHECK, NOT REAL FACES.",
            "No generator and photos were given, so this run used a small built-in random generator",
            f"(tiny_generator, seed {SELF_CHECK_SEED}, {SELF_CHECK_RESOLUTION} px) and {len(result.names)} "
            "pictures it rendered itself from random latent codes.",
            "They are coloured textures, not faces. The run shows that every stage works end to end:",
            "training a FaceSpace, blending with weight charts, morphing, saving.",
            "For real faces: python -m facespace demo --out DIR --model STYLEGAN_FILE --faces PHOTO_FOLDER",
            "",
        ]
    else:
        how = "aligned FFHQ-style first" if aligned else "used as given, centre-cropped to squares"
        lines += [f"Generator: {model}", f"Photos: {faces} ({how})", ""]
    lines += [f"Faces ({len(result.names)}), reconstruction PSNR in dB:"]
    lines += [f"  {name}: {result.psnr.get(name, float('nan')):.2f}" for name in result.names]
    lines += ["", f"Training: {settings.schedule} schedule, {settings.encoder} encoder, {settings.steps} steps, "
              f"{fs.metadata.get('seconds', '?')} s", "", "Files:"]
    about = {
        "facespace": "the trained FaceSpace (load it with the generator it was trained with)",
        "generator": "the built-in self-check generator, to use with the FaceSpace from the command line",
        "faces": "top row: the training faces; bottom row: their reconstructions",
        "blends": f"{BLENDS} random blends, each with a bar chart of the weight each face got",
        "morph": "a looping morph through all faces",
    }
    for key, path in result.files.items():
        if key in about:
            lines.append(f"  {path.name}: {about[key]}")
    facespace_arg = shlex.quote(str(result.files["facespace"]))
    model_arg = shlex.quote(str(result.files.get("generator", model)))
    weights_arg = shlex.quote(f"{result.names[0]}=0.5, {result.names[1]}=0.5")
    lines += ["", "Next:",
              f"  python -m facespace blend {facespace_arg} --model {model_arg} --weights {weights_arg} "
              "--out blend.png --chart chart.png",
              f"  python -m facespace morph {facespace_arg} --model {model_arg} --out morph.gif --loop", ""]
    return "\n".join(lines)
