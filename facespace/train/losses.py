"""Image losses on 0..1 images [N,3,H,W], each returned per sample ([N]).

Weights-free: pixel MSE and L1, 1 - MS-SSIM. With VGG16 weights on disk (torchvision layout,
`features.N.weight`), also the original's perceptual loss: MSE of the ReLU output after each of the
13 convolutions of VGG16, on images resized to 256 px. The network is defined here; nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelFormatError

# --- pixel losses -----------------------------------------------------------------------------------------


def mse_per_sample(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).square().flatten(1).mean(1)


def l1_per_sample(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).abs().flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR in dB of 0..1 images (both clamped to 0..1)."""
    mse = mse_per_sample(x.detach().float().clamp(0, 1), y.detach().float().clamp(0, 1))
    return -10 * torch.log10(mse.clamp_min(1e-12))


# --- structural loss --------------------------------------------------------------------------------------

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    r = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mx * mx
    syy = _blur(y * y, g) - my * my
    sxy = _blur(x * y, g) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return ssim.flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-sample multi-scale SSIM of 0..1 images, with as many of the 5 scales as the size allows.

    Each scale's term (-1..1) is mapped to (1 + t) / 2 before the weighted product, so that images far
    apart (negative correlation) still give a gradient instead of a clipped zero; equal images give 1.
    """
    size = min(x.shape[-2:])
    window = min(window, size - 1 if size % 2 == 0 else size)
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and size // 2 ** levels >= window:
        levels += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], device=x.device, dtype=x.dtype)
    weights = weights / weights.sum()
    g = _gaussian_window(window, sigma, x.device, x.dtype)
    factors = []
    for i in range(levels):
        ssim, cs = _ssim_and_cs(x, y, g)
        if i < levels - 1:
            factors.append(((1 + cs) * 0.5).clamp_min(1e-6))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            factors.append(((1 + ssim) * 0.5).clamp_min(1e-6))
    return torch.stack(factors, 0).pow(weights.view(-1, 1)).prod(0)


# --- perceptual loss --------------------------------------------------------------------------------------

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """VGG16's convolutional part in torchvision's layout (`features.N`), returning every conv's ReLU output."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16_CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        taps = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                taps.append(x)
        return taps


VGG_SUFFIXES = (".pth", ".pt", ".safetensors")


def find_vgg16(dirs: Iterable[Path]) -> Optional[Path]:
    """The first file in the VGG model folders whose name mentions vgg16 (or the only weights file there)."""
    candidates: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_dir():
            candidates += sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in VGG_SUFFIXES)
    named = [p for p in candidates if "vgg16" in p.name.lower() and "bn" not in p.name.lower()]
    if named:
        return named[0]
    return candidates[0] if len(candidates) == 1 else None


def load_vgg16(path: Path) -> VGG16Features:
    """VGG16 features from a torchvision-layout state dict (`.pth` through the bounded torch-file reader, or
    `.safetensors`)."""
    path = Path(path)
    from ..limits import check_finite, one_line
    from ..safetensors_file import read_tensors
    from ..stylegan.safe_pickle import read_torch_file

    try:
        state = read_tensors(path) if path.suffix.lower() == ".safetensors" else read_torch_file(path)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path} is not a readable VGG16 weights file: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelFormatError(f"{path} is not a VGG16 state dict (torchvision layout, features.N.weight expected)")
    net = VGG16Features()
    wanted = {k for k in net.state_dict() if k.startswith("features.")}
    feats = {k: v for k, v in state.items() if k in wanted}
    missing = sorted(wanted - set(feats))
    if missing:
        raise ModelFormatError(f"{path} is not a VGG16 state dict in torchvision layout: missing {missing[:4]}...")
    check_finite(feats, str(path))
    try:
        net.load_state_dict(feats, strict=False)
    except RuntimeError as exc:
        raise ModelFormatError(f"{path} does not hold VGG16 weights of the expected shapes: "
                               f"{one_line(str(exc))[:200]}") from None
    net.eval().requires_grad_(False)
    return net


class PerceptualLoss(nn.Module):
    """Sum over VGG16 taps of the feature MSE, per sample, on images resized to `size` px."""

    def __init__(self, vgg: VGG16Features, size: int = 256):
        super().__init__()
        self.vgg = vgg
        self.size = size

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        return self.vgg(x)

    def forward(self, x: torch.Tensor, target_features: list[torch.Tensor]) -> torch.Tensor:
        total = x.new_zeros(x.shape[0])
        for a, b in zip(self.features(x), target_features):
            total = total + (a.float() - b.float()).square().flatten(1).mean(1)
        return total


# --- the combined loss ------------------------------------------------------------------------------------


class ImageLoss(nn.Module):
    """Weighted sum of the image losses against fixed targets; `forward(pred, idx)` gives per-sample totals.

    `clamp` clamps predictions to 0..1 first, as the original did (it stops gradients on out-of-range pixels).
    """

    def __init__(self, targets: torch.Tensor, pixel: float = 1.0, l1: float = 0.0, structural: float = 0.0,
                 perceptual: float = 0.0, vgg: Optional[VGG16Features] = None, perceptual_size: int = 256,
                 clamp: bool = False):
        super().__init__()
        self.targets = targets
        self.weights = {"pixel": float(pixel), "l1": float(l1), "structural": float(structural),
                        "perceptual": float(perceptual) if vgg is not None else 0.0}
        self.clamp = clamp
        self.perceptual = PerceptualLoss(vgg, perceptual_size) if (vgg is not None and perceptual > 0) else None
        self.target_features = None
        if self.perceptual is not None:
            with torch.no_grad():
                self.target_features = [f.detach() for f in self.perceptual.features(targets)]

    def scaled(self, pixel_factor: float) -> "ImageLoss":
        """The same loss with the pixel weight multiplied (the original's pixel fine-tune)."""
        other = ImageLoss.__new__(ImageLoss)
        nn.Module.__init__(other)
        other.targets, other.clamp, other.perceptual = self.targets, self.clamp, self.perceptual
        other.target_features = self.target_features
        other.weights = dict(self.weights, pixel=self.weights["pixel"] * pixel_factor)
        return other

    def forward(self, pred: torch.Tensor, idx: torch.Tensor | slice = slice(None)) -> tuple[torch.Tensor, dict]:
        pred = pred.float()
        if self.clamp:
            pred = pred.clamp(0, 1)
        target = self.targets[idx]
        parts: dict[str, torch.Tensor] = {}
        w = self.weights
        if w["pixel"]:
            parts["pixel"] = mse_per_sample(pred, target)
        if w["l1"]:
            parts["l1"] = l1_per_sample(pred, target)
        if w["structural"]:
            parts["structural"] = 1 - ms_ssim(pred, target)
        if w["perceptual"] and self.perceptual is not None:
            parts["perceptual"] = self.perceptual(pred, [f[idx] for f in self.target_features])
        total = sum(w[k] * v for k, v in parts.items())
        return total, parts
