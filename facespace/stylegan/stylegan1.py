"""StyleGAN1 synthesis network (NVIDIA's FFHQ configuration: constant input, 'linear' structure at lod 0).

Every convolution is followed by the layer epilogue: noise -> bias -> leaky ReLU(0.2) -> instance
norm -> style modulation x * (s0 + 1) + s1. Upsampling is nearest + conv below `fused_min_res` and a
transposed conv with a 4x4 kernel (the 3x3 kernel summed over 2x2 shifts) from there on; both are
followed by the [1,2,1] blur.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import SQRT2, EqualLinear, accumulation_dtype, depthwise_fir, frozen_cache, make_filter
from .stylegan2 import noise_for


class Epilogue(nn.Module):
    """noise -> bias -> leaky ReLU(0.2) -> instance norm -> style modulation.

    The bias is added by the convolution before it (noise and bias are both added before the
    activation, so their order does not matter); instance norm and style modulation are applied
    together as (x - mean) * a + b per sample and channel.
    """

    def __init__(self, channels: int, w_dim: int, resolution: int):
        super().__init__()
        self.noise_weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style = EqualLinear(w_dim, 2 * channels)
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x, w, noise_mode: str):
        c = x.shape[1]
        noise = noise_for(x.shape[0], x, self.noise_const, noise_mode)
        if noise is not None:
            x = torch.addcmul(x, noise.reshape(-1, 1, *self.noise_const.shape),
                              self.noise_weight.to(x.dtype).reshape(1, c, 1, 1))
        x = F.leaky_relu(x, 0.2, inplace=True)
        s = self.style(w).to(accumulation_dtype(x.dtype))
        return InstanceNormStyle.apply(x, s[:, :c, None, None] + 1, s[:, c:, None, None])


class InstanceNormStyle(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + 1e-8) * gain + shift, statistics per sample and channel over H, W.

    Forward as NVIDIA's instance norm (TF epsilon) followed by the style modulation; the backward pass
    is written out in closed form, a few passes over the activations instead of autograd's dozen.
    """

    @staticmethod
    def forward(ctx, x, gain, shift):
        acc = accumulation_dtype(x.dtype)
        var, mean = torch.var_mean(x.to(acc), dim=(2, 3), keepdim=True, correction=0)
        rstd = (var + 1e-8).rsqrt()
        ctx.save_for_backward(x, mean, rstd, gain)
        return torch.addcmul(shift.to(x.dtype), x - mean.to(x.dtype), (rstd * gain).to(x.dtype))

    @staticmethod
    def backward(ctx, dy):
        x, mean, rstd, gain = ctx.saved_tensors
        acc = mean.dtype
        hw = x.shape[2] * x.shape[3]
        dy_mean = dy.sum(dim=(2, 3), keepdim=True, dtype=acc) / hw  # mean of dy
        dyx_mean = (dy * x).sum(dim=(2, 3), keepdim=True, dtype=acc) / hw
        dy_xhat = rstd * (dyx_mean - mean * dy_mean)  # mean of dy * normalized x
        k = rstd * gain
        kx = -k * dy_xhat * rstd
        dx = torch.addcmul((-kx * mean - k * dy_mean).to(dy.dtype), dy, k.to(dy.dtype))
        dx.addcmul_(x, kx.to(dy.dtype))
        return dx, (dy_xhat * hw).to(gain.dtype), (dy_mean * hw).to(gain.dtype)


class ConvLayer(nn.Module):
    """3x3 conv with run-time He scaling (gain sqrt 2); the up version doubles the resolution, then blurs.

    NVIDIA's graph upsamples with nearest + conv below `fused_min_res` and with a transposed conv of
    the 3x3 kernel summed over 2x2 shifts from there on. Nearest + conv equals that transposed conv
    with the spatially flipped kernel, so both run as a transposed conv (4/9 of the multiply-adds).
    """

    def __init__(self, in_channels: int, out_channels: int, up: bool = False, fused_up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.weight_gain = SQRT2 / math.sqrt(in_channels * 9)
        self.up, self.fused_up = up, fused_up

    def kernel(self, dtype: torch.dtype) -> torch.Tensor:
        """The scaled kernel in the layout the convolution uses; cached while the weights are frozen."""
        return frozen_cache(self, "kernel", self.weight, dtype, self._make_kernel)

    def _make_kernel(self, w: torch.Tensor) -> torch.Tensor:
        w = w * self.weight_gain
        if self.up:
            if not self.fused_up:
                w = w.flip([2, 3])
            w = F.pad(w.transpose(0, 1), [1, 1, 1, 1])
            w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
        return w.contiguous(memory_format=torch.channels_last)  # the activations' layout: no per-call reorder

    def forward(self, x, bias, blur_filter):
        w = self.kernel(x.dtype)
        bias = bias.to(x.dtype)
        if not self.up:
            return F.conv2d(x, w, bias, padding=1)
        x = F.conv_transpose2d(x, w, stride=2, padding=1)
        return depthwise_fir(x, blur_filter.to(x.dtype), 1, bias=bias)


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, img_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x):
        return F.conv2d(x, self.weight.to(x.dtype) * self.weight_gain, self.bias.to(x.dtype))


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

    def forward(self, x, ws, noise_mode, blur_filter):
        if x is None:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = (x + self.epi0.bias.to(ws.dtype).reshape(1, -1, 1, 1)).contiguous(memory_format=torch.channels_last)
        else:
            x = self.conv0(x, self.epi0.bias, blur_filter)
        x = self.epi0(x, ws[:, 0], noise_mode)
        x = self.epi1(self.conv1(x, self.epi1.bias, blur_filter), ws[:, 1], noise_mode)
        return x


class SynthesisNetwork1(nn.Module):
    def __init__(self, w_dim: int, resolution: int, img_channels: int, channels: dict[int, int],
                 blur_filter=(1, 2, 1), fused_min_res: int = 128):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        self.register_buffer("blur_filter", make_filter(blur_filter), persistent=False)
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
            x = block(x, ws[:, 2 * i:2 * i + 2], noise_mode, self.blur_filter)
            if max_resolution is not None and res >= max_resolution:
                break
        return block.torgb(x).contiguous()
