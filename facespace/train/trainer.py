"""train_facespace: learn a FaceSpace (encoder + W+ table) from a few aligned faces."""
from __future__ import annotations

import time
import warnings
from typing import Optional

import torch

from ..errors import MissingWeightsFileError, TrainingFailedError
from ..runtime import Runtime, get_runtime
from ..space.model import FaceSpace
from .fast_schedule import run_fast
from .identity_report import identity_report
from .inputs import training_names, unit_targets
from .job import TrainingJob
from .losses import find_vgg16, load_vgg16, psnr
from .original_schedule import run_original
from .recorder import StepCallback
from .rendering import Renderer, resize, working_resolution
from .settings import TrainSettings

SCHEDULE_RUNS = {"fast": run_fast, "original": run_original}


def train_facespace(stylegan, images, names=None, settings: TrainSettings | None = None,
                    runtime: Runtime | None = None, callback: Optional[StepCallback] = None) -> FaceSpace:
    """Learn a FaceSpace for `stylegan` (a StyleGAN or a bare Generator) from aligned faces.

    images: IMAGE batch [N,H,W,3] in 0..1 (or a list of PIL images), square, any size (resized to the
    working resolution); names: list or comma/semicolon/newline separated text, one per face, or None.
    Raises TrainingDivergedError on NaN/inf, Cancelled when the user stops it.
    """
    rt = get_runtime(runtime)
    settings = settings or TrainSettings()
    G = getattr(stylegan, "generator", stylegan)
    targets = unit_targets(images)
    names = training_names(names, targets.shape[0])
    noise_mode = "none" if getattr(stylegan, "noise_mode", "const") == "none" else "const"
    device = rt.device()
    res = working_resolution(G, settings.resolution)
    vgg, perceptual_note = _perceptual_network(settings, rt, device)

    requires_grad = [p.requires_grad for p in G.parameters()]
    t0 = time.perf_counter()
    try:
        with rt.grad_enabled():
            Gd = rt.load(G)
            for p in Gd.parameters():
                p.requires_grad_(False)
            job = TrainingJob(settings, Gd, Renderer(Gd, device, noise_mode, settings.mixed_precision),
                              Gd.w_avg.detach().float().to(device).clone(), targets, names, res, device, rt, vgg,
                              callback, "; " + perceptual_note if perceptual_note else "")
            encoder, table, recorder = SCHEDULE_RUNS[settings.schedule](job)
            final, working = final_psnr(job, encoder)
            start = start_psnr(job)
            identity = identity_report(job, encoder)
    finally:
        for p, flag in zip(G.parameters(), requires_grad):
            p.requires_grad_(flag)

    check_reached(working, start, names, settings, res)  # both at the working resolution
    metadata = {
        "settings": settings.to_dict(),
        "psnr": {name: round(float(v), 3) for name, v in zip(names, final)},
        "psnr_resolution": G.resolution,
        "psnr_working": {name: round(float(v), 3) for name, v in zip(names, working)},
        "working_resolution": res,
        "target_psnr": settings.target_psnr,
        "loss_history": recorder.history,
        "steps_run": recorder.step,
        "seconds": round(time.perf_counter() - t0, 2),
        "perceptual": perceptual_note or "perceptual loss off (weight 0)",
        "noise_mode": noise_mode,
        "device": str(device),
        "generator_name": getattr(stylegan, "name", "") or "",
        "generator_file": getattr(G, "source_path", "") or "",  # lets blend/morph find it without --model
        **identity,
    }
    return FaceSpace(names, encoder.cpu().float(), settings.encoder, table.detach().float().cpu(), G.resolution,
                     G.fingerprint(), metadata, stylegan=stylegan if hasattr(stylegan, "generator") else None)


# A diverged run ends clearly further from the photos than the untrained average face it started from, and
# poor in itself; a short run may end a little below its start and is the user's choice.
START_SHORTFALL_DB = 3.0
FAILED_BELOW_DB = 10.0


@torch.no_grad()
def start_psnr(job: TrainingJob) -> torch.Tensor:
    """Per-face PSNR [N] of the generator's average face, where training starts from."""
    target = job.targets_at(job.res)
    num_ws = job.G.num_ws
    out = []
    for i in range(0, job.n, 8):
        ws = job.w_avg.reshape(1, 1, -1).expand(min(8, job.n - i), num_ws, -1)
        out.append(psnr(job.render(ws, job.res), target[i:i + 8]).cpu())
    return torch.cat(out)


def check_reached(final: torch.Tensor, start: torch.Tensor, names: list[str], settings: TrainSettings,
                  res: int) -> None:
    """Refuse a result that ends far below the untrained average face it started from and below
    FAILED_BELOW_DB (a diverged run, e.g. a far too high learning rate): nothing is then saved or returned.
    A short run that stops below its PSNR target is the user's choice and is kept."""
    final = torch.nan_to_num(final.float(), nan=0.0, posinf=0.0, neginf=0.0)
    mean, begun = float(final.mean()), float(start.float().mean())
    if mean >= begun - START_SHORTFALL_DB or mean >= FAILED_BELOW_DB:
        return
    worst = int(final.argmin())
    target = float(settings.target_psnr or 0.0)
    raise TrainingFailedError(
        f"training reached only {mean:.1f} dB mean PSNR (worst {float(final[worst]):.1f} dB on face "
        f"{names[worst]}, at {res} px), below the untrained average face ({begun:.1f} dB)"
        + (f" and far below the target of {target:g} dB" if target > 0 else "")
        + f"; nothing was saved. Try a lower learning rate (it was {settings.lr:g}), more steps, or check that "
        "the faces are aligned")


def _perceptual_network(settings: TrainSettings, rt: Runtime, device):
    """(VGG16 features or None, a note saying whether the perceptual loss is on)."""
    if settings.perceptual_weight <= 0:
        return None, ""
    folders = ", ".join(str(d) for d in rt.model_dirs("vgg"))
    path = find_vgg16(rt.model_dirs("vgg"))
    if path is not None:
        return load_vgg16(path).to(device), f"perceptual loss on: {path.name}"
    if settings.pixel_weight + settings.l1_weight + settings.structural_weight <= 0:
        raise MissingWeightsFileError(f"perceptual_weight is the only loss, but no VGG16 weights (torchvision "
                                      f"layout) are in {folders}; add them there or give another loss a weight")
    note = f"perceptual loss off: no VGG16 weights (torchvision layout) in {folders}"
    warnings.warn(note, stacklevel=3)
    return None, note


@torch.no_grad()
def final_psnr(job: TrainingJob, encoder) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-face PSNR [N] of the encoder's output at the generator's (output) and at the working resolution."""
    full_res = job.G.resolution
    full, work = resize(job.targets, full_res), job.targets_at(job.res)
    out, at_work = [], []
    for i in range(0, job.n, 8):
        job.rt.check_cancel()
        codes = torch.eye(job.n, device=job.device)[i:i + 8]
        img = job.render(encoder(codes), full_res)
        out.append(psnr(img, full[i:i + 8].to(job.device)).cpu())
        at_work.append(psnr(resize(img, job.res), work[i:i + 8]).cpu())
    return torch.cat(out), torch.cat(at_work)
