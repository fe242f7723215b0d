"""The whole pipeline in one call: generator -> faces -> FaceSpace -> blends with charts -> morph.

With a generator file and a folder of photos it runs on them (photos that are not square crops of
one size are aligned first). Without them it runs a self-check that needs nothing on disk: a small
built-in random generator and six "faces" it renders itself from random W+ codes. Those are
coloured textures, not real faces; the self-check shows that every stage works end to end.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from .errors import FaceSpaceError
from .fileio import atomic_path, check_writable
from .imageops import grid, image_to_pil, pil_to_image
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


def _self_check_inputs(rt: Runtime, count: int = SELF_CHECK_FACES):
    from .stylegan import StyleGAN, tiny_generator

    G = tiny_generator(resolution=SELF_CHECK_RESOLUTION, seed=SELF_CHECK_SEED)
    stylegan = StyleGAN(G, psi=0.7, name="built-in self-check generator")
    gen = torch.Generator().manual_seed(SELF_CHECK_SEED)
    # Random W+: every layer its own truncated w, so the "faces" differ at every scale.
    z = torch.randn(count * G.num_ws, G.z_dim, generator=gen)
    w = stylegan.mapping(z, rt)[:, 0].reshape(count, G.num_ws, G.w_dim)
    images = stylegan.render(w, runtime=rt)
    return stylegan, images, SELF_CHECK_NAMES[:count]


@contextlib.contextmanager
def _one_thread(enabled: bool):
    """The self-check's tiny networks gain nothing from more threads, and on a busy CPU lose a lot."""
    before = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _looks_aligned(paths: list[Path]) -> bool:
    sizes = set()
    for p in paths:
        with Image.open(p) as im:
            sizes.add(im.size)
    return len(sizes) == 1 and next(iter(sizes))[0] == next(iter(sizes))[1]


def load_faces(folder, resolution: int, align: str = "auto", runtime: Runtime | None = None):
    """Aligned faces at the generator's resolution and their names, from a folder of photos."""
    from .align.photos import clean_name, list_photos, load_photo

    if align not in ALIGN_CHOICES:
        raise FaceSpaceError(f"align must be one of {', '.join(ALIGN_CHOICES)}, got {align!r}")
    paths = list_photos(folder)
    if align == "never" or (align == "auto" and _looks_aligned(paths)):
        pics = [load_photo(p).resize((resolution, resolution), Image.LANCZOS) for p in paths]
        return pil_to_image(pics), [clean_name(p.stem) for p in paths], False
    from .align import align_faces

    result = align_faces(folder=folder, size=resolution, preview=False, runtime=runtime)
    return result.images, result.names, True


def _readme(result: DemoResult, model, faces, aligned: bool, settings, fs) -> str:
    lines = ["FaceSpace demo", "==============", ""]
    if result.self_check:
        lines += [
            "SELF-CHECK, NOT REAL FACES.",
            "No generator and photos were given, so this run used a small built-in random generator",
            f"(tiny_generator, seed {SELF_CHECK_SEED}, {SELF_CHECK_RESOLUTION} px) and {len(result.names)} "
            "pictures it rendered itself from random W+ codes.",
            "They are coloured textures, not faces. The run shows that every stage works end to end:",
            "training a FaceSpace, blending with weight charts, morphing, saving.",
            "For real faces: python -m facespace demo --out DIR --model STYLEGAN_FILE --faces PHOTO_FOLDER",
            "",
        ]
    else:
        how = "aligned FFHQ-style first" if aligned else "used as given"
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
    model_arg = result.files["generator"] if "generator" in result.files else model
    lines += ["", "Next:",
              f"  python -m facespace blend {result.files['facespace']} --model {model_arg} "
              f"--weights \"{result.names[0]}=0.5, {result.names[1]}=0.5\" --out blend.png --chart chart.png",
              f"  python -m facespace morph {result.files['facespace']} --model {model_arg} --out morph.gif --loop", ""]
    return "\n".join(lines)


def run_demo(out_dir, model=None, faces=None, steps: int | None = None, overwrite: bool = False,
             align: str = "auto", seed: int = 0, runtime: Runtime | None = None,
             log: Callable[[str], None] = print) -> DemoResult:
    """Train a FaceSpace and write blends with charts, a morph GIF, the FaceSpace and a README into `out_dir`."""
    with _one_thread(model is None and faces is None):
        return _run_demo(out_dir, model, faces, steps, overwrite, align, seed, runtime, log)


def _run_demo(out_dir, model, faces, steps, overwrite, align, seed, runtime, log) -> DemoResult:
    from .blend import plan_blends, render_blends
    from .chart import charts_over_faces
    from .morph import MorphPlan, render_morph, write_gif
    from .train import TrainSettings, save_facespace, train_facespace

    t0 = time.perf_counter()
    rt = get_runtime(runtime)
    if (model is None) != (faces is None):
        raise FaceSpaceError("--model and --faces go together: give both for your own faces, or neither for "
                             "the built-in self-check")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FaceSpaceError(f"--out {out_dir} is a file; expected a folder")
    self_check = model is None
    keys = [k for k in FILES if self_check or k != "generator"]
    paths = {k: out_dir / FILES[k] for k in keys}
    for path in paths.values():
        check_writable(path, overwrite)
    if steps is not None and steps < 1:
        raise FaceSpaceError(f"--steps must be 1 or more, got {steps}")

    result = DemoResult(out_dir=out_dir, self_check=self_check)
    aligned = False
    if self_check:
        log("SELF-CHECK: no --model/--faces given, so a small built-in random generator renders "
            f"{SELF_CHECK_FACES} synthetic pictures (not real faces) to train on.")
        stylegan, images, names = _self_check_inputs(rt)
        settings = TrainSettings(steps=steps or SELF_CHECK_STEPS, seed=seed)
    else:
        from .stylegan import StyleGAN, load_generator

        generator = load_generator(model)
        stylegan = StyleGAN(generator, name=Path(model).stem)
        images, names, aligned = load_faces(faces, generator.resolution, align, rt)
        if len(names) < 2:
            raise FaceSpaceError(f"{faces}: found {len(names)} face(s); blending and morphing need at least 2")
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

    recon = stylegan.render(fs.face_wplus(), runtime=rt)
    targets = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=recon.shape[1:3], mode="bilinear",
                                              antialias=True).permute(0, 2, 3, 1).clamp(0, 1)
    tile = min(max(recon.shape[1], MIN_TILE), MAX_TILE // 2)
    pics = [p.resize((tile, tile), Image.LANCZOS) for p in image_to_pil(torch.cat([targets, recon]))]
    _save_png(grid(pics, cols=len(names)), paths["faces"], overwrite)
    result.files["faces"] = paths["faces"]

    plan = plan_blends(fs.names, mode="random", count=BLENDS, seed=seed, num_ws=fs.num_ws)
    blends = render_blends(fs, plan, runtime=rt)
    rows, series = plan.chart_data()
    charts = image_to_pil(charts_over_faces(_fit(blends, MAX_TILE), fs.names, rows, series=series))
    _save_png(grid(charts, cols=BLENDS), paths["blends"], overwrite)
    result.files["blends"] = paths["blends"]

    frames = render_morph(fs, MorphPlan(list(range(len(names))), frames=MORPH_FRAMES, easing="smoothstep",
                                        loop=True), runtime=rt)
    frames = _fit(frames, MAX_TILE // 2)
    result.files["morph"] = write_gif(frames, paths["morph"], fps=MORPH_FPS, overwrite=overwrite)

    with atomic_path(paths["readme"], overwrite) as tmp:
        tmp.write_text(_readme(result, model, faces, aligned, settings, fs), encoding="utf-8")
    result.files["readme"] = paths["readme"]
    result.seconds = time.perf_counter() - t0
    return result


def _fit(images: torch.Tensor, largest: int, smallest: int = MIN_TILE) -> torch.Tensor:
    """IMAGE batch resized so that its side lies within smallest..largest pixels."""
    side = images.shape[1]
    target = min(max(side, smallest), largest)
    if target == side:
        return images
    x = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=target, mode="bilinear",
                                        antialias=target < side)
    return x.permute(0, 2, 3, 1).clamp(0, 1).contiguous()


def _save_png(picture: Image.Image, path: Path, overwrite: bool) -> None:
    with atomic_path(path, overwrite) as tmp:
        picture.save(tmp, format="PNG")
