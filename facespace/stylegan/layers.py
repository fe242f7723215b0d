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


def depthwise_fir(x: torch.Tensor, f: torch.Tensor, padding: int, gain: float = 1.0,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """Convolve every channel with the 2-D filter `f` (zero padding on all sides), optionally adding `bias`."""
    c = x.shape[1]
    w = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, w, bias, padding=padding, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling with the 4-tap FIR filter `f` (zero insertion, filter, gain 4 keeps the DC level),
    done as one depthwise transposed convolution."""
    c = x.shape[1]
    w = (f * 4).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    return F.conv_transpose2d(x, w, stride=2, padding=(f.shape[-1] - 2) // 2, groups=c)


class EqualLinear(nn.Module):
    """Dense layer with run-time weight scaling (`gain` / sqrt(fan_in) * `lr_mul`; bias * `lr_mul`).

    With activation 'lrelu', `style` 'stylegan1' expects the sqrt(2) activation gain folded into `gain`
    (bias added after the scaled product, no gain after the activation), as NVIDIA's StyleGAN1 does;
    'stylegan2' multiplies by sqrt(2) after bias + leaky ReLU, as StyleGAN2 does.
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
        x = torch.addmm(self.bias.to(x.dtype), x, self.weight.to(x.dtype).t(), beta=self.bias_gain,
                        alpha=self.weight_gain)
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


def fir_adjoint(dy: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Gradient of depthwise_fir(z, filt, 1, gain=4) for its input z, as a forward depthwise conv (the filter
    is symmetric; padding 2 restores z's size): far faster on the CPU than the conv's own input gradient."""
    return depthwise_fir(dy, filt, 2, gain=4.0)


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """1x1 convolution to few channels, weight [Co,Ci] or per sample [N,Co,Ci], times `gain`, plus bias [Co].

    On channels_last x it is one matrix product over the pixel rows, its gradient for x channels_last
    too (a 1x1 conv's own backward falls back to a slow NCHW path on the CPU); the result is [N,Co,H,W]
    in channels_last strides.
    """
    if not x.is_contiguous(memory_format=torch.channels_last):
        if weight.dim() == 2:
            return F.conv2d(x, (weight * gain)[:, :, None, None], bias)
        n, ci, h, w = x.shape
        return torch.baddbmm(bias.reshape(1, -1, 1), weight * gain, x.reshape(n, ci, h * w)).reshape(n, -1, h, w)
    n, ci, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, ci)
    out = torch.matmul(pixels, weight.transpose(-1, -2) * gain)  # [N,HW,Co]
    return (out + bias).reshape(n, h, w, -1).permute(0, 3, 1, 2)


ROWS_ELEMENTS = 1 << 20  # 4 MB of float32 per slice: temporaries that size come back from the heap without page faults


def row_slices(x: torch.Tensor):
    """Slices of the pixel rows of an NHWC view [N,H,W,C], each about ROWS_ELEMENTS per sample."""
    n, h, w, c = x.shape
    step = max(1, ROWS_ELEMENTS // (w * c))
    return [slice(i, min(i + step, h)) for i in range(0, h, step)]


def channel_sums(a: torch.Tensor, b: torch.Tensor | None = None, dtype=None, transform=None) -> torch.Tensor:
    """Per sample and channel sums over H, W of `a`, or of a * transform(b), as [N,C,1,1]; rows of
    channels_last CPU tensors are taken a slice at a time, so no full-size product is ever allocated."""
    def prod(pa, pb):
        return pa if pb is None else pa * (pb if transform is None else transform(pb))

    if not a.is_contiguous(memory_format=torch.channels_last) or a.device.type != "cpu":
        return prod(a, b).sum(dim=(2, 3), keepdim=True, dtype=dtype)
    va = a.permute(0, 2, 3, 1)
    vb = None if b is None else b.permute(0, 2, 3, 1)
    out = 0
    for rows in row_slices(va):
        out = out + prod(va[:, rows], None if vb is None else vb[:, rows]).sum(dim=(1, 2), dtype=dtype)
    return out[:, :, None, None]


def noise_sums(a: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """[N,C] sums over H, W of a [N,C,H,W] times per-pixel noise [H,W] or [N,1,H,W]: one matrix product."""
    n, c, h, w = a.shape
    flat = noise.reshape(-1, 1, h * w).to(a.dtype)
    if a.is_contiguous(memory_format=torch.channels_last):
        return torch.matmul(flat, a.permute(0, 2, 3, 1).reshape(n, h * w, c)).reshape(n, c)
    return torch.matmul(a.reshape(n, c, h * w), flat.transpose(1, 2)).reshape(n, c)


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for the half types, else the dtype itself (float64 stays float64)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def layout_of(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def tap_energy(weight: torch.Tensor) -> torch.Tensor:
    """Sum of squares over the kernel taps, [Co,Ci] from [Co,Ci,k,k]: one multiply-add per tap on slices
    whose inner dimension is contiguous in the stored layout (a plain reduction over the two trailing
    dims strides through channels_last memory)."""
    w = weight.transpose(0, 1) if weight.transpose(0, 1).is_contiguous(memory_format=torch.channels_last) else weight
    acc = w.new_zeros(w.shape[:2])
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            tap = w[:, :, i, j]
            acc.addcmul_(tap, tap)
    return acc if w is weight else acc.t()


def demodulation(weight: torch.Tensor, styles: torch.Tensor, gain: float, dtype: torch.dtype) -> torch.Tensor:
    """[N,Co] factors that give each output channel of the modulated conv unit expected scale, times `gain`;
    in float32 even under autocast: the sums of squares overflow float16."""
    acc = accumulation_dtype(dtype)
    with torch.autocast(styles.device.type, enabled=False):
        wsq = tap_energy(weight.to(acc))
        return ((styles.to(acc).square() @ wsq.t() + 1e-8).rsqrt() * gain).to(dtype)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     up: bool = False, filt: torch.Tensor | None = None, fused: bool | None = None,
                     gain: float = 1.0, bias: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2 modulated convolution: scale input channels by `styles`, optionally demodulate.

    x [N,Ci,H,W], weight [Co,Ci,k,k], styles [N,Ci]; returns conv * gain (+ `bias` [Co]).
    `up` doubles the resolution with a transposed convolution followed by the FIR filter `filt`.
    `fused` picks one (grouped) convolution with per-sample weights, or a shared-weight convolution
    with the modulation applied to the activations; both compute the same. By default a single
    sample uses whichever touches less memory, batches and gradient passes use shared weights.
    For `up`, the transposed convolution reads weight.transpose(0, 1): storing the weight so that this
    view is channels_last spares a reorder of the kernel on every call.
    """
    n, ci, h, w_ = x.shape
    co, _, kh, kw = weight.shape
    weight = weight.to(x.dtype)
    styles = styles.to(x.dtype)
    coef = None
    if demodulate:
        coef = demodulation(weight, styles, gain, x.dtype)
    elif gain != 1:
        coef = styles.new_full((n, co), gain)
    if fused is None:  # gradients through per-sample weights would cost a weight-gradient convolution
        fused = n == 1 and 2 * co * kh * kw < h * w_ and not (styles.requires_grad and torch.is_grad_enabled())
    if fused:
        scale = styles.reshape(n, 1, ci) if coef is None else coef.reshape(n, co, 1) * styles.reshape(n, 1, ci)
        wm = weight.unsqueeze(0) * scale.reshape(*scale.shape, 1, 1)  # one pass over the kernel
        b = None if bias is None else bias.to(x.dtype).repeat(n)
        if up:
            wm = wm.transpose(1, 2).reshape(n * ci, co, kh, kw).contiguous(memory_format=layout_of(x))
            x = F.conv_transpose2d(x.reshape(1, n * ci, h, w_), wm, stride=2, groups=n)
            return depthwise_fir(x, filt, 1, gain=4.0, bias=b).reshape(n, co, 2 * h, 2 * w_)
        if n == 1:
            return F.conv2d(x, wm.reshape(co, ci, kh, kw), b, padding=kh // 2)
        x = F.conv2d(x.reshape(1, n * ci, h, w_), wm.reshape(n * co, ci, kh, kw), b, padding=kh // 2, groups=n)
        return x.reshape(n, co, h, w_)
    x = x * styles.reshape(n, ci, 1, 1)
    if up:
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        x = depthwise_fir(x, filt, 1, gain=4.0)
    else:
        x = F.conv2d(x, weight, padding=kh // 2)
    if coef is None:
        return x if bias is None else x.add_(bias.to(x.dtype).reshape(1, co, 1, 1))
    coef = coef.reshape(n, co, 1, 1)
    if bias is None:
        bias = coef.new_zeros(())
    if torch.is_grad_enabled() and (x.requires_grad or coef.requires_grad or bias.requires_grad):
        return torch.addcmul(bias.to(x.dtype).reshape(1, co, 1, 1), x, coef)
    # x is the convolution's fresh output: scaled in place
    return torch.addcmul(bias.to(x.dtype).reshape(1, co, 1, 1), x, coef, out=x)
