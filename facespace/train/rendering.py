"""Rendering for training: W+ -> 0..1 images at the working resolution."""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, res: int) -> torch.Tensor:
    """Square [N,C,H,W] images to res x res (antialiased when shrinking); the same tensor when already that size."""
    if x.shape[-2:] == (res, res):
        return x
    return F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False,
                         antialias=min(x.shape[-2:]) > res)


def working_resolution(G, cap: int) -> int:
    """The generator's resolution, at most `cap` (0 = no cap), as a power of two."""
    res = G.resolution if cap <= 0 else min(G.resolution, cap)
    return 1 << int(math.floor(math.log2(max(res, 4))))


class Renderer:
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
        return resize(img, res)


def one_sided(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixels where the target sits at 0 or 1 only count when the prediction is on the wrong side.

    Generators overshoot -1..1, and a target clipped to the range says nothing about how far beyond
    it the generator may go; clamping the prediction instead (as the original did) would stop the
    gradient wherever the prediction is out of range, even where the target is not.
    """
    pred = torch.where((target >= 1) & (pred > 1), target, pred)
    return torch.where((target <= 0) & (pred < 0), target, pred)
