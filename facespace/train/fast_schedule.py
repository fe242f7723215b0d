"""Our fast schedule: all faces in one batch, W+ optimised directly, then handed to the encoder.

W+ = w (one per face, broadcast over the layers) + per-layer offsets. Each face starts from the closest
of `init_candidates` sampled faces; its best `init_replicas` starts move at once for `replica_steps`
steps and the best one is kept. The shared w moves alone for the first `shared_w_fraction` of the steps,
then every layer is free. The finished table goes into the encoder (distill.py).
"""
from __future__ import annotations

import math

import torch

from .distill import distil_into_mlp, finetune_through_generator
from .job import TrainingJob
from .losses import psnr
from .rendering import one_sided, resize
from .settings import TrainSettings

CANDIDATE_RESOLUTION = 64  # sampled starting faces are compared with the targets at this size
CANDIDATE_PSI = 0.7


def run_fast(job: TrainingJob):
    """-> (encoder, W+ table, recorder)."""
    s = job.settings
    stages = s.steps * max(s.cycles, 1)
    recorder = job.recorder(stages + (s.finetune_steps if s.encoder == "mlp" else 0))
    coarse = job.res // 4 if s.coarse_to_fine and job.res >= 32 else job.res
    losses = {r: job.loss(job.targets_at(r), clamp=False) for r in {coarse, job.res}}
    try:
        table = _optimise_table(job, recorder, losses, coarse)
        encoder = job.new_encoder(centred=True)
        if s.encoder == "linear":
            encoder.set_face_codes(table)
        else:
            distil_into_mlp(encoder, table, s.distill_steps, job.device)
            finetune_through_generator(encoder, job.render, losses[job.res], job.res, s.finetune_steps,
                                       s.target_psnr, recorder, job.device)
    finally:
        recorder.close()
    return encoder, table, recorder


def lr_at(settings: TrainSettings, cycle: int, frac: float, last: bool) -> float:
    """Learning rate: x anneal per cycle; the last cycle decays by cosine to a tenth."""
    lr = settings.lr * settings.anneal ** cycle
    if last:
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))
    return lr


def _optimise_table(job: TrainingJob, recorder, losses: dict, coarse: int) -> torch.Tensor:
    """The per-face W+ table [N,num_ws,w_dim], optimised against the image losses."""
    s, n, device, res, G = job.settings, job.n, job.device, job.res, job.G
    batch = s.batch_size or n
    stages = s.steps * max(s.cycles, 1)
    shared_steps = int(stages * s.shared_w_fraction)
    replicas = max(1, s.init_replicas) if s.init_candidates > 0 else 1
    probe_steps = min(s.replica_steps, shared_steps) if replicas > 1 else 0
    if s.init_candidates > 0:
        starts = best_candidates(job, losses[res].targets, s.init_candidates, replicas if probe_steps else 1)
    else:
        starts = job.w_avg.view(1, 1, -1).repeat(n, 1, 1)
    replicas = starts.shape[1]
    face_of_row = torch.arange(n, device=device).repeat_interleave(replicas)
    base = starts.reshape(n * replicas, 1, G.w_dim).clone().requires_grad_(True)
    offsets = torch.zeros(n, G.num_ws, G.w_dim, device=device, requires_grad=True)
    opt = torch.optim.Adam([{"params": [base]}, {"params": [offsets]}], lr=s.lr, betas=(0.9, 0.99))
    coarse_steps = stages // 5 if coarse < res else 0
    warmup = max(10, stages // 10)
    # Stop early once every face is this good; the MLP needs headroom for its distillation.
    stop_at = s.target_psnr + (1.0 if s.encoder == "mlp" and s.target_psnr > 0 else 0.0)
    last_img = {}
    cycles = max(s.cycles, 1)
    step = 0
    row_loss = None  # each row's loss at the last step, filled in below; judges the replicas
    for cycle in range(cycles):
        for i in range(s.steps):
            if replicas > 1 and step == probe_steps:
                base, opt = keep_best_replicas(base, offsets, opt, row_loss, n, replicas)
                replicas, face_of_row = 1, torch.arange(n, device=device)
            r = coarse if step < coarse_steps else res
            lr = lr_at(s, cycle, i / max(s.steps - 1, 1), cycle == cycles - 1)
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
                img = job.render(ws, r)
                target = loss_fn.targets[faces]
                per_row, _ = loss_fn(one_sided(img, target), faces)
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
                return (base + offsets).detach()
    if replicas > 1:
        base, opt = keep_best_replicas(base, offsets, opt, row_loss, n, replicas)
    return (base + offsets).detach()


def best_candidates(job: TrainingJob, targets: torch.Tensor, count: int, keep: int) -> torch.Tensor:
    """For each target, the `keep` closest of the mean W and `count` sampled (truncated) W: [N,keep,w_dim]."""
    G, device = job.G, job.device
    gen = torch.Generator().manual_seed(job.settings.seed + 7919)
    res = min(targets.shape[-1], CANDIDATE_RESOLUTION)
    targets = resize(targets, res)
    with torch.no_grad():
        pool_w = G.w_avg.detach().float().view(1, -1).to(device)
        img = job.render(pool_w.view(1, 1, -1).expand(1, G.num_ws, -1), res).clamp(0, 1)
        pool_d = (img[None] - targets[:, None]).square().flatten(2).mean(2)  # [N,1]
        pool_w = pool_w.expand(targets.shape[0], 1, -1)  # [N,1,w_dim]
        for start in range(0, count, 32):
            z = torch.randn(min(32, count - start), G.z_dim, generator=gen).to(device)
            ws = G.mapping(z, psi=CANDIDATE_PSI)
            img = job.render(ws, res).clamp(0, 1)
            d = (img[None] - targets[:, None]).square().flatten(2).mean(2)  # [N,K]
            all_d = torch.cat([pool_d, d], 1)
            all_w = torch.cat([pool_w, ws[None, :, 0].float().expand(targets.shape[0], -1, -1)], 1)
            pool_d, order = all_d.topk(min(keep, all_d.shape[1]), dim=1, largest=False)
            pool_w = torch.gather(all_w, 1, order[..., None].expand(-1, -1, all_w.shape[-1]))
    return pool_w


def keep_best_replicas(base, offsets, opt, row_loss, n, replicas):
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
