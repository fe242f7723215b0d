"""StyleGAN1 synthesis network (NVIDIA's FFHQ configuration: constant input, 'linear' structure at lod 0).

Every convolution is followed by the layer epilogue: noise -> bias -> leaky ReLU(0.2) -> instance
norm -> style modulation x * (s0 + 1) + s1. Upsampling is nearest + conv below `fused_min_res` and a
transposed conv with a 4x4 kernel (the 3x3 kernel summed over 2x2 shifts) from there on; both are
followed by the [1,2,1] blur.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layers import (SQRT2, EqualLinear, accumulation_dtype, channel_sums, depthwise_fir, fir_adjoint, make_filter,
                     pointwise_conv, row_slices)
from .stylegan2 import noise_for


class Epilogue(nn.Module):
    """noise -> bias -> leaky ReLU(0.2) -> instance norm -> style modulation.

    The convolution before it adds the bias and leaves out its weight gain g: it hands over
    pre-activations divided by g, which the epilogue never multiplies back. Leaky ReLU commutes with
    a positive scale and instance norm removes it, up to its epsilon, which becomes eps / g^2. So the
    raw stored weights go straight into the convolution (no per-call scaling) and only per-channel
    vectors are rescaled. Instance norm and the style are applied together as x * a + b per sample
    and channel.
    """

    def __init__(self, channels: int, w_dim: int, resolution: int):
        super().__init__()
        self.noise_weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style = EqualLinear(w_dim, 2 * channels)
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x, w, noise_mode: str, gain: float = 1.0):
        c = x.shape[1]
        acc = accumulation_dtype(x.dtype)
        s = self.style(w).to(acc)
        style_gain, style_shift = s[:, :c] + 1, s[:, c:]
        noise = noise_for(x.shape[0], x, self.noise_const, noise_mode)
        noise_weight = self.noise_weight.to(x.dtype) / gain if noise is not None else None
        eps = 1e-8 / gain ** 2
        if inplace_ok(x, s, noise_weight):
            return inplace_epilogue(x, noise, noise_weight, style_gain, style_shift, eps)
        if noise is not None:  # x is the convolution's fresh output, which autograd does not keep
            x = x.addcmul_(noise.reshape(-1, 1, *self.noise_const.shape), noise_weight.reshape(1, c, 1, 1))
        return InstanceNormStyle.apply(x, style_gain[:, :, None, None], style_shift[:, :, None, None], eps, 0.2)


def inplace_ok(x: torch.Tensor, *params) -> bool:
    """No gradient to track and channels_last activations on the CPU: the epilogue runs in place, a few
    rows at a time (on a GPU one kernel per step over the whole tensor is faster)."""
    tracked = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, *params))
    return (not tracked and x.device.type == "cpu" and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last))


def nhwc_moments(v: torch.Tensor, prepare=None):
    """Per sample and channel mean and biased variance of an NHWC view v [N,H,W,C], in one pass over
    memory: each slice of rows is (optionally changed in place by `prepare(slice, rows)`, then) summed
    while it is in cache. Sums are of values shifted by the first slice's mean, which keeps the
    E[x^2] - E[x]^2 form accurate when the mean is large against the spread."""
    acc = accumulation_dtype(v.dtype)
    n, h, w, c = v.shape
    s1 = s2 = pivot = None
    for rows in row_slices(v):
        part = v[:, rows]
        if prepare is not None:
            prepare(part, rows)
        if pivot is None:
            pivot = part.mean(dim=(1, 2), keepdim=True, dtype=acc)
            s1 = torch.zeros(n, c, dtype=acc, device=v.device)
            s2 = torch.zeros(n, c, dtype=acc, device=v.device)
        d = part.to(acc) - pivot  # squares of unscaled pre-activations can overflow float16
        s1 += d.sum(dim=(1, 2), dtype=acc)
        s2 += d.square_().sum(dim=(1, 2), dtype=acc)
    m1 = s1 / (h * w)
    var = (s2 / (h * w) - m1.square()).clamp_(min=0)
    return m1 + pivot.reshape(n, c), var


def inplace_epilogue(x, noise, noise_weight, style_gain, style_shift, eps):
    """noise, leaky ReLU, instance norm and style on channels_last `x`, overwriting it: one pass for the
    first three and the moments, one for the affine map."""
    v = x.permute(0, 2, 3, 1)  # [N,H,W,C], contiguous

    def prepare(part, rows):
        if noise is not None:
            rn = noise[..., rows, :] if noise.dim() == 4 else noise[rows]  # [N,1,r,W] or [r,W]
            part.addcmul_(rn.reshape(-1, *rn.shape[-2:], 1), noise_weight)
        F.leaky_relu(part, 0.2, inplace=True)

    mean, var = nhwc_moments(v, prepare)
    a = (var + eps).rsqrt() * style_gain
    b = style_shift - mean * a
    n, c = a.shape
    torch.addcmul(b.to(x.dtype).reshape(n, 1, 1, c), v, a.to(x.dtype).reshape(n, 1, 1, c), out=v)
    return x


def instance_moments(x: torch.Tensor):
    """(mean, biased variance) per sample and channel as [N,C,1,1] in the accumulation dtype."""
    if x.device.type == "cpu" and x.is_contiguous(memory_format=torch.channels_last):
        mean, var = nhwc_moments(x.permute(0, 2, 3, 1))
        return mean[:, :, None, None], var[:, :, None, None]
    var, mean = torch.var_mean(x.to(accumulation_dtype(x.dtype)), dim=(2, 3), keepdim=True, correction=0)
    return mean, var


class InstanceNormStyle(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + eps) * gain + shift, statistics per sample and channel over H, W; with
    `slope`, x = leaky_relu(input, slope) is taken first.

    Forward as NVIDIA's instance norm (TF epsilon 1e-8 by default) followed by the style modulation;
    the backward pass is written out in closed form, a few passes over the activations instead of
    autograd's dozen, and with `slope` it includes the leaky ReLU (one full-size gradient, not two).
    """

    @staticmethod
    def forward(ctx, inp, gain, shift, eps=1e-8, slope=None):
        out = torch.empty_like(inp)  # keeps the input's memory format
        x = inp if slope is None else torch.ops.aten.leaky_relu.out(inp, slope, out=out)
        mean, var = instance_moments(x)
        rstd = (var + eps).rsqrt()
        ctx.save_for_backward(inp, mean, rstd, gain)
        ctx.slope = slope
        a = rstd * gain
        return torch.addcmul((shift - mean * a).to(x.dtype), x, a.to(x.dtype), out=out)

    @staticmethod
    def backward(ctx, dy):
        inp, mean, rstd, gain = ctx.saved_tensors
        slope = ctx.slope
        act = None if slope is None else (lambda t: F.leaky_relu(t, slope))
        acc = mean.dtype
        hw = inp.shape[2] * inp.shape[3]
        dy_mean = channel_sums(dy, dtype=acc) / hw  # mean of dy
        dyx_mean = channel_sums(dy, inp, dtype=acc, transform=act) / hw
        dy_xhat = rstd * (dyx_mean - mean * dy_mean)  # mean of dy * normalized x
        k = rstd * gain
        kx = -k * dy_xhat * rstd
        dx = torch.empty_like(inp)
        torch.addcmul((-kx * mean - k * dy_mean).to(dy.dtype), dy, k.to(dy.dtype), out=dx)
        add_product(dx, inp, kx.to(dy.dtype), act)
        if slope is not None:
            torch.ops.aten.leaky_relu_backward.grad_input(dx, inp, slope, False, grad_input=dx)
        return dx, (dy_xhat * hw).to(gain.dtype), (dy_mean * hw).to(gain.dtype), None, None


def add_product(dst: torch.Tensor, src: torch.Tensor, scale: torch.Tensor, transform=None) -> None:
    """dst += transform(src) * scale ([N,C,1,1]) in place, a few rows at a time on channels_last CPU tensors."""
    if transform is None:
        dst.addcmul_(src, scale)
    elif not (dst.device.type == "cpu" and dst.is_contiguous(memory_format=torch.channels_last)
              and src.is_contiguous(memory_format=torch.channels_last)):
        dst.addcmul_(transform(src), scale)
    else:
        vd, vs = dst.permute(0, 2, 3, 1), src.permute(0, 2, 3, 1)
        sc = scale.reshape(scale.shape[0], 1, 1, -1)
        for rows in row_slices(vd):
            vd[:, rows].addcmul_(transform(vs[:, rows]), sc)


class ConvLayer(nn.Module):
    """3x3 conv, He gain sqrt 2 left to the epilogue (see Epilogue); the up version doubles the resolution,
    then blurs.

    NVIDIA's graph upsamples with nearest + conv + blur below `fused_min_res` and with a transposed conv
    of the 3x3 kernel summed over 2x2 shifts + blur from there on. Summing over 2x2 shifts is a 2x2 box
    filter, which joins the blur: both run as a stride-2 transposed conv of the stored 3x3 kernel
    followed by one 4x4 FIR (the blur convolved with the box), the same work as StyleGAN2's up layers
    and a quarter of the multiply-adds of nearest + conv. Nearest + conv is that with the kernel
    flipped, done here by flipping the (small, low-resolution) activations instead of the kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, up: bool = False, fused_up: bool = False):
        super().__init__()
        # The stored layout is the one the convolution reads (loading copies into it and keeps it):
        # channels_last, and for the transposed conv channels_last of its [Ci,Co,3,3] view.
        cl = torch.channels_last
        w = (torch.empty(in_channels, out_channels, 3, 3, memory_format=cl).transpose(0, 1) if up
             else torch.empty(out_channels, in_channels, 3, 3, memory_format=cl))
        self.weight = nn.Parameter(w.copy_(torch.randn(out_channels, in_channels, 3, 3)))
        self.weight_gain = SQRT2 / math.sqrt(in_channels * 9)
        self.up, self.fused_up = up, fused_up

    def forward(self, x, bias, up_filter=None, edge_tap: float = 0.25):
        """conv(x) + bias / g, with g = `weight_gain` left to the epilogue; `edge_tap` is the blur's outer tap."""
        bias = bias.to(x.dtype) / self.weight_gain
        w = self.weight.to(x.dtype)
        if not self.up:
            return F.conv2d(x, w, bias, padding=1)
        if not self.fused_up:
            x = x.flip([2, 3])
        filt = up_filter.to(x.dtype)
        tracked = torch.is_grad_enabled() and any(t.requires_grad for t in (x, w, bias))
        if tracked and not (w.requires_grad or bias.requires_grad or torch.is_autocast_enabled(x.device.type)):
            y = UpConvFIR.apply(x, w.transpose(0, 1), filt, bias, edge_tap)
        else:
            z = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
            y = depthwise_fir(z, filt, 1, gain=4.0, bias=bias)
            edge_excess(z, filt, edge_tap, y, -1)
        return y if self.fused_up else y.flip([2, 3])


def edge_excess(src: torch.Tensor, up_filter: torch.Tensor, edge_tap: float, dst: torch.Tensor, sign: int,
                adjoint: bool = False) -> None:
    """dst += sign * (FIR(z) - blur(box(z))), in place, for z = src (or with `adjoint`, the transpose of
    that map applied to src, for the backward pass).

    FIR(z) is the blur convolved with the 2x2 box, on zero-padded z (2R+1 px) -> 2R px; blur(box(z)) is
    NVIDIA's order, with the blur's own zero padding. They differ only in the outermost rows and columns:
    the first form also sees the box of z's first (last) row with the zero padding beyond it, which the
    second pads away: per axis edge_tap * (1-D FIR of z's row 0 (-1)) too much in output row 0 (-1). In
    2D both axes' excesses count and their overlap, the corners, once too often.
    """
    c, n = src.shape[1], src.shape[0]
    k = (up_filter.sum(dim=0) * 2).flip(0).reshape(1, 1, -1).expand(c, 1, -1)  # 1-D taps, gain 2

    def fir1d(lines):  # [M,C,L] -> the 1-D FIR with padding 1 (2R+1 -> 2R), or its transpose (2R -> 2R+1)
        if adjoint:
            return F.conv_transpose1d(lines, k, padding=1, groups=c)
        return F.conv1d(lines, k, padding=1, groups=c)

    rows = fir1d(torch.stack([src[:, :, 0, :], src[:, :, -1, :]], dim=1).reshape(-1, c, src.shape[3]))
    cols = fir1d(torch.stack([src[:, :, :, 0], src[:, :, :, -1]], dim=1).reshape(-1, c, src.shape[2]))
    rows, cols = rows.reshape(n, 2, c, -1) * (sign * edge_tap), cols.reshape(n, 2, c, -1) * (sign * edge_tap)
    corners = src[:, :, ::src.shape[2] - 1, ::src.shape[3] - 1] * (sign * edge_tap ** 2)  # [N,C,2,2]
    dst[:, :, 0, :] += rows[:, 0]
    dst[:, :, -1, :] += rows[:, 1]
    dst[:, :, :, 0] += cols[:, 0]
    dst[:, :, :, -1] += cols[:, 1]
    dst[:, :, ::dst.shape[2] - 1, ::dst.shape[3] - 1] -= corners


class UpConvFIR(torch.autograd.Function):
    """Transposed 3x3 conv (stride 2) + 4x4 FIR + edge correction, gradient to the input only (frozen
    weights): its backward passes the edge corrections over the gradient's outer rows instead of
    autograd's full-size copies for every in-place slice update."""

    @staticmethod
    def forward(ctx, x, weight_t, filt, bias, edge_tap):
        z = F.conv_transpose2d(x, weight_t, stride=2)
        y = depthwise_fir(z, filt, 1, gain=4.0, bias=bias)
        edge_excess(z, filt, edge_tap, y, -1)
        ctx.save_for_backward(weight_t, filt)
        ctx.z_shape, ctx.edge_tap = z.shape, edge_tap
        return y

    @staticmethod
    def backward(ctx, dy):
        weight_t, filt = ctx.saved_tensors
        dz = fir_adjoint(dy, filt)
        edge_excess(dy, filt, ctx.edge_tap, dz, -1, adjoint=True)
        return F.conv2d(dz, weight_t, stride=2), None, None, None, None


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, img_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x):
        return pointwise_conv(x, self.weight.to(x.dtype).flatten(1), self.bias.to(x.dtype), self.weight_gain)


class Block1(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 fused_min_res: int):
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = nn.Parameter(torch.ones(out_channels, resolution, resolution))
            self.epi0 = Epilogue(out_channels, w_dim, resolution)
            self.conv1 = ConvLayer(out_channels, out_channels)
        else:
            self.conv0 = ConvLayer(in_channels, out_channels, up=True, fused_up=resolution >= fused_min_res)
            self.epi0 = Epilogue(out_channels, w_dim, resolution)
            self.conv1 = ConvLayer(out_channels, out_channels)
        self.epi1 = Epilogue(out_channels, w_dim, resolution)
        self.torgb = ToRGB(out_channels, img_channels)

    def forward(self, x, ws, noise_mode, up_filter, edge_tap):
        if x is None:  # the constant plus its bias: no convolution, gain 1
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = (x + self.epi0.bias.to(ws.dtype).reshape(1, -1, 1, 1)).contiguous(memory_format=torch.channels_last)
            x = self.epi0(x, ws[:, 0], noise_mode)
        else:
            x = self.conv0(x, self.epi0.bias, up_filter, edge_tap)
            x = self.epi0(x, ws[:, 0], noise_mode, self.conv0.weight_gain)
        return self.epi1(self.conv1(x, self.epi1.bias), ws[:, 1], noise_mode, self.conv1.weight_gain)


class SynthesisNetwork1(nn.Module):
    def __init__(self, w_dim: int, resolution: int, img_channels: int, channels: dict[int, int],
                 blur_filter=(1, 2, 1), fused_min_res: int = 128):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        taps = np.asarray(blur_filter, dtype=np.float64)
        if len(taps) != 3 or taps[0] != taps[2]:
            raise ValueError(f"StyleGAN1 blur_filter must be 3 symmetric taps like NVIDIA's [1, 2, 1], "
                             f"got {blur_filter}")
        self.edge_tap = float(taps[0] / taps.sum())
        # the blur convolved with the 2x2 box of the up convolution (see ConvLayer)
        up_taps = np.convolve([1.0, 1.0], taps)
        self.register_buffer("up_filter", make_filter(up_taps), persistent=False)
        for res in self.resolutions:
            cin = 0 if res == 4 else channels[res // 2]
            self.add_module(f"b{res}", Block1(cin, channels[res], w_dim, res, img_channels, fused_min_res))
        self.num_ws = 2 * len(self.resolutions)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", max_resolution: int | None = None,
                fused: bool | None = None) -> torch.Tensor:
        """`fused` is accepted for a common signature with StyleGAN2 and has no effect here."""
        x = None
        for i, res in enumerate(self.resolutions):
            block = getattr(self, f"b{res}")
            x = block(x, ws[:, 2 * i:2 * i + 2], noise_mode, self.up_filter, self.edge_tap)
            if max_resolution is not None and res >= max_resolution:
                break
        return block.torgb(x).contiguous()
