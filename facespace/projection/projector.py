"""project: target images -> one W+ code each, found by per-face L-BFGS from the measured mean W.

Every step is one batched forward and backward pass of the faces still working; each face has its own
L-BFGS (lbfgs.py), first restricted to one shared w (the same w on every layer), then free over
the full W+. Faces that reach the target stop; faces that lag far behind the others and stopped improving
start again from their nearest sampled faces. Progress, previews and cancel run at every step.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..errors import FaceSpaceError, TrainingDivergedError
from ..runtime import PlainRuntime, Runtime, get_runtime
from ..train.losses import ImageLoss, psnr
from ..train.recorder import preview_grid
from ..train.rendering import Renderer, one_sided, resize, working_resolution
from .lbfgs import BatchedLBFGS
from .report import below_target, target_note
from .settings import ProjectionSettings
from .starts import SampledFaces, measured_w_stats

# step, seconds since start, best PSNR so far per face at the working resolution [N], phase ('w' or 'W+')
StepCallback = Callable[[int, float, torch.Tensor, str], None]
HISTORY_POINTS = 100
FIRST_STEP = 0.25        # a face's first step moves this many spreads of W per coordinate
RESTART_EVERY = 0.1      # lagging faces are looked at every tenth of the budget ...
RESTART_UNTIL = 0.7      # ... until this much of it is spent
STALL_DB = 1.0           # a face improving less than this between two looks has stopped improving
OUTPUT_CHUNK = 8
BROKEN_STEPS = 5         # this many steps in a row without one finite loss end the projection


@dataclass
class ProjectionResult:
    """What a projection found: one W+ per image, and how close each came."""

    wplus: torch.Tensor            # [N,num_ws,w_dim] float32 on the CPU
    psnr: torch.Tensor             # [N] dB at the generator's (output) resolution
    resolution: int                # the output resolution
    working_psnr: torch.Tensor     # [N] dB at the working resolution the loss was computed at
    working_resolution: int
    target_psnr: float
    steps: int
    seconds: float
    restarts: torch.Tensor         # [N] restarts per face
    history: dict = field(default_factory=dict)  # step, loss, psnr_min, psnr_mean, phase (about 100 points)

    def image_names(self, names=None) -> list[str]:
        """`names` as a list, or 'image 1', 'image 2', ..."""
        return list(names) if names is not None else [f"image {i + 1}" for i in range(len(self.psnr))]

    def below_target(self, names=None) -> list[tuple[str, float]]:
        """(name, PSNR at the output resolution) of each face below the target."""
        return below_target(self.image_names(names), self.psnr.tolist(), self.target_psnr)

    def summary(self, names=None) -> str:
        """One line: worst/median PSNR at the output resolution and the faces below the target, by name."""
        v = self.psnr.float()
        worst = int(v.argmin())
        text = (f"PSNR at {self.resolution} px: worst {float(v[worst]):.1f} dB ({self.image_names(names)[worst]}), "
                f"median {float(v.median()):.1f} dB ({self.steps} steps, {self.seconds:.1f} s)")
        note = target_note(self.image_names(names), self.psnr.tolist(), self.target_psnr)
        return f"{text}; {note}" if note else text


def project(stylegan, images: torch.Tensor, settings: ProjectionSettings | None = None,
            runtime: Runtime | None = None, callback: Optional[StepCallback] = None, seed: int | None = None,
            device=None) -> ProjectionResult:
    """Find one W+ code per target image for `stylegan` (a StyleGAN handle or a bare Generator).

    images: [N,3,H,W] float in 0..1, square, any size (resized to the working and output resolutions).
    settings: the budget and search (defaults: ProjectionSettings()); seed overrides settings.seed.
    runtime: progress with previews, cancel and model placement (default: the process-wide runtime, or a
    plain one on `device` when a device is given). callback(step, seconds, best PSNR per face, phase) runs
    after every step. Raises Cancelled when the user stops it.
    """
    settings = settings or ProjectionSettings()
    if seed is not None:
        settings = settings.replace(seed=int(seed))
    if runtime is None and device is not None:
        runtime = PlainRuntime(device)
    rt = get_runtime(runtime)
    targets = check_targets(images)
    G = getattr(stylegan, "generator", stylegan)
    noise_mode = "none" if getattr(stylegan, "noise_mode", "const") == "none" else "const"
    requires_grad = [p.requires_grad for p in G.parameters()]
    try:
        with rt.grad_enabled():
            Gd = rt.load(G)
            for p in Gd.parameters():
                p.requires_grad_(False)
            dev = rt.device()
            render = Renderer(Gd, dev, noise_mode, settings.mixed_precision)
            res = working_resolution(Gd, settings.resolution)
            loss = ImageLoss(resize(targets, res).to(dev), pixel=1.0)
            return run_projection(Gd, render, loss, targets, settings, rt, callback)
    finally:
        for p, flag in zip(G.parameters(), requires_grad):
            p.requires_grad_(flag)


def check_targets(images) -> torch.Tensor:
    """[N,3,H,W] 0..1 float32 on the CPU (an ordinary tensor even when made under inference mode)."""
    if not torch.is_tensor(images):
        raise FaceSpaceError(f"images: expected a tensor [N,3,H,W] of 0..1 images, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        raise FaceSpaceError(f"images: expected a tensor [N,3,H,W] of 0..1 images (N >= 1), got shape "
                             f"{tuple(images.shape)}")
    if images.shape[2] != images.shape[3]:
        raise FaceSpaceError(f"images: the targets are {images.shape[3]}x{images.shape[2]} pixels; projection "
                             f"needs square images (aligned faces)")
    if not torch.isfinite(images).all():
        raise FaceSpaceError("images: the targets contain NaN or inf")
    with torch.inference_mode(False):
        return images.detach().float().cpu().clone().clamp(0, 1)


class _Budget:
    def __init__(self, settings: ProjectionSettings):
        self.steps, self.seconds = settings.steps, settings.seconds
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def spent(self, step: int) -> float:
        """Fraction of the budget spent after `step` steps (steps or seconds, whichever runs out first).
        The clock counts only once a step is done, so a short time budget still moves every face."""
        frac = step / self.steps
        if self.seconds > 0 and step > 0:
            frac = max(frac, self.elapsed() / self.seconds)
        return frac


def run_projection(G, render: Renderer, loss: ImageLoss, targets: torch.Tensor, settings: ProjectionSettings,
                   rt: Runtime, callback: Optional[StepCallback] = None, desc: str = "projecting faces",
                   names=None) -> ProjectionResult:
    """The projection loop on a placed, frozen generator; `loss` holds the targets at the working resolution.

    `targets` [N,3,H,W] 0..1 (CPU, any size) are what the output-resolution PSNR is measured against.
    """
    budget = _Budget(settings)
    device = loss.targets.device
    work = loss.targets
    n, num_ws, w_dim = work.shape[0], G.num_ws, G.w_dim
    res = work.shape[-1]
    progress = rt.progress(settings.steps, desc)
    try:
        progress.update(0, status="measuring the mean face")
        rt.check_cancel()
        mean, spread = measured_w_stats(G, settings.mean_samples, settings.seed, device, rt.check_cancel)
        pool = SampledFaces(G, render, mean, settings.candidates, settings.seed, device)
        progress.update(0, status="comparing sampled faces")
        x0 = pool.starts(work, rt.check_cancel)[:, None].expand(n, num_ws, -1).reshape(n, -1)
        first = FIRST_STEP * float(spread) * math.sqrt(num_ws * w_dim)
        opt = BatchedLBFGS(x0, first, settings.history)
        state = _FaceState(n, x0, work)
        shared = torch.ones(n, dtype=torch.bool, device=device)
        switch_at = torch.full((n,), settings.shared_w_fraction, device=device)
        history = {"step": [], "loss": [], "psnr_min": [], "psnr_mean": [], "phase": []}
        every = max(1, settings.steps // HISTORY_POINTS)
        next_look, last_look = RESTART_EVERY, state.run_psnr.clone()

        def project_rows(rows, v):
            """Directions and gradients of faces still on one shared w: the mean over layers, on every layer."""
            s = shared[rows]
            if not s.any():
                return v
            v = v.clone()
            layered = v[s].view(-1, num_ws, w_dim)
            v[s] = layered.mean(1, keepdim=True).expand(-1, num_ws, -1).reshape(int(s.sum()), -1)
            return v

        step = broken = 0
        while True:
            spent = budget.spent(step)
            if spent >= 1 or bool(state.done.all()):
                break
            moving_on = shared & ((spent >= switch_at) | (opt.failed_searches >= 2)) & ~state.done
            if moving_on.any():
                rows = moving_on.nonzero().view(-1)
                shared[rows] = False
                opt.restart(rows, opt.x[rows])  # the best point of the face's current run
                opt.failed_searches[rows] = 0
            if spent >= next_look and spent < RESTART_UNTIL:
                restarted = _restart_lagging(state, last_look, settings, pool, opt, work, rt)
                if len(restarted):
                    shared[restarted] = True
                    opt.failed_searches[restarted] = 0
                    switch_at[restarted] = spent + settings.shared_w_fraction * (1 - spent)
                last_look = state.run_psnr.clone()
                while next_look <= spent:
                    next_look += RESTART_EVERY
            rows = (~state.done).nonzero().view(-1)
            total = _evaluate(G, render, loss, opt, state, rows, settings.batch_size or n, project_rows)
            # A bad trial only makes its face step back; a generator giving nothing finite at all is broken.
            broken = broken + 1 if not math.isfinite(total) else 0
            if broken >= BROKEN_STEPS or not torch.isfinite(state.best_f).any():
                raise TrainingDivergedError(f"projection diverged at step {step + 1} (loss {total}); "
                                            f"nothing was saved")
            step += 1
            if settings.target_psnr > 0:
                state.done |= state.psnr >= settings.target_psnr
            phase = "w" if bool(shared[rows].all()) else "W+"
            best = state.psnr
            if step % every == 0 or step == 1:
                history["step"].append(step)
                history["loss"].append(round(float(state.best_f.sum()), 8))
                history["psnr_min"].append(round(float(best.min()), 3))
                history["psnr_mean"].append(round(float(best.mean()), 3))
                history["phase"].append(phase)
            if callback is not None:
                callback(step, budget.elapsed(), best.cpu().clone(), phase)
            preview = None
            if settings.preview_every > 0 and (step % settings.preview_every == 0 or step == 1):
                preview = preview_grid(state.best_img, targets)
            done_units = min(settings.steps, max(step, int(budget.spent(step) * settings.steps)))
            progress.update(done_units - progress.n, preview=preview, status=_status(phase, best, state.done, names))
            rt.check_cancel()
        wplus = state.best_x.view(n, num_ws, w_dim).float()
        out_psnr = output_psnr(G, render, wplus, targets, rt)
        result = ProjectionResult(wplus.detach().cpu().clone(), out_psnr, G.resolution, state.psnr.cpu().clone(),
                                  res, settings.target_psnr, step, round(budget.elapsed(), 3),
                                  state.restarts.cpu().clone(), history)
        # The last picture says what was reached, face by face, at the output resolution.
        face_names = result.image_names(names)
        labels = [f"{nm} {v:.1f} dB" for nm, v in zip(face_names, out_psnr.tolist())]
        progress.update(0, preview=preview_grid(state.best_img, targets, labels=labels),
                        status=result.summary(face_names))
        return result
    finally:
        progress.close()


class _FaceState:
    """Each face's best result so far (the loss, its point, PSNR and picture) and whether it is done."""

    def __init__(self, n: int, x0: torch.Tensor, work: torch.Tensor):
        device = work.device
        self.best_f = torch.full((n,), float("inf"), device=device)
        self.best_x = x0.clone()
        self.psnr = torch.full((n,), float("-inf"), device=device)
        self.run_psnr = self.psnr.clone()  # the best PSNR since the face's last (re)start
        self.best_img = torch.zeros_like(work)
        self.done = torch.zeros(n, dtype=torch.bool, device=device)
        self.restarts = torch.zeros(n, dtype=torch.long, device=device)


def _evaluate(G, render, loss: ImageLoss, opt: BatchedLBFGS, state: _FaceState, rows: torch.Tensor, batch: int,
              project_rows) -> float:
    """One forward and backward pass at the trial points of `rows`; feeds L-BFGS and the best-so-far record.

    Returns the sum of the finite losses (NaN when no face gave one)."""
    fs, gs, total, any_finite = [], [], 0.0, False
    for chunk in rows.split(batch):
        ws = opt.trial[chunk].view(len(chunk), G.num_ws, G.w_dim).detach().clone().requires_grad_(True)
        img = render(ws, loss.targets.shape[-1])
        target = loss.targets[chunk]
        per_face, _ = loss(one_sided(img, target), chunk)
        (grad,) = torch.autograd.grad(per_face.sum(), ws)
        per_face = per_face.detach()
        finite = torch.isfinite(per_face)
        total += float(per_face[finite].sum())
        any_finite |= bool(finite.any())
        better = per_face < state.best_f[chunk]
        if better.any():
            idx = chunk[better]
            state.best_f[idx] = per_face[better]
            state.best_x[idx] = ws.detach()[better].flatten(1)
            state.psnr[idx] = psnr(img.detach()[better], target[better])
            state.best_img[idx] = img.detach()[better].float().clamp(0, 1)
        state.run_psnr[chunk] = torch.maximum(state.run_psnr[chunk], psnr(img.detach(), target))
        fs.append(per_face)
        gs.append(grad.flatten(1))
    opt.tell(rows, torch.cat(fs), torch.cat(gs), project_rows)
    return total if any_finite else float("nan")


def _restart_lagging(state: _FaceState, last_look: torch.Tensor, settings: ProjectionSettings, pool: SampledFaces,
                     opt: BatchedLBFGS, work: torch.Tensor, rt: Runtime) -> torch.Tensor:
    """Faces far behind the best face that stopped improving start again from their nearest unused sample."""
    if settings.restart_gap <= 0 or len(state.psnr) < 2:
        return state.psnr.new_zeros(0, dtype=torch.long)
    lead = float(state.psnr.max())
    stalled = state.run_psnr - last_look < STALL_DB  # a run restarted since the last look is still improving
    lagging = (state.psnr < lead - settings.restart_gap) & stalled & ~state.done
    restarted = []
    for face in lagging.nonzero().view(-1).tolist():
        w = pool.nearest(face, work[face], rt.check_cancel)
        if w is None:
            continue
        num_ws = opt.x.shape[1] // w.numel()
        opt.restart(torch.tensor([face], device=work.device), w.view(1, 1, -1).expand(1, num_ws, -1).reshape(1, -1))
        state.restarts[face] += 1
        state.run_psnr[face] = float("-inf")
        restarted.append(face)
    return torch.tensor(restarted, dtype=torch.long, device=work.device)


def _status(phase: str, psnr_db: torch.Tensor, done: torch.Tensor, names) -> str:
    worst = int(psnr_db.argmin())
    who = names[worst] if names is not None else f"image {worst + 1}"
    return (f"{phase}: PSNR worst {float(psnr_db[worst]):.1f} dB ({who}), median {float(psnr_db.median()):.1f} dB, "
            f"{int(done.sum())}/{len(done)} at target")


@torch.no_grad()
def output_psnr(G, render: Renderer, wplus: torch.Tensor, targets: torch.Tensor, rt: Runtime) -> torch.Tensor:
    """Per-face PSNR [N] (CPU) of W+ rendered at the generator's full resolution against the targets."""
    device = next(iter(G.parameters())).device
    full = resize(targets, G.resolution)
    out = []
    for start in range(0, len(wplus), OUTPUT_CHUNK):
        rt.check_cancel()
        img = render(wplus[start:start + OUTPUT_CHUNK].to(device), G.resolution)
        out.append(psnr(img, full[start:start + OUTPUT_CHUNK].to(device)).cpu())
    return torch.cat(out)
