"""sRGB <-> CIE Lab (D65) in torch, for matching a face's colours to a photo's."""
from __future__ import annotations

import torch

_RGB_TO_XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                            [0.2126729, 0.7151522, 0.0721750],
                            [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_EPS = 216 / 24389   # CIE's (6/29)^3
_KAPPA = 24389 / 27


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """[..., 3] sRGB in 0..1 -> [..., 3] Lab (L 0..100)."""
    rgb = rgb.clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.to(rgb).T / _WHITE.to(rgb)
    f = torch.where(xyz > _EPS, xyz.clamp_min(_EPS) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    return torch.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], dim=-1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """[..., 3] Lab -> [..., 3] sRGB in 0..1 (clamped)."""
    fy = (lab[..., 0] + 16) / 116
    f = torch.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], dim=-1)
    xyz = torch.where(f ** 3 > _EPS, f ** 3, (116 * f - 16) / _KAPPA) * _WHITE.to(lab)
    linear = (xyz @ torch.linalg.inv(_RGB_TO_XYZ).to(lab).T).clamp(0, 1)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)
