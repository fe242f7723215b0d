"""Conversions between the three image forms the library meets.

- native: generator output, float [N,3,H,W], range about -1..1
- IMAGE:  ComfyUI's layout, float32 [N,H,W,3], 0..1, on the CPU
- PIL:    8-bit RGB pictures for files and previews
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image


def native_to_image(x: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] in -1..1 -> [N,H,W,3] float32 in 0..1 on the CPU."""
    return ((x.detach().float() + 1) * 0.5).clamp(0, 1).permute(0, 2, 3, 1).contiguous().cpu()


def image_to_native(img: torch.Tensor) -> torch.Tensor:
    """[N,H,W,C] in 0..1 -> [N,3,H,W] in -1..1 (greyscale repeated, alpha dropped)."""
    if img.ndim == 3:
        img = img.unsqueeze(0)
    if img.ndim != 4:
        raise ValueError(f"expected an image batch [N,H,W,C], got shape {tuple(img.shape)}")
    c = img.shape[-1]
    if c == 1:
        img = img.expand(*img.shape[:3], 3)
    elif c == 4:
        img = img[..., :3]
    elif c != 3:
        raise ValueError(f"expected 1, 3 or 4 channels, got {c}")
    return img.float().permute(0, 3, 1, 2).mul(2).sub(1).contiguous()


def image_to_pil(img: torch.Tensor) -> list[Image.Image]:
    """[N,H,W,3] 0..1 (or a single [H,W,3]) -> list of RGB PIL images."""
    if img.ndim == 3:
        img = img.unsqueeze(0)
    arr = (img.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return [Image.fromarray(a[..., :3] if a.shape[-1] >= 3 else a[..., 0]).convert("RGB") for a in arr]


def pil_to_image(pics: Sequence[Image.Image] | Image.Image) -> torch.Tensor:
    """RGB PIL image(s) of one size -> [N,H,W,3] float32 0..1."""
    if isinstance(pics, Image.Image):
        pics = [pics]
    arrs = [np.asarray(p.convert("RGB"), dtype=np.float32) / 255.0 for p in pics]
    return torch.from_numpy(np.stack(arrs))


def native_to_pil(x: torch.Tensor) -> list[Image.Image]:
    return image_to_pil(native_to_image(x))


def grid(pics: Sequence[Image.Image], cols: int, pad: int = 4, bg=(255, 255, 255)) -> Image.Image:
    """Tile equally sized pictures row by row."""
    if not pics:
        raise ValueError("grid needs at least one picture")
    w, h = pics[0].size
    rows = (len(pics) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad), bg)
    for i, p in enumerate(pics):
        r, c = divmod(i, cols)
        sheet.paste(p.convert("RGB").resize((w, h)), (pad + c * (w + pad), pad + r * (h + pad)))
    return sheet
