"""Handing a W+ table to the MLP encoder: regression, an exact output layer, a short fine-tune."""
from __future__ import annotations

import math

import torch

from ..errors import TrainingDivergedError
from .rendering import one_sided


def distil_into_mlp(encoder, table: torch.Tensor, steps: int, device) -> None:
    """Fit the MLP to the W+ table: a few regression steps, then the output layer solved exactly.

    With N faces and at least N hidden units the last layer can reproduce every face's W+ exactly;
    least squares gives the smallest such layer, so no generator pass is needed.
    """
    codes = torch.eye(table.shape[0], device=device)
    target = (table - encoder.base).flatten(1)
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-3)
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


def finetune_through_generator(encoder, render, loss_fn, res: int, steps: int, target_psnr: float, recorder,
                               device) -> None:
    """A few steps of the MLP through the generator to close what the regression left."""
    n = loss_fn.targets.shape[0]
    codes = torch.eye(n, device=device)
    idx = torch.arange(n, device=device)
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    last = {}
    for _ in range(steps):
        img = render(encoder(codes), res)
        per_face, _ = loss_fn(one_sided(img, loss_fn.targets), idx)
        loss = per_face.sum()
        value = recorder.check(loss, "encoder")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last["img"] = img.detach()
        recorder.measure(idx, img.detach(), loss_fn.targets)
        recorder.update(value, "encoder", lambda: last.get("img"))
        if recorder.reached(target_psnr):
            break
