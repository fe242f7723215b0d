"""Project Image: any picture batch -> latent (a face photo, or a painting, sketch or poster for its style).

Pictures are made square first (`fit`: 'crop' keeps the middle square, 'pad' adds white bars, 'stretch'
squashes), then the projector (facespace.projection) finds one W+ code per picture for the generator.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import FaceSpaceError
from ..names import clean_name, split_list, unique_names
from ..projection import ProjectionResult, ProjectionSettings, project
from .value import Latent

FITS = ("crop", "pad", "stretch")


def square_pictures(images: torch.Tensor, fit: str = "crop") -> torch.Tensor:
    """IMAGE [N,H,W,C] 0..1 -> [N,3,S,S] 0..1 float32 (S = the longer side for pad, the shorter for crop)."""
    if fit not in FITS:
        raise FaceSpaceError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[0] == 0 or images.shape[-1] not in (1, 3, 4):
        raise FaceSpaceError(f"images: expected an IMAGE batch [N,H,W,3], got "
                             f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    x = images.detach().float().cpu().clone()
    if x.shape[-1] == 1:
        x = x.expand(-1, -1, -1, 3)
    elif x.shape[-1] == 4:  # transparent parts on white, as photos are read
        x = x[..., :3] * x[..., 3:] + (1 - x[..., 3:])
    x = x.permute(0, 3, 1, 2).contiguous()
    h, w = x.shape[-2:]
    if h == w:
        return x
    if fit == "crop":
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        return x[..., top:top + s, left:left + s].contiguous()
    if fit == "pad":
        s = max(h, w)
        top, left = (s - h) // 2, (s - w) // 2
        return F.pad(x, (left, s - w - left, top, s - h - top), value=1.0)
    s = max(h, w)
    return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)


def picture_labels(labels: str | Sequence[str] | None, count: int) -> list[str]:
    given = split_list(labels)
    if not given:
        return ["picture"] if count == 1 else [f"picture {i + 1}" for i in range(count)]
    if len(given) != count:
        raise FaceSpaceError(f"labels: {len(given)} given for {count} picture(s); give one per picture or none")
    return unique_names(clean_name(n) for n in given)


def project_latent(stylegan, images: torch.Tensor, settings: ProjectionSettings | None = None, labels=None,
                   fit: str = "crop", runtime=None, callback=None) -> tuple[Latent, ProjectionResult]:
    """(the pictures' W+ codes as a latent, what the projector reached) for `stylegan`."""
    targets = square_pictures(images, fit)
    names = picture_labels(labels, targets.shape[0])
    result = project(stylegan, targets, settings, runtime=runtime, callback=callback)
    G = stylegan.generator
    return Latent(result.wplus, G.fingerprint(), tuple(names), generator_file=G.source_path), result
