"""StyleGAN2 synthesis network ("skip" generator of config-f and the ADA-PyTorch configs)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (SQRT2, EqualLinear, accumulation_dtype, channel_sums, demodulation, depthwise_fir, fir_adjoint,
                     make_filter, modulated_conv2d, noise_sums, pointwise_conv, upsample2d)


def noise_for(n: int, like: torch.Tensor, const: torch.Tensor, mode: str) -> torch.Tensor | None:
    """Per-pixel noise for a layer of resolution const.shape: [R,R] (const) or [n,1,R,R] (random) or None."""
    if mode == "const":
        return const.to(like.dtype)
    if mode == "random":
        return torch.randn(n, 1, *const.shape, device=like.device, dtype=like.dtype)
    if mode == "none":
        return None
    raise ValueError(f"noise mode must be 'const', 'random' or 'none', got {mode!r}")


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional 2x up) -> noise -> bias -> leaky ReLU * sqrt(2) (-> clamp)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False,
                 conv_clamp: float | None = None):
        super().__init__()
        self.up = up
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        # stored in the layout the convolution reads (loading copies into it and keeps it): channels_last,
        # and for the transposed conv channels_last of its [Ci,Co,3,3] view
        cl = torch.channels_last
        w = (torch.empty(in_channels, out_channels, 3, 3, memory_format=cl).transpose(0, 1) if up
             else torch.empty(out_channels, in_channels, 3, 3, memory_format=cl))
        self.weight = nn.Parameter(w.copy_(torch.randn(out_channels, in_channels, 3, 3)))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x, w, noise_mode: str, filt: torch.Tensor, fused: bool | None = None):
        styles = self.affine(w)
        # lrelu(y) * sqrt(2) == lrelu(y * sqrt(2)): the gain is folded into the conv output, noise and bias
        noise = noise_for(x.shape[0], x, self.noise_const, noise_mode)
        if self._gradient_to_inputs_only(x, styles, fused):
            coef = demodulation(self.weight, styles.to(x.dtype), SQRT2, x.dtype)
            nscale = self.noise_strength.to(x.dtype) * SQRT2
            return ModulatedLayer.apply(x, styles.to(x.dtype), coef, self.weight.to(x.dtype),
                                        self.bias.to(x.dtype) * SQRT2, noise, nscale, self.up and filt.to(x.dtype))
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up, filt=filt, fused=fused,
                             gain=SQRT2, bias=self.bias * SQRT2)
        if noise is not None:
            x = x.addcmul_(noise.reshape(-1, 1, *self.noise_const.shape), self.noise_strength.to(x.dtype) * SQRT2)
        x = F.leaky_relu(x, 0.2, inplace=True)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x

    def _gradient_to_inputs_only(self, x, styles, fused) -> bool:
        """Gradients flow to the activations or latents but not to this layer's weights (projection,
        encoder training): the fused ModulatedLayer serves that case."""
        wanted = torch.is_grad_enabled() and (x.requires_grad or styles.requires_grad)
        frozen = not any(p.requires_grad for p in (self.weight, self.bias, self.noise_strength))
        return (wanted and frozen and not fused and self.conv_clamp is None
                and not torch.is_autocast_enabled(x.device.type))


class ModulatedLayer(torch.autograd.Function):
    """lrelu(coef * conv(x * styles, W) + bias + noise * nscale) with gradients to x, styles and coef only.

    Autograd of the plain ops keeps three full-size tensors per layer and makes three more for the
    backward pass; here the output is the only one kept (the pre-activation is recovered from it:
    leaky ReLU with slope 0.2 is inverted by slope 5) and the per-channel gradient sums are taken a few
    rows at a time. `filt` is the up layer's FIR filter (transposed conv + FIR), or False.
    """

    @staticmethod
    def forward(ctx, x, styles, coef, weight, bias, noise, nscale, filt):
        n, ci = styles.shape
        co = weight.shape[0]
        xs = x * styles.reshape(n, ci, 1, 1)
        if filt is not False:
            z = F.conv_transpose2d(xs, weight.transpose(0, 1), stride=2)
            y = depthwise_fir(z, filt, 1, gain=4.0)
        else:
            y = F.conv2d(xs, weight, padding=1)
        del xs
        torch.addcmul(bias.reshape(1, co, 1, 1), y, coef.reshape(n, co, 1, 1), out=y)
        if noise is not None:
            y.addcmul_(noise.reshape(-1, 1, *noise.shape[-2:]), nscale)
        F.leaky_relu(y, 0.2, inplace=True)
        ctx.filt = filt
        ctx.save_for_backward(x, styles, coef, weight, bias, noise, nscale, y)
        return y

    @staticmethod
    def backward(ctx, dout):
        x, styles, coef, weight, bias, noise, nscale, out = ctx.saved_tensors
        n, ci = styles.shape
        co = weight.shape[0]
        dp = torch.ops.aten.leaky_relu_backward(dout, out, 0.2, True)  # gradient of the pre-activation
        acc = accumulation_dtype(dp.dtype)
        # coef multiplies conv = (p - bias - noise * nscale) / coef, with p the pre-activation
        dp_p = channel_sums(dp, out, dtype=acc, transform=lambda t: F.leaky_relu(t, 5.0)).reshape(n, co)
        dp_sum = channel_sums(dp, dtype=acc).reshape(n, co)
        dcoef = dp_p - bias.to(acc) * dp_sum
        if noise is not None:
            dcoef = dcoef - nscale.to(acc) * noise_sums(dp, noise).to(acc)
        dcoef = (dcoef / coef.to(acc)).to(coef.dtype)
        dy = dp.mul_(coef.reshape(n, co, 1, 1))
        if ctx.filt is not False:
            dxs = F.conv2d(fir_adjoint(dy, ctx.filt), weight.transpose(0, 1), stride=2)
        else:
            dxs = torch.nn.grad.conv2d_input(x.shape, weight, dy, padding=1)
        dstyles = channel_sums(dxs, x, dtype=acc).reshape(n, ci).to(styles.dtype)
        dx = dxs.mul_(styles.reshape(n, ci, 1, 1))
        return dx, dstyles, dcoef, None, None, None, None, None


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, + bias."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x, w, fused: bool | None = None):
        """`fused` has no effect: the per-sample 1x1 weights [N,3,Ci] are always cheaper than modulating x."""
        styles = self.affine(w).to(x.dtype)
        weight = self.weight.to(x.dtype).flatten(1).unsqueeze(0) * styles.unsqueeze(1)  # [N,Co,Ci]
        x = pointwise_conv(x, weight, self.bias.to(x.dtype), self.weight_gain)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SynthesisBlock(nn.Module):
    """One resolution: (const | up-conv) -> conv -> ToRGB added onto the upsampled running image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x, img, ws, noise_mode, filt, fused=None):
        i = 0
        if x is None:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = self.conv0(x, ws[:, i], noise_mode, filt, fused)
            i += 1
        x = self.conv1(x, ws[:, i], noise_mode, filt, fused)
        y = self.torgb(x, ws[:, i + 1], fused)
        img = y if img is None else upsample2d(img, filt.to(y.dtype)) + y
        return x, img


class SynthesisNetwork2(nn.Module):
    def __init__(self, w_dim: int, resolution: int, img_channels: int, channels: dict[int, int],
                 resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        self.register_buffer("resample_filter", make_filter(resample_filter), persistent=False)
        self.num_ws = 0
        for res in self.resolutions:
            cin = 0 if res == 4 else channels[res // 2]
            block = SynthesisBlock(cin, channels[res], w_dim, res, img_channels, conv_clamp)
            self.add_module(f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last ToRGB

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", max_resolution: int | None = None,
                fused: bool | None = None) -> torch.Tensor:
        n = ws.shape[0]
        if n > 1 and fused is None and ws.device.type == "cpu" and not (torch.is_grad_enabled() and ws.requires_grad):
            # Inference on the CPU: image by image, so the large layers modulate their (small) kernels
            # instead of the activations; one convolution per image runs as fast as one per batch.
            first = self(ws[:1], noise_mode, max_resolution)
            out = first.new_empty(n, *first.shape[1:])
            out[:1] = first
            for i in range(1, n):
                out[i:i + 1] = self(ws[i:i + 1], noise_mode, max_resolution)
            return out
        x = img = None
        w_idx = 0
        for res in self.resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws[:, w_idx:w_idx + block.num_conv + 1], noise_mode, self.resample_filter, fused)
            w_idx += block.num_conv
            if max_resolution is not None and res >= max_resolution:
                break
        return img.contiguous()
