"""The original research code's schedule: target propagation, then annealed cycles, in batches of faces.

A per-face W+ table (starting at the mean W) follows the image losses with its own Adam while the encoder
learns from the images and is pulled to the table (`pull_weight`) for `steps` epochs; then `cycles` cycles
of `steps` epochs on the images alone, the learning rate x `anneal` after each; optionally `steps // 2`
epochs with 100x pixel loss. Every phase starts fresh optimisers, as the original did.
"""
from __future__ import annotations

import math

import torch

from .job import TrainingJob


def _phases(job: TrainingJob, loss_fn) -> list[tuple]:
    """(name, epochs, learning rate, pull weight, loss) per phase."""
    s = job.settings
    phases = [("target propagation", s.steps, s.lr, s.pull_weight, loss_fn)]
    lr = s.lr
    for c in range(s.cycles):
        phases.append((f"cycle {c + 1}", s.steps, lr, 0.0, loss_fn))
        lr *= s.anneal
    if s.pixel_finetune:
        phases.append(("pixel fine-tune", max(1, s.steps // 2), lr, 0.0, loss_fn.scaled(100.0)))
    return phases


def run_original(job: TrainingJob):
    """-> (encoder, W+ table, recorder)."""
    s, n, device, render, res = job.settings, job.n, job.device, job.render, job.res
    targets = job.targets_at(res)
    loss_fn = job.loss(targets, clamp=True)
    encoder = job.new_encoder(centred=s.encoder == "linear")
    table = job.w_avg.view(1, 1, -1).repeat(n, job.G.num_ws, 1).requires_grad_(True)
    codes = torch.eye(n, device=device)
    batch = s.batch_size or n
    per_epoch = math.ceil(n / batch)
    phases = _phases(job, loss_fn)
    recorder = job.recorder(sum(p[1] for p in phases) * per_epoch)
    shuffler = torch.Generator().manual_seed(s.seed)

    def preview():
        with torch.no_grad():
            return render(encoder(codes), res)

    try:
        for phase, epochs, lr, pull, phase_loss in phases:
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
                    if recorder.reached(s.target_psnr):
                        return encoder, table, recorder
    finally:
        recorder.close()
    return encoder, table, recorder
