"""StyleGAN3 synthesis network (alias-free generator, configs T and R) in plain PyTorch.

The network is a Fourier-feature input followed by `num_layers` modulated convolutions, each
wrapped in a filtered leaky ReLU: bias, upsampling by `up` with a low-pass FIR filter, leaky ReLU
(times sqrt 2, clamped), low-pass filtering and downsampling by `down`. Every layer's sampling
rate, cutoff, size, channel count and filters follow from a few settings (`layer_plan`), the same
way NVIDIA's code derives them, so the arch stores only those settings.

The filtered activation never materialises zero-stuffed tensors: upsampling is a depthwise
transposed convolution per axis (separable filter), downsampling a strided depthwise convolution.
There is no per-pixel noise in StyleGAN3; `noise_mode` is accepted and ignored.

The input can be panned and rotated (`input_transform`): the image is the same function of the
latent sampled on a moved grid, StyleGAN3's own equivariance.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelFormatError
from ..limits import finite_number, short
from .layers import SQRT2, EqualLinear, accumulation_dtype

# Settings of NVIDIA's SynthesisNetwork / SynthesisLayer that shape the network, with their defaults.
SYNTHESIS_DEFAULTS = {
    "channel_base": 32768, "channel_max": 512, "num_layers": 14, "num_critical": 2, "first_cutoff": 2.0,
    "first_stopband": 2 ** 2.1, "last_stopband_rel": 2 ** 0.3, "margin_size": 10, "output_scale": 0.25,
    "conv_kernel": 3, "filter_size": 6, "lrelu_upsampling": 2, "use_radial_filters": False, "conv_clamp": 256.0,
}
LIMITS = {"num_layers": (1, 64), "num_critical": (0, 63), "margin_size": (0, 256), "conv_kernel": (1, 9),
          "filter_size": (1, 32), "lrelu_upsampling": (1, 8), "channel_max": (1, 1 << 16),
          "channel_base": (1, 1 << 24)}


def normalize_stylegan3(a: dict) -> dict:
    """Fill and check the StyleGAN3 settings of an arch dict (family, resolution and mapping already set)."""
    for key, value in SYNTHESIS_DEFAULTS.items():
        a.setdefault(key, value)
    a["mapping_hidden"] = a["w_dim"]  # StyleGAN3's mapping layers are all w_dim wide
    for key in ("z_dim", "w_dim", "img_channels", *LIMITS):
        v = a[key]
        lo, hi = LIMITS.get(key, (1, 1 << 16))
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ModelFormatError(f"StyleGAN3 setting {key}={short(v)} is not a whole number from {lo} to {hi}")
    for key in ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale"):
        a[key] = finite_number(a[key], key, "StyleGAN3 settings", 1e-6, 1e6)
    if a["conv_clamp"] is not None:
        a["conv_clamp"] = finite_number(a["conv_clamp"], "conv_clamp", "StyleGAN3 settings", 1e-3, 1e6)
    a["use_radial_filters"] = bool(a["use_radial_filters"])
    if a["num_critical"] >= a["num_layers"]:
        raise ModelFormatError(f"StyleGAN3 has {a['num_critical']} critically sampled layers of {a['num_layers']}; "
                               "expected fewer")
    layer_plan(a)  # refuses settings whose sampling rates do not divide
    return a


def config_name(arch: dict) -> str:
    """'r' (1x1 convolutions, radial filters: NVIDIA's stylegan3-r) or 't' (stylegan3-t)."""
    return "r" if arch["conv_kernel"] == 1 and arch["use_radial_filters"] else "t"


def layer_plan(arch: dict) -> tuple[dict, list[dict]]:
    """(input spec, one spec per synthesis layer): sampling rates, cutoffs, sizes, channels, factors, padding."""
    res, n = arch["resolution"], arch["num_layers"]
    last_cutoff = res / 2
    last_stopband = last_cutoff * arch["last_stopband_rel"]
    exponents = np.minimum(np.arange(n + 1) / (n - arch["num_critical"]), 1)
    cutoffs = arch["first_cutoff"] * (last_cutoff / arch["first_cutoff"]) ** exponents
    stopbands = arch["first_stopband"] * (last_stopband / arch["first_stopband"]) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + arch["margin_size"] * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((arch["channel_base"] / 2) / cutoffs, arch["channel_max"]))
    channels[-1] = arch["img_channels"]
    sizes, channels, rates = sizes.astype(int), channels.astype(int), rates.astype(int)
    head = {"channels": int(channels[0]), "size": int(sizes[0]), "sampling_rate": int(rates[0]),
            "bandwidth": float(cutoffs[0])}
    specs = []
    for i in range(n + 1):
        p = max(i - 1, 0)
        torgb = i == n
        tmp_rate = max(rates[p], rates[i]) * (1 if torgb else arch["lrelu_upsampling"])
        up, down = int(tmp_rate // rates[p]), int(tmp_rate // rates[i])
        if up * rates[p] != tmp_rate or down * rates[i] != tmp_rate:
            raise ModelFormatError(f"StyleGAN3 layer {i}: sampling rates {rates[p]} -> {rates[i]} do not divide "
                                   f"{tmp_rate}; the settings do not describe a StyleGAN3 network")
        kernel = 1 if torgb else arch["conv_kernel"]
        up_taps = arch["filter_size"] * up if up > 1 and not torgb else 1
        down_taps = arch["filter_size"] * down if down > 1 and not torgb else 1
        pad_total = (sizes[i] - 1) * down + 1 - (sizes[p] + kernel - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        s = {"name": f"L{i}_{sizes[i]}_{channels[i]}", "torgb": torgb, "critical": i >= n - arch["num_critical"],
             "in_channels": int(channels[p]), "out_channels": int(channels[i]), "in_size": int(sizes[p]),
             "out_size": int(sizes[i]), "kernel": kernel, "up": up, "down": down, "up_taps": up_taps,
             "down_taps": down_taps, "padding": (int(pad_lo), int(pad_total - pad_lo)), "tmp_rate": float(tmp_rate),
             "in_cutoff": float(cutoffs[p]), "out_cutoff": float(cutoffs[i]),
             "in_half_width": float(half_widths[p]), "out_half_width": float(half_widths[i])}
        specs.append(s)
    return head, specs


# ---------------------------------------------------------------- filters

def _kaiser_beta(taps: int, width: float) -> float:
    """Kaiser window beta for `taps` taps and transition `width` (fraction of Nyquist), as Kaiser's formulas give."""
    atten = 2.285 * (taps - 1) * math.pi * width + 7.95
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def lowpass_filter(taps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """Kaiser-windowed low-pass FIR (separable taps [T], or radially symmetric jinc [T,T]); None for 1 tap."""
    if taps == 1:
        return None
    beta = _kaiser_beta(taps, width / (fs / 2))
    window = np.kaiser(taps, beta)
    if not radial:
        m = np.arange(taps) - (taps - 1) / 2
        c = cutoff / (fs / 2)
        f = c * np.sinc(c * m) * window
        return torch.from_numpy(f / f.sum()).float()
    x = (np.arange(taps) - (taps - 1) / 2) / fs
    r = torch.from_numpy(np.hypot(*np.meshgrid(x, x)))
    jinc = torch.where(r > 0, torch.special.bessel_j1(2 * math.pi * cutoff * r) / (math.pi * r.clamp_min(1e-30)),
                       torch.full_like(r, cutoff))
    f = jinc.numpy() * np.outer(window, window)
    return torch.from_numpy(f / f.sum()).float()


def _crop_or_pad(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """x[start:start+length] along `dim`, zeros where that range leaves x."""
    pads = [0, 0] * (x.ndim - dim - 1) + [-start, start + length - x.shape[dim]]
    return F.pad(x, pads)


def upsample_1d(x: torch.Tensor, f: torch.Tensor, up: int, pad: tuple[int, int], dim: int) -> torch.Tensor:
    """Along `dim` (2 or 3): insert up-1 zeros after each sample, pad by `pad` (negative crops), convolve with `f`.

    Done as one depthwise transposed convolution of the input samples that reach the output, then a crop:
    out[m] = sum_i x[i] f[m + T - 1 - pad[0] - i * up].
    """
    c, n_in, taps = x.shape[1], x.shape[dim], f.shape[0]
    length = n_in * up + pad[0] + pad[1] - taps + 1
    start = taps - 1 - pad[0]  # out[m] = full[m + start], full = conv_transpose(x, f, stride=up)
    first = max(0, -((taps - 1 - start) // up))  # first input sample with any weight on the output range
    last = min(n_in - 1, (start + length - 1) // up)
    x = x.narrow(dim, first, last - first + 1)
    shape = (c, 1, 1, taps) if dim == 3 else (c, 1, taps, 1)
    stride = (1, up) if dim == 3 else (up, 1)
    y = F.conv_transpose2d(x, f.to(x.dtype).reshape(1, 1, *shape[2:]).expand(shape), stride=stride, groups=c)
    return _crop_or_pad(y, dim, start - first * up, length)


def downsample_2d(x: torch.Tensor, f: torch.Tensor | None, down: int) -> torch.Tensor:
    """Convolve with `f` (separable [T] or full [T,T]) where it fits inside x, keep every `down`-th sample."""
    if f is None:
        return x[:, :, ::down, ::down] if down > 1 else x
    c = x.shape[1]
    f = f.flip(list(range(f.ndim))).to(x.dtype)
    if f.ndim == 2:
        return F.conv2d(x, f[None, None].expand(c, 1, *f.shape), stride=down, groups=c)
    taps = f.shape[0]
    x = F.conv2d(x, f.reshape(1, 1, 1, taps).expand(c, 1, 1, taps), stride=(1, down), groups=c)
    return F.conv2d(x, f.reshape(1, 1, taps, 1).expand(c, 1, taps, 1), stride=(down, 1), groups=c)


def filtered_lrelu(x: torch.Tensor, up_filter: torch.Tensor | None, down_filter: torch.Tensor | None, up: int,
                   down: int, padding: tuple[int, int], gain: float, slope: float,
                   clamp: float | None) -> torch.Tensor:
    """Upsample (zero insertion, `padding` on both axes, `up_filter` with gain up^2), leaky ReLU(slope) * gain,
    clamp to +-clamp, then `down_filter` and keep every `down`-th sample. x arrives with its bias added."""
    fresh = True  # whether x is now a tensor of our own, which may be changed in place
    if up_filter is None:
        if up != 1:
            raise ValueError("upsampling needs a filter")
        fresh = any(padding) or gain != 1
        if any(padding):
            x = _crop_or_pad(x, 2, -padding[0], x.shape[2] + sum(padding))
            x = _crop_or_pad(x, 3, -padding[0], x.shape[3] + sum(padding))
        if gain != 1:
            x = x * gain
    else:
        f = up_filter * up  # the gain up^2 of zero insertion, split over the two axes
        x = upsample_1d(x, f * gain, up, padding, dim=3)  # lrelu(v) * g == lrelu(v * g) for g > 0
        x = upsample_1d(x, f, up, padding, dim=2)
    inplace = fresh and not (x.requires_grad and torch.is_grad_enabled())
    if slope != 1:
        x = F.leaky_relu(x, slope, inplace=inplace)
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return downsample_2d(x, down_filter, down)


# ---------------------------------------------------------------- transform

def input_transform(translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> torch.Tensor:
    """The input transform [3,3] that pans the image by `translate` (x right, y down, in image widths / heights)
    and turns it by `rotate` degrees counter-clockwise: the inverse of that motion, which is what StyleGAN3's
    input layer holds (the same matrix NVIDIA's gen_images.py sets for --translate and --rotate)."""
    a = math.radians(float(rotate))
    c, s = math.cos(a), math.sin(a)
    m = torch.tensor([[c, s, float(translate[0])], [-s, c, float(translate[1])], [0.0, 0.0, 1.0]],
                     dtype=torch.float64)
    return torch.linalg.inv(m).float()


# ---------------------------------------------------------------- network

class SynthesisInput(nn.Module):
    """Fourier features: sin(2 pi (f . p + phase)) on a grid, turned and shifted by an affine of w and by the
    user transform, damped where a transform pushes frequencies past the band, mixed by a dense layer."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: int, bandwidth: float):
        super().__init__()
        self.size, self.sampling_rate, self.bandwidth = size, sampling_rate, bandwidth
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = EqualLinear(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        n = w.shape[0]
        acc = accumulation_dtype(w.dtype)
        with torch.autocast(w.device.type, enabled=False):
            t = self.affine(w.to(acc))
            t = t / t[:, :2].norm(dim=1, keepdim=True)  # (cos, sin, tx, ty) of the learned rotation and shift
            user = (self.transform if transform is None else transform).to(w.device, acc)
            cos, sin, zero, one = t[:, 0], t[:, 1], torch.zeros_like(t[:, 0]), torch.ones_like(t[:, 0])
            rot = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], 1).view(n, 3, 3)
            shift = torch.stack([one, zero, -t[:, 2], zero, one, -t[:, 3], zero, zero, one], 1).view(n, 3, 3)
            m = rot @ shift @ user.expand(n, 3, 3)  # rotate the image, then shift it, then the user's transform
            freqs = self.freqs.to(acc)
            phases = self.phases.to(acc) + (freqs @ m[:, :2, 2:]).squeeze(2)  # [N,C]
            freqs = freqs @ m[:, :2, :2]  # [N,C,2]
            amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                          / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
            coords = (torch.arange(self.size, device=w.device, dtype=acc) + 0.5 - self.size / 2) / self.sampling_rate
            arg = (coords.view(1, 1, -1, 1) * freqs[:, None, None, :, 0] + coords.view(1, -1, 1, 1)
                   * freqs[:, None, None, :, 1] + phases[:, None, None, :])  # [N,H,W,C]
            x = torch.sin(arg * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x.to(w.dtype) @ (self.weight.to(w.dtype) / math.sqrt(self.weight.shape[0])).t()
        return x.permute(0, 3, 1, 2)  # [N,C,H,W], channels-last in memory


def _unit_rms_per_output(weight: torch.Tensor) -> torch.Tensor:
    return weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()


class SynthesisLayer3(nn.Module):
    """Modulated convolution (weights and styles normalized, demodulated, scaled by the tracked input magnitude),
    then the filtered leaky ReLU; the last layer (ToRGB) is a 1x1 modulated convolution plus bias and clamp."""

    def __init__(self, w_dim: int, spec: dict, arch: dict):
        super().__init__()
        self.spec = spec
        self.torgb = spec["torgb"]
        self.conv_clamp = arch["conv_clamp"]
        ci, co, k = spec["in_channels"], spec["out_channels"], spec["kernel"]
        self.affine = EqualLinear(w_dim, ci, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(co, ci, k, k))
        self.bias = nn.Parameter(torch.zeros(co))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", lowpass_filter(spec["up_taps"], spec["in_cutoff"],
                                                         spec["in_half_width"] * 2, spec["tmp_rate"]))
        radial = arch["use_radial_filters"] and not spec["critical"]
        self.register_buffer("down_filter", lowpass_filter(spec["down_taps"], spec["out_cutoff"],
                                                           spec["out_half_width"] * 2, spec["tmp_rate"], radial))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.spec
        n, ci, k = x.shape[0], s["in_channels"], s["kernel"]
        acc = accumulation_dtype(x.dtype)
        with torch.autocast(x.device.type, enabled=False):  # sums of squares in float32 even under autocast
            styles = self.affine(w.to(acc))
            gain = self.magnitude_ema.to(acc).rsqrt()
            if self.torgb:
                weight = self.weight
                coef = (gain / math.sqrt(ci * k * k)).expand(n, 1)  # no demodulation: a scale of the input
                styles_n = styles
            else:  # NVIDIA normalizes weights per output channel and styles per sample before demodulating
                weight = _unit_rms_per_output(self.weight.to(acc))  # recomputed: one cheap pass over the weights
                wsq = weight.square().sum([2, 3]).t()  # [Ci,Co]
                styles_n = styles * styles.square().mean(1, keepdim=True).rsqrt()
                coef = (styles_n.square() @ wsq + 1e-8).rsqrt() * gain  # [N,Co]
        dt = x.dtype
        x = x.contiguous(memory_format=torch.channels_last)
        weight = weight.to(dt)
        bias = self.bias.to(dt)
        if n == 1 and not (torch.is_grad_enabled() and (styles.requires_grad or x.requires_grad)):
            wm = weight * (styles_n.to(dt).reshape(1, ci, 1, 1)) * coef.to(dt).reshape(-1, 1, 1, 1)
            x = F.conv2d(x, wm, bias, padding=k - 1)
        else:
            x = F.conv2d(x * styles_n.to(dt).reshape(n, ci, 1, 1), weight, padding=k - 1)
            x = torch.addcmul(bias.reshape(1, -1, 1, 1), x, coef.to(dt).reshape(n, -1, 1, 1))
        return filtered_lrelu(x, self.up_filter, self.down_filter, s["up"], s["down"], s["padding"],
                              gain=1.0 if self.torgb else SQRT2, slope=1.0 if self.torgb else 0.2,
                              clamp=self.conv_clamp)


class SynthesisNetwork3(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        head, specs = layer_plan(arch)
        self.input = SynthesisInput(arch["w_dim"], **head)
        self.layer_names = [s["name"] for s in specs]
        for s in specs:
            self.add_module(s["name"], SynthesisLayer3(arch["w_dim"], s, arch))
        self.num_ws = len(specs) + 1
        self.output_scale = arch["output_scale"]
        self.resolution = arch["resolution"]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", max_resolution: int | None = None,
                fused: bool | None = None, transform: torch.Tensor | None = None) -> torch.Tensor:
        """W+ -> image; no early exit exists (no layer holds an image before the last), so a smaller
        `max_resolution` is the full image averaged down."""
        x = self.input(ws[:, 0], transform)
        for i, name in enumerate(self.layer_names):
            x = getattr(self, name)(x, ws[:, i + 1])
        img = x * self.output_scale
        if max_resolution is not None and max_resolution < self.resolution:
            img = F.avg_pool2d(img, self.resolution // max_resolution)
        return img.contiguous()
