"""The training record: compact loss history, latest per-face PSNR, progress with previews, cancel and NaN checks."""
from __future__ import annotations

import math
import time
from typing import Callable, Optional

import torch

from ..errors import TrainingDivergedError
from ..imageops import grid, native_to_pil
from ..runtime import Progress, Runtime
from .losses import psnr
from .rendering import resize
from .settings import TrainSettings

# step, seconds since start, latest per-face PSNR [N] (of the W+ table while the fast schedule optimises it,
# else of the encoder's output), phase name
StepCallback = Callable[[int, float, torch.Tensor, str], None]
HISTORY_POINTS = 100  # the loss history keeps about this many points


class Recorder:
    """One per training run; every optimisation step ends with `update`."""

    def __init__(self, rt: Runtime, total: int, names: list[str], targets: torch.Tensor, settings: TrainSettings,
                 callback: Optional[StepCallback], status_note: str):
        self.rt, self.names, self.targets, self.settings = rt, names, targets, settings
        self.progress = rt.progress(total, "training FaceSpace") if total > 0 else Progress(0)
        self.callback = callback
        self.note = status_note
        self.every = max(1, total // HISTORY_POINTS)
        self.history: dict[str, list] = {"step": [], "loss": [], "psnr_min": [], "psnr_mean": [], "phase": []}
        self.psnr = torch.full((len(names),), float("-inf"))
        self.step = 0
        self.t0 = time.perf_counter()

    def check(self, loss: torch.Tensor, phase: str) -> float:
        """The loss as a float; TrainingDivergedError when it is NaN or inf."""
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDivergedError(
                f"training diverged in the {phase} phase at step {self.step + 1} (loss {value}); nothing was saved. "
                f"Try a lower learning rate (now {self.settings.lr}).")
        return value

    def measure(self, idx: torch.Tensor, pred01: torch.Tensor, target01: torch.Tensor) -> None:
        """Latest PSNR of the faces in `idx` (images before this step's update)."""
        self.psnr[idx.cpu()] = psnr(pred01, target01).cpu()

    def update(self, loss: float, phase: str, preview_fn: Callable[[], Optional[torch.Tensor]]) -> None:
        self.step += 1
        measured = self.psnr[torch.isfinite(self.psnr)]
        if self.step % self.every == 0 or self.step == 1:
            self.history["step"].append(self.step)
            self.history["loss"].append(round(loss, 6))
            self.history["psnr_min"].append(round(float(measured.min()), 3) if len(measured) else None)
            self.history["psnr_mean"].append(round(float(measured.mean()), 3) if len(measured) else None)
            self.history["phase"].append(phase)
        if self.callback is not None:
            self.callback(self.step, time.perf_counter() - self.t0, self.psnr.clone(), phase)
        preview = None
        every = self.settings.preview_every
        if every > 0 and (self.step % every == 0 or self.step == 1):
            shown = preview_fn()
            if shown is not None:
                preview = preview_grid(shown, self.targets)
        worst = f"{float(measured.min()):.1f} dB" if len(measured) else "not measured yet"
        self.progress.update(1, preview=preview, status=f"{phase} loss {loss:.4g} PSNR min {worst}{self.note}")
        self.rt.check_cancel()

    def reached(self, target_psnr: float) -> bool:
        return target_psnr > 0 and bool((self.psnr >= target_psnr).all())

    def close(self):
        self.progress.close()


def preview_grid(recon01: torch.Tensor, targets01: torch.Tensor, max_tile: int = 256, min_tile: int = 96,
                 labels: Optional[list[str]] = None):
    """Reconstructions (top row) above targets (bottom row), one column per face, as a PIL image; with
    `labels`, one line of text under each column (e.g. its name and PSNR)."""
    n = recon01.shape[0]
    tile = max(min_tile, min(max_tile, targets01.shape[-1]))
    pics = native_to_pil(resize(recon01.float().cpu(), tile) * 2 - 1) + native_to_pil(
        resize(targets01.float().cpu(), tile) * 2 - 1)
    sheet = grid(pics, cols=n)
    if not labels:
        return sheet
    from PIL import Image, ImageDraw

    strip = 14
    out = Image.new("RGB", (sheet.width, sheet.height + strip), (255, 255, 255))
    out.paste(sheet, (0, 0))
    draw = ImageDraw.Draw(out)
    pad = (sheet.width - n * tile) // (n + 1)
    for i, text in enumerate(labels[:n]):
        draw.text((pad + i * (tile + pad), sheet.height - 2), text[: tile // 6], fill=(0, 0, 0))
    return out
