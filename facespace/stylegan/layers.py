"""Building blocks shared by both generator families, in plain PyTorch.

Weights are stored as they are trained ("equalized learning rate"): unit-variance values whose
per-layer scale (gain / sqrt(fan_in), times a learning-rate multiplier) is applied at run time.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """PixelNorm: scale each row to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def make_filter(taps) -> torch.Tensor:
    """Separable FIR taps -> normalized 2-D filter (sums to 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def depthwise_fir(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0) -> torch.Tensor:
    """Pad (left, right, top, bottom) then convolve every channel with the 2-D filter `f`."""
    c = x.shape[1]
    x = F.pad(x, list(pad))
    w = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, w, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Zero-insertion 2x upsampling followed by the FIR filter `f` (gain 4 keeps the DC level)."""
    n, c, h, w = x.shape
    fw = f.shape[-1]
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, 1, 0, 0, 0, 1]).reshape(n, c, 2 * h, 2 * w)
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return depthwise_fir(x, f, (p0, p1, p0, p1), gain=4.0)


class EqualLinear(nn.Module):
    """Dense layer with run-time weight scaling.

    `act_gain_first`: StyleGAN1 folds the sqrt(2) activation gain into the weight scale and adds the
    bias after it; StyleGAN2 multiplies by sqrt(2) after bias + leaky ReLU. Both are kept exact.
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str = "linear", gain: float = 1.0, style: str = "stylegan2"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr_mul))
        self.activation = activation
        self.style = style
        self.weight_gain = gain * lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain
        x = torch.addmm(b, x, w.t())
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2)
            if self.style == "stylegan2":
                x = x * SQRT2
        return x


class MappingNetwork(nn.Module):
    """z -> w: PixelNorm on z, then `num_layers` dense layers with leaky ReLU."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, hidden: int | None = None, lr_mul: float = 0.01,
                 style: str = "stylegan2"):
        super().__init__()
        hidden = hidden or w_dim
        feats = [z_dim] + [hidden] * (num_layers - 1) + [w_dim]
        gain = SQRT2 if style == "stylegan1" else 1.0
        for i in range(num_layers):
            self.add_module(f"fc{i}", EqualLinear(feats[i], feats[i + 1], lr_mul=lr_mul, activation="lrelu",
                                                  gain=gain, style=style))
        self.num_layers = num_layers

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     up: bool = False, filt: torch.Tensor | None = None, fused: bool | None = None) -> torch.Tensor:
    """StyleGAN2 modulated convolution: scale input channels by `styles`, optionally demodulate.

    x [N,Ci,H,W], weight [Co,Ci,k,k], styles [N,Ci]. `up` doubles the resolution with a
    transposed convolution followed by the FIR filter `filt`. `fused` picks one grouped convolution
    with per-sample weights (best for one sample) or a shared-weight convolution with the
    modulation applied to activations (best for batches and for gradients); both compute the same.
    """
    n, ci, h, w_ = x.shape
    co, _, kh, kw = weight.shape
    weight = weight.to(x.dtype)
    dcoefs = None
    if demodulate:
        wsq = weight.square().sum(dim=[2, 3])  # [Co,Ci]
        dcoefs = (styles.square() @ wsq.t() + 1e-8).rsqrt()  # [N,Co]
    if fused is None:
        fused = n == 1
    if fused:
        wm = weight.unsqueeze(0) * styles.reshape(n, 1, ci, 1, 1)
        if dcoefs is not None:
            wm = wm * dcoefs.reshape(n, co, 1, 1, 1)
        x = x.reshape(1, n * ci, h, w_)
        if up:
            wm = wm.transpose(1, 2).reshape(n * ci, co, kh, kw)
            x = F.conv_transpose2d(x, wm, stride=2, groups=n)
            x = depthwise_fir(x, filt, (1, 1, 1, 1), gain=4.0)
        else:
            x = F.conv2d(x, wm.reshape(n * co, ci, kh, kw), padding=kh // 2, groups=n)
        return x.reshape(n, co, x.shape[2], x.shape[3])
    x = x * styles.reshape(n, ci, 1, 1)
    if up:
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        x = depthwise_fir(x, filt, (1, 1, 1, 1), gain=4.0)
    else:
        x = F.conv2d(x, weight, padding=kh // 2)
    if dcoefs is not None:
        x = x * dcoefs.reshape(n, co, 1, 1)
    return x
