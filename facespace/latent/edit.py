"""Edit latents along a direction: W+ + strength x direction on the chosen layers; a sweep makes a filmstrip."""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ..errors import FaceSpaceError
from .layers import format_layers
from .value import Latent


def pick_direction(directions: torch.Tensor, component: int) -> torch.Tensor:
    """Row `component` of directions [K,num_ws,w_dim] (or [K,w_dim]), refused when out of range."""
    k = directions.shape[0]
    if not 0 <= int(component) < k:
        raise FaceSpaceError(f"component {component} is outside 0..{k - 1} ({k} directions)")
    return directions[int(component)]


def _per_layer(direction: torch.Tensor, latent: Latent) -> torch.Tensor:
    d = direction.detach().double().cpu()
    if d.ndim == 1:
        d = d[None].expand(latent.num_ws, -1)
    if d.shape != (latent.num_ws, latent.w_dim):
        raise FaceSpaceError(f"a direction of shape {tuple(direction.shape)} does not fit W+ "
                             f"{latent.num_ws}x{latent.w_dim}; expected [{latent.w_dim}] or "
                             f"[{latent.num_ws},{latent.w_dim}]")
    return d


def sweep_latent(latent: Latent, direction: torch.Tensor, strengths: Sequence[float], layers: range | None = None,
                 name: str = "edit") -> Latent:
    """Every item at every strength, item by item ([N*S] codes: item 0 at each strength, then item 1 ...).

    Layers outside `layers` (default: all) are left exactly as they were."""
    strengths = [float(s) for s in strengths]
    if not strengths or not all(math.isfinite(s) for s in strengths):
        raise FaceSpaceError(f"edit strengths must be finite numbers, got {strengths}")
    layers = range(latent.num_ws) if layers is None else layers
    if layers.start < 0 or layers.stop > latent.num_ws or len(layers) == 0:
        raise FaceSpaceError(f"layers {format_layers(layers)} are outside 0..{latent.num_ws - 1}")
    d = _per_layer(direction, latent)
    mask = torch.zeros(latent.num_ws, 1, dtype=torch.float64)
    mask[layers.start:layers.stop] = 1
    s = torch.tensor(strengths, dtype=torch.float64)
    ws = latent.wplus.double()[:, None] + s[None, :, None, None] * (mask * d)[None, None]  # [N,S,L,D]
    ws = ws.flatten(0, 1).float()
    keep = torch.ones(latent.num_ws, dtype=torch.bool)
    keep[layers.start:layers.stop] = False
    ws[:, keep] = latent.wplus.repeat_interleave(len(strengths), dim=0)[:, keep]  # exactly as they were
    labels = [f"{label} {name} {st:+g}" for label in latent.labels for st in strengths]
    return latent.replace(ws, labels)


def edit_latent(latent: Latent, direction: torch.Tensor, strength: float, layers: range | None = None,
                name: str = "edit") -> Latent:
    """W+ + strength x direction on `layers` (default all); strength 0 gives the codes back unchanged."""
    if float(strength) == 0:
        return latent
    return sweep_latent(latent, direction, [strength], layers, name)


def sweep_strengths(strength: float, steps: int) -> list[float]:
    """`steps` strengths evenly from -|strength| to +|strength| (one step: just `strength`)."""
    steps = int(steps)
    if steps < 1:
        raise FaceSpaceError(f"sweep steps must be 1 or more, got {steps}")
    if steps == 1:
        return [float(strength)]
    s = abs(float(strength))
    return torch.linspace(-s, s, steps, dtype=torch.float64).tolist()
