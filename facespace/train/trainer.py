"""train_facespace: learn a FaceSpace (encoder + W+ table) from a few aligned faces."""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ..errors import FaceSpaceError, TrainingDivergedError
from ..imageops import grid, image_to_native, native_to_pil
from ..runtime import Runtime, get_runtime
from .encoders import make_encoder
from .facespace_model import FaceSpace
from .losses import ImageLoss, find_vgg16, load_vgg16, psnr
from .settings import TrainSettings

# step, seconds since start, latest per-face PSNR [N] (of the W+ table while the fast schedule optimises it,
# else of the encoder's output), phase name
StepCallback = Callable[[int, float, torch.Tensor, str], None]
HISTORY_POINTS = 100  # the loss history keeps about this many points
CANDIDATE_RESOLUTION = 64  # sampled starting faces are compared with the targets at this size


def face_names(names, count: int) -> list[str]:
    """Names from a list or a comma/newline separated string; empty -> face_01, face_02, ..."""
    if isinstance(names, str):
        names = [n.strip() for n in names.replace("\n", ",").split(",")]
        names = [n for n in names if n]
    names = list(names or [])
    if not names:
        return [f"face_{i + 1:02d}" for i in range(count)]
    if len(names) != count:
        raise FaceSpaceError(f"{len(names)} face names ({', '.join(names)}) given for {count} images; "
                             f"give one name per image or none")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FaceSpaceError(f"face names must be unique; repeated: {', '.join(dupes)}")
    return names


def _as_unit_images(images) -> torch.Tensor:
    """IMAGE [N,H,W,C] 0..1 (or a list of PIL images) -> [N,3,H,W] 0..1 float32, a fresh copy."""
    if isinstance(images, (list, tuple)) and images and not torch.is_tensor(images[0]):
        from ..imageops import pil_to_image

        images = pil_to_image(images)
    if not torch.is_tensor(images):
        raise FaceSpaceError(f"faces must be an IMAGE batch [N,H,W,3], got {type(images).__name__}")
    x = image_to_native(images.detach().clone().float().cpu())
    return ((x + 1) * 0.5).clamp(0, 1)


def _resize(x: torch.Tensor, res: int) -> torch.Tensor:
    if x.shape[-2:] == (res, res):
        return x
    return F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False,
                         antialias=min(x.shape[-2:]) > res)


def _working_resolution(G, cap: int) -> int:
    res = G.resolution if cap <= 0 else min(G.resolution, cap)
    return 1 << int(math.floor(math.log2(max(res, 4))))


class _Renderer:
    """W+ -> 0..1 images at a given resolution, cutting the synthesis short where that is enough."""

    def __init__(self, G, device: torch.device, noise_mode: str, mixed_precision: bool):
        self.G = G
        self.noise_mode = noise_mode
        self.bf16 = mixed_precision and device.type == "cuda"

    def __call__(self, ws: torch.Tensor, res: int) -> torch.Tensor:
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with autocast:
            img = self.G.synthesis(ws, noise_mode=self.noise_mode,
                                   max_resolution=res if res < self.G.resolution else None)
        img = (img.float() + 1) * 0.5
        return _resize(img, res)


def _one_sided(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixels where the target sits at 0 or 1 only count when the prediction is on the wrong side.

    Generators overshoot -1..1, and a target clipped to the range says nothing about how far beyond
    it the generator may go; clamping the prediction instead (as the original did) would stop the
    gradient wherever the prediction is out of range, even where the target is not.
    """
    pred = torch.where((target >= 1) & (pred > 1), target, pred)
    return torch.where((target <= 0) & (pred < 0), target, pred)


class _Recorder:
    """Compact loss history, per-face PSNR tracking, progress with previews, cancel and divergence checks."""

    def __init__(self, rt: Runtime, total: int, names: list[str], targets: torch.Tensor, settings: TrainSettings,
                 callback: Optional[StepCallback], status_note: str):
        self.rt, self.names, self.targets, self.settings = rt, names, targets, settings
        self.progress = rt.progress(total, "training FaceSpace")
        self.callback = callback
        self.note = status_note
        self.every = max(1, total // HISTORY_POINTS)
        self.history: dict[str, list] = {"step": [], "loss": [], "psnr_min": [], "psnr_mean": [], "phase": []}
        self.psnr = torch.full((len(names),), float("-inf"))
        self.step = 0
        self.t0 = time.perf_counter()

    def check(self, loss: torch.Tensor, phase: str) -> float:
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
        if self.step % self.every == 0 or self.step == 1:
            finite = self.psnr[torch.isfinite(self.psnr)]
            self.history["step"].append(self.step)
            self.history["loss"].append(round(loss, 6))
            self.history["psnr_min"].append(round(float(finite.min()), 3) if len(finite) else None)
            self.history["psnr_mean"].append(round(float(finite.mean()), 3) if len(finite) else None)
            self.history["phase"].append(phase)
        if self.callback is not None:
            self.callback(self.step, time.perf_counter() - self.t0, self.psnr.clone(), phase)
        preview = None
        every = self.settings.preview_every
        if every > 0 and (self.step % every == 0 or self.step == 1):
            shown = preview_fn()
            if shown is not None:
                preview = preview_grid(shown, self.targets)
        status = f"{phase} loss {loss:.4g} PSNR min {float(self.psnr.min()):.1f} dB{self.note}"
        self.progress.update(1, preview=preview, status=status)
        self.rt.check_cancel()

    def reached(self, target_psnr: float) -> bool:
        return target_psnr > 0 and bool((self.psnr >= target_psnr).all())

    def close(self):
        self.progress.close()


def preview_grid(recon01: torch.Tensor, targets01: torch.Tensor, max_tile: int = 256, min_tile: int = 96):
    """Reconstructions (top row) above targets (bottom row), one column per face, as a PIL image."""
    n = recon01.shape[0]
    tile = max(min_tile, min(max_tile, targets01.shape[-1]))
    pics = native_to_pil(_resize(recon01.float().cpu(), tile) * 2 - 1) + native_to_pil(
        _resize(targets01.float().cpu(), tile) * 2 - 1)
    return grid(pics, cols=n)


def _lr_at(settings: TrainSettings, cycle: int, frac: float, last: bool) -> float:
    """Learning rate: x anneal per cycle; the last cycle of the fast schedule decays by cosine to a tenth."""
    lr = settings.lr * settings.anneal ** cycle
    if last:
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))
    return lr


def train_facespace(stylegan, images, names=None, settings: TrainSettings | None = None,
                    runtime: Runtime | None = None, callback: Optional[StepCallback] = None) -> FaceSpace:
    """Learn a FaceSpace for `stylegan` (a StyleGAN or a bare Generator) from aligned faces.

    images: IMAGE batch [N,H,W,3] in 0..1 (or a list of PIL images); names: list or comma/newline string.
    Raises TrainingDivergedError on NaN/inf, Cancelled when the user stops it.
    """
    rt = get_runtime(runtime)
    settings = settings or TrainSettings()
    G = getattr(stylegan, "generator", stylegan)
    targets_full = _as_unit_images(images)
    n = targets_full.shape[0]
    if n < 1:
        raise FaceSpaceError("no faces given to train on; connect an IMAGE batch of aligned faces")
    names = face_names(names, n)
    noise_mode = getattr(stylegan, "noise_mode", "const")
    noise_mode = "none" if noise_mode == "none" else "const"
    device = rt.device()
    res = _working_resolution(G, settings.resolution)

    vgg, perceptual_note = None, ""
    if settings.perceptual_weight > 0:
        path = find_vgg16(rt.model_dirs("vgg"))
        if path is None:
            perceptual_note = (f"perceptual loss off: no VGG16 weights (torchvision layout) in "
                               f"{', '.join(str(d) for d in rt.model_dirs('vgg'))}")
            warnings.warn(perceptual_note, stacklevel=2)
        else:
            vgg = load_vgg16(path).to(device)
            perceptual_note = f"perceptual loss on: {path.name}"

    requires_grad = [p.requires_grad for p in G.parameters()]
    t0 = time.perf_counter()
    try:
        with rt.grad_enabled():
            Gd = rt.load(G)
            for p in Gd.parameters():
                p.requires_grad_(False)
            w_avg = Gd.w_avg.detach().float().to(device).clone()
            render = _Renderer(Gd, device, noise_mode, settings.mixed_precision)
            run = _run_original if settings.schedule == "original" else _run_fast
            encoder, table, recorder = run(render, Gd, w_avg, targets_full, names, settings, res, vgg, rt, device,
                                           callback, "; " + perceptual_note if perceptual_note else "")
            final = _final_psnr(render, encoder, targets_full, n, res, device)
    finally:
        for p, flag in zip(G.parameters(), requires_grad):
            p.requires_grad_(flag)

    metadata = {
        "settings": settings.to_dict(),
        "psnr": {name: round(float(v), 3) for name, v in zip(names, final)},
        "psnr_resolution": res,
        "loss_history": recorder.history,
        "steps_run": recorder.step,
        "seconds": round(time.perf_counter() - t0, 2),
        "perceptual": perceptual_note or "perceptual loss off (weight 0)",
        "noise_mode": noise_mode,
        "device": str(device),
        "generator_name": getattr(stylegan, "name", "") or "",
    }
    encoder = encoder.cpu().float()
    fs = FaceSpace(names, encoder, settings.encoder, table.detach().float().cpu(), G.resolution, G.fingerprint(),
                   metadata, stylegan=stylegan if hasattr(stylegan, "generator") else None)
    return fs


@torch.no_grad()
def _final_psnr(render, encoder, targets_full, n, res, device) -> torch.Tensor:
    target = _resize(targets_full, res).to(device)
    out = []
    for i in range(0, n, 8):
        codes = torch.eye(n, device=device)[i:i + 8]
        out.append(psnr(render(encoder(codes), res), target[i:i + 8]).cpu())
    return torch.cat(out)


def _loss_for(settings: TrainSettings, targets: torch.Tensor, vgg, clamp: bool) -> ImageLoss:
    return ImageLoss(targets, pixel=settings.pixel_weight, l1=settings.l1_weight,
                     structural=settings.structural_weight, perceptual=settings.perceptual_weight, vgg=vgg,
                     perceptual_size=settings.perceptual_resolution, clamp=clamp)


def _seeded_encoder(settings, n, G, w_avg, device, centred: bool):
    enc = make_encoder(settings.encoder, n, G.num_ws, G.w_dim, w_avg=w_avg.cpu() if centred else None,
                       seed=settings.seed)
    return enc.to(device)


# --- the original schedule ----------------------------------------------------------------------------------


def _run_original(render, G, w_avg, targets_full, names, settings, res, vgg, rt, device, callback, note):
    n = len(names)
    targets = _resize(targets_full, res).to(device)
    loss_fn = _loss_for(settings, targets, vgg, clamp=True)
    encoder = _seeded_encoder(settings, n, G, w_avg, device, centred=settings.encoder == "linear")
    table = w_avg.view(1, 1, -1).repeat(n, G.num_ws, 1).requires_grad_(True)
    codes = torch.eye(n, device=device)
    batch = settings.batch_size or n
    per_epoch = math.ceil(n / batch)
    phases = [("target propagation", settings.steps, settings.lr, settings.pull_weight, loss_fn)]
    lr = settings.lr
    for c in range(settings.cycles):
        phases.append((f"cycle {c + 1}", settings.steps, lr, 0.0, loss_fn))
        lr *= settings.anneal
    if settings.pixel_finetune:
        phases.append(("pixel fine-tune", max(1, settings.steps // 2), lr, 0.0, loss_fn.scaled(100.0)))
    total = sum(p[1] for p in phases) * per_epoch
    recorder = _Recorder(rt, total, names, targets_full, settings, callback, note)
    shuffler = torch.Generator().manual_seed(settings.seed)

    def preview():
        with torch.no_grad():
            return render(encoder(codes), res)

    try:
        for phase, epochs, lr, pull, phase_loss in phases:
            # Each phase starts fresh optimisers, as the original did.
            opt = torch.optim.Adam(encoder.parameters(), lr=lr)
            table_opt = torch.optim.Adam([table], lr=lr)
            for _ in range(epochs):
                order = torch.randperm(n, generator=shuffler).to(device)
                for b in range(per_epoch):
                    idx = order[b * batch:(b + 1) * batch]
                    pull_loss = torch.zeros((), device=device)
                    if pull > 0:
                        table_before = table[idx].detach().clone()
                        t_loss, _ = phase_loss(render(table[idx], res), idx)
                        table_opt.zero_grad(set_to_none=True)
                        recorder.check(t_loss.mean(), phase)
                        t_loss.mean().backward()
                        table_opt.step()
                        pull_loss = (encoder(codes[idx]) - table_before).square().mean()
                    img = render(encoder(codes[idx]), res)
                    i_loss, _ = phase_loss(img, idx)
                    loss = i_loss.mean() + pull * pull_loss
                    value = recorder.check(loss, phase)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    recorder.measure(idx, img.detach(), targets[idx])
                    recorder.update(value, phase, preview)
                    if recorder.reached(settings.target_psnr):
                        return encoder, table, recorder
    finally:
        recorder.close()
    return encoder, table, recorder


# --- our fast schedule --------------------------------------------------------------------------------------


def _best_candidates(render, G, targets: torch.Tensor, count: int, keep: int, psi: float, seed: int,
                     device) -> torch.Tensor:
    """For each target, the `keep` closest of the mean W and `count` sampled (truncated) W: [N,keep,w_dim]."""
    gen = torch.Generator().manual_seed(seed + 7919)
    res = min(targets.shape[-1], CANDIDATE_RESOLUTION)
    targets = _resize(targets, res)
    with torch.no_grad():
        pool_w = G.w_avg.detach().float().view(1, -1).to(device)
        img = render(pool_w.view(1, 1, -1).expand(1, G.num_ws, -1), res).clamp(0, 1)
        pool_d = (img[None] - targets[:, None]).square().flatten(2).mean(2)  # [N,1]
        pool_w = pool_w.expand(targets.shape[0], 1, -1)  # [N,1,w_dim]
        for start in range(0, count, 32):
            z = torch.randn(min(32, count - start), G.z_dim, generator=gen).to(device)
            ws = G.mapping(z, psi=psi)
            img = render(ws, res).clamp(0, 1)
            d = (img[None] - targets[:, None]).square().flatten(2).mean(2)  # [N,K]
            all_d = torch.cat([pool_d, d], 1)
            all_w = torch.cat([pool_w, ws[None, :, 0].float().expand(targets.shape[0], -1, -1)], 1)
            pool_d, order = all_d.topk(min(keep, all_d.shape[1]), dim=1, largest=False)
            pool_w = torch.gather(all_w, 1, order[..., None].expand(-1, -1, all_w.shape[-1]))
    return pool_w


def _run_fast(render, G, w_avg, targets_full, names, settings, res, vgg, rt, device, callback, note):
    """All faces in one batch. W+ = w (one per face, broadcast) + per-layer offsets. The shared w moves first,
    from several of the closest sampled faces at once (replicas) for a few steps, keeping the best; then every
    layer is free. Then the table is distilled into the encoder."""
    n = len(names)
    batch = settings.batch_size or n
    coarse = res // 4 if settings.coarse_to_fine and res >= 32 else res
    stages = settings.steps * max(settings.cycles, 1)
    mlp_extra = settings.finetune_steps if settings.encoder == "mlp" else 0
    recorder = _Recorder(rt, stages + mlp_extra, names, targets_full, settings, callback, note)
    losses = {r: _loss_for(settings, _resize(targets_full, r).to(device), vgg, clamp=False) for r in {coarse, res}}
    shared_steps = int(stages * settings.shared_w_fraction)
    replicas = max(1, settings.init_replicas) if settings.init_candidates > 0 else 1
    probe_steps = min(settings.replica_steps, shared_steps) if replicas > 1 else 0
    if settings.init_candidates > 0:
        starts = _best_candidates(render, G, losses[res].targets, settings.init_candidates,
                                  replicas if probe_steps else 1, 0.7, settings.seed, device)
    else:
        starts = w_avg.view(1, 1, -1).repeat(n, 1, 1)
    replicas = starts.shape[1]
    face_of_row = torch.arange(n, device=device).repeat_interleave(replicas)
    base = starts.reshape(n * replicas, 1, G.w_dim).clone().requires_grad_(True)
    offsets = torch.zeros(n, G.num_ws, G.w_dim, device=device, requires_grad=True)
    opt = torch.optim.Adam([{"params": [base]}, {"params": [offsets]}], lr=settings.lr, betas=(0.9, 0.99))
    coarse_steps = stages // 5 if coarse < res else 0
    warmup = max(10, stages // 10)
    # Stop early once every face is this good; the MLP needs headroom for its distillation.
    stop_at = settings.target_psnr + (1.0 if settings.encoder == "mlp" and settings.target_psnr > 0 else 0.0)
    last_img = {}

    try:
        step = 0
        done = False
        cycles = max(settings.cycles, 1)
        for cycle in range(cycles):
            for s in range(settings.steps):
                if replicas > 1 and step == probe_steps:
                    base, opt = _keep_best_replicas(base, offsets, opt, row_loss, n, replicas)
                    replicas, face_of_row = 1, torch.arange(n, device=device)
                r = coarse if step < coarse_steps else res
                lr = _lr_at(settings, cycle, s / max(settings.steps - 1, 1), cycle == cycles - 1)
                opt.param_groups[0]["lr"] = lr
                # Adam's first steps move every coordinate by about lr: let the freed layers warm up.
                opt.param_groups[1]["lr"] = lr * min(1.0, max(0, step - shared_steps + 1) / warmup)
                loss_fn = losses[r]
                opt.zero_grad(set_to_none=True)
                value = 0.0
                shown = []
                row_loss = torch.empty(base.shape[0], device=device)
                free_layers = step >= shared_steps
                # Faces are independent, so chunks only bound memory: gradients add up to the full batch's.
                for rows in torch.arange(base.shape[0], device=device).split(batch * replicas):
                    faces = face_of_row[rows]
                    ws = base[rows] + (offsets[faces] if free_layers else offsets[faces].detach())
                    img = render(ws, r)
                    target = loss_fn.targets[faces]
                    per_row, _ = loss_fn(_one_sided(img, target), faces)
                    loss = per_row.sum()
                    value += recorder.check(loss, "W+")
                    loss.backward()
                    row_loss[rows] = per_row.detach()
                    if replicas == 1:
                        recorder.measure(faces, img.detach(), target)
                        shown.append(img.detach())
                    else:
                        best = psnr(img.detach(), target).view(-1, replicas).max(1)
                        recorder.psnr[faces.view(-1, replicas)[:, 0].cpu()] = best.values.cpu()
                        pick = best.indices + torch.arange(0, len(rows), replicas, device=device)
                        shown.append(img.detach()[pick])
                opt.step()
                if shown and r == res:
                    last_img["img"] = torch.cat(shown)
                recorder.update(value, "W+", lambda: last_img.get("img"))
                step += 1
                if r == res and replicas == 1 and recorder.reached(stop_at):
                    done = True
                    break
            if done:
                break
        if replicas > 1:
            base, opt = _keep_best_replicas(base, offsets, opt, row_loss, n, replicas)
        table = (base + offsets).detach()
        encoder = _seeded_encoder(settings, n, G, w_avg, device, centred=True)
        if settings.encoder == "linear":
            encoder.set_face_codes(table)
        else:
            _distil(encoder, table, settings, device)
            _finetune_mlp(encoder, render, losses[res], settings, res, n, recorder, device)
    finally:
        recorder.close()
    return encoder, table, recorder


def _keep_best_replicas(base, offsets, opt, row_loss, n, replicas):
    """Keep each face's best replica (lowest loss in the last step), carrying its Adam state over."""
    best = row_loss.view(n, replicas).argmin(1) + torch.arange(n, device=row_loss.device) * replicas
    kept = base.detach()[best].clone().requires_grad_(True)
    old = opt.state.get(base, {})
    new_opt = torch.optim.Adam([{"params": [kept]}, {"params": [offsets]}], lr=opt.param_groups[0]["lr"],
                               betas=opt.param_groups[0]["betas"])
    if old:
        new_opt.state[kept] = {"step": old["step"].clone(), "exp_avg": old["exp_avg"][best].clone(),
                               "exp_avg_sq": old["exp_avg_sq"][best].clone()}
    if offsets in opt.state:
        new_opt.state[offsets] = opt.state[offsets]
    return kept, new_opt


def _distil(encoder, table, settings, device) -> None:
    """Fit the MLP to the W+ table: a few regression steps, then the output layer solved exactly.

    With N faces and at least N hidden units the last layer can reproduce every face's W+ exactly;
    least squares gives the smallest such layer, so no generator pass is needed.
    """
    codes = torch.eye(table.shape[0], device=device)
    target = (table - encoder.base).flatten(1)
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    steps = settings.distill_steps
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = 1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * i / max(steps - 1, 1))))
        loss = (encoder(codes) - table).square().mean()
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"distilling the W+ table into the MLP diverged at step {i + 1}; "
                                        f"nothing was saved")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        hidden = encoder.hidden_features(codes).double()
        design = torch.cat([hidden, torch.ones_like(hidden[:, :1])], 1)
        solution = torch.linalg.lstsq(design.cpu(), target.double().cpu(), driver="gelsd").solution.to(device)
        last = encoder.layers[-1]
        last.weight.copy_((solution[:-1].T / last.scale).to(last.weight.dtype))
        last.bias.copy_(solution[-1].to(last.bias.dtype))
        residual = (encoder(codes) - table).abs().max()
        if not torch.isfinite(residual):
            raise TrainingDivergedError("distilling the W+ table into the MLP gave NaN; nothing was saved")


def _finetune_mlp(encoder, render, loss_fn, settings, res, n, recorder, device) -> None:
    """A few steps of the MLP through the generator to close what the regression left."""
    codes = torch.eye(n, device=device)
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    last = {}
    for i in range(settings.finetune_steps):
        idx = torch.arange(n, device=device)
        img = render(encoder(codes), res)
        per_face, _ = loss_fn(_one_sided(img, loss_fn.targets), idx)
        loss = per_face.sum()
        value = recorder.check(loss, "encoder")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last["img"] = img.detach()
        recorder.measure(idx, img.detach(), loss_fn.targets)
        recorder.update(value, "encoder", lambda: last.get("img"))
        if recorder.reached(settings.target_psnr):
            break
