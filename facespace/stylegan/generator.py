"""The Generator module: mapping + truncation + synthesis for both StyleGAN families.

`arch` is a JSON-able dict of constructor arguments stored with the weights, so any file we
write or convert can be rebuilt with `build_generator(arch)`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math

import numpy as np
import torch
from torch import nn

from ..errors import ModelFormatError
from ..limits import finite_number, short
from .layers import MappingNetwork
from .stylegan1 import SynthesisNetwork1
from .stylegan2 import SynthesisNetwork2
from .stylegan3 import SynthesisNetwork3, normalize_stylegan3

FAMILIES = ("stylegan1", "stylegan2", "stylegan3")
NOISE_MODES = ("const", "random", "none")
MAX_RESOLUTION = 2 ** 14  # bounds on what a file's arch may ask for, far above any released StyleGAN
MAX_MAPPING_LAYERS = 64
MAX_FILTER_TAPS = 8
MAX_WIDTH = 1 << 16  # latent and channel widths (released models: 512)


def default_channels(resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    return {2 ** i: min(channel_base // 2 ** i, channel_max) for i in range(2, int(math.log2(resolution)) + 1)}


def normalize_arch(arch: dict) -> dict:
    """Fill defaults and check an arch dict; returns a JSON-able copy with string channel keys."""
    a = copy.deepcopy(dict(arch))
    family = a.get("family")
    if family not in FAMILIES:
        raise ModelFormatError(f"generator arch has family {family!r}; expected one of {FAMILIES}")
    res = a.get("resolution", 0)
    if not isinstance(res, int) or isinstance(res, bool):
        raise ModelFormatError(f"generator resolution {short(res)} is not a whole number")
    if res < 4 or res & (res - 1):
        raise ModelFormatError(f"generator resolution {res} is not a power of two >= 4")
    if res > MAX_RESOLUTION:
        raise ModelFormatError(f"generator resolution {res} is above {MAX_RESOLUTION}")
    a["resolution"] = res
    a.setdefault("z_dim", 512)
    a.setdefault("w_dim", 512)
    a.setdefault("img_channels", 3)
    a.setdefault("mapping_layers", 8)
    a.setdefault("mapping_hidden", a["w_dim"])
    a.setdefault("mapping_lr_mul", 0.01)
    layers = a["mapping_layers"]
    if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= MAX_MAPPING_LAYERS:
        raise ModelFormatError(f"generator has {short(layers)} mapping layers; expected 1 to {MAX_MAPPING_LAYERS}")
    a["mapping_lr_mul"] = finite_number(a["mapping_lr_mul"], "mapping_lr_mul", "generator arch", 1e-8, 1e3)
    if family == "stylegan3":  # layer sizes follow from a few settings, not from a channel table
        return normalize_stylegan3(a)
    if "channels" not in a:
        base = a.pop("channel_base", 8192 if family == "stylegan1" else 32768)
        cmax = a.pop("channel_max", 512)
        if family == "stylegan1":  # nf(stage) = base / 2^stage at stage log2(res) - 1
            a["channels"] = {r: min(base * 2 // r, cmax) for r in default_channels(res, 1, 1)}
        else:
            a["channels"] = default_channels(res, base, cmax)
    if not isinstance(a["channels"], dict) or len(a["channels"]) > 16:
        raise ModelFormatError(f"generator channels {short(a['channels'])} is not a table of up to 16 resolutions")
    a["channels"] = {str(int(k)): v for k, v in a["channels"].items()}
    missing = [r for r in default_channels(res, 1, 1) if str(r) not in a["channels"]]
    if missing:
        raise ModelFormatError(f"generator arch lacks channel counts for resolutions {missing}")
    sizes = {k: a[k] for k in ("z_dim", "w_dim", "img_channels", "mapping_hidden")}
    sizes.update({f"channels at {r}": c for r, c in a["channels"].items()})
    bad = {k: short(v) for k, v in sizes.items()
           if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= (16 if k == "img_channels" else MAX_WIDTH)}
    if bad:
        raise ModelFormatError(f"generator sizes {bad} are not whole numbers from 1 to {MAX_WIDTH} "
                               "(img_channels: to 16)")
    if a.get("conv_clamp") is not None:
        a["conv_clamp"] = finite_number(a["conv_clamp"], "conv_clamp", "generator arch", 1e-3, 1e6)
    if family == "stylegan2":
        a.setdefault("conv_clamp", None)
        a.setdefault("resample_filter", [1, 3, 3, 1])
    else:
        a.setdefault("blur_filter", [1, 2, 1])
        a.setdefault("fused_min_res", 128)
    key = "resample_filter" if family == "stylegan2" else "blur_filter"
    taps = a[key]
    if (not isinstance(taps, (list, tuple)) or not 1 <= len(taps) <= MAX_FILTER_TAPS
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in taps)):
        raise ModelFormatError(f"generator {key} {short(taps)} is not a list of 1 to {MAX_FILTER_TAPS} numbers")
    a[key] = [finite_number(t, key, "generator arch", -1e6, 1e6) for t in taps]
    if sum(a[key]) <= 0:
        raise ModelFormatError(f"generator {key} {a[key]} does not sum to more than 0")
    if family == "stylegan1":
        fused = a["fused_min_res"]
        if not isinstance(fused, int) or isinstance(fused, bool) or not 1 <= fused <= 2 * MAX_RESOLUTION:
            raise ModelFormatError(f"generator fused_min_res {short(fused)} is not a resolution")
    return a


class Generator(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        arch = normalize_arch(arch)
        self.arch = arch
        self.family: str = arch["family"]
        self.z_dim: int = arch["z_dim"]
        self.w_dim: int = arch["w_dim"]
        self.resolution: int = arch["resolution"]
        self.img_channels: int = arch["img_channels"]
        self.provenance: dict = {}
        self.source_path: str = ""  # the file it was loaded from, if any
        channels = {int(k): v for k, v in arch.get("channels", {}).items()}
        self.mapping_network = MappingNetwork(self.z_dim, self.w_dim, arch["mapping_layers"], arch["mapping_hidden"],
                                              arch["mapping_lr_mul"],
                                              style="stylegan1" if self.family == "stylegan1" else "stylegan2")
        if self.family == "stylegan3":
            self.synthesis_network = SynthesisNetwork3(arch)
        elif self.family == "stylegan2":
            self.synthesis_network = SynthesisNetwork2(self.w_dim, self.resolution, self.img_channels, channels,
                                                       arch["resample_filter"], arch["conv_clamp"])
        else:
            self.synthesis_network = SynthesisNetwork1(self.w_dim, self.resolution, self.img_channels, channels,
                                                       arch["blur_filter"], arch["fused_min_res"])
        self.num_ws: int = self.synthesis_network.num_ws
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

    def mapping(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """z [N,z_dim] -> W+ [N,num_ws,w_dim], truncated toward w_avg on layers < cutoff (None = all)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N,{self.z_dim}], got {tuple(z.shape)}")
        w = self.mapping_network(z.to(self.w_avg.dtype))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            n = self.num_ws if cutoff is None else max(0, min(int(cutoff), self.num_ws))
            avg = self.w_avg.to(ws.dtype)
            ws[:, :n] = avg + (ws[:, :n] - avg) * psi
        return ws

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", max_resolution: int | None = None,
                  fused: bool | None = None, transform: torch.Tensor | None = None) -> torch.Tensor:
        """W+ [N,num_ws,w_dim] -> image [N,C,R,R] (about -1..1); R = min(resolution, max_resolution).

        `transform` ([3,3] or [N,3,3], see `stylegan3.input_transform`) pans / rotates a StyleGAN3 image.
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N,{self.num_ws},{self.w_dim}], got {tuple(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if max_resolution is not None:
            max_resolution = int(max_resolution)
            if max_resolution < 4 or max_resolution & (max_resolution - 1):
                raise ValueError(f"max_resolution must be a power of two >= 4, got {max_resolution}")
        if transform is None:
            return self.synthesis_network(ws, noise_mode=noise_mode, max_resolution=max_resolution, fused=fused)
        if self.family != "stylegan3":
            raise ValueError(f"panning or rotating the input needs a StyleGAN3 generator; this one is {self.family}")
        if transform.shape not in ((3, 3), (ws.shape[0], 3, 3)):
            raise ValueError(f"transform must have shape [3,3] or [{ws.shape[0]},3,3], got {tuple(transform.shape)}")
        return self.synthesis_network(ws, noise_mode=noise_mode, max_resolution=max_resolution, fused=fused,
                                      transform=transform)

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, psi, cutoff), noise_mode=noise_mode)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def fingerprint(self) -> str:
        """Stable short hex digest of arch + weights (independent of device and dtype).

        Hashing reads every weight, so the digest is kept until a weight changes: in place (version
        counters), by replacement (storage address) or through `load_state_dict`. Device and dtype moves
        carry it over: it always describes the weights as they were before any cast.
        """
        cached = self.__dict__.get("_fingerprint")
        key = self._weights_key()
        if cached is None or cached[0] != key:
            cached = (key, self._hash_weights())
            self.__dict__["_fingerprint"] = cached
        return cached[1]

    def _weights_key(self) -> tuple:
        # Inference tensors keep no version counter; in-place edits to them are only seen via load_state_dict.
        return tuple((id(t), t.data_ptr(), t.dtype, t.device, -1 if t.is_inference() else t._version)
                     for t in self.state_dict(keep_vars=True).values())

    def _hash_weights(self) -> str:
        h = hashlib.sha256(json.dumps(self.arch, sort_keys=True).encode())
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy()).tobytes())
        return h.hexdigest()[:16]

    def _apply(self, fn, *args, **kwargs):
        """Moves and casts (`to`, `cuda`, `half`, ...) keep a fingerprint that was current before them."""
        cached = self.__dict__.get("_fingerprint")
        current = cached is not None and cached[0] == self._weights_key()
        out = super()._apply(fn, *args, **kwargs)
        if current:
            self.__dict__["_fingerprint"] = (self._weights_key(), cached[1])
        return out

    def load_state_dict(self, *args, **kwargs):
        self.__dict__.pop("_fingerprint", None)
        return super().load_state_dict(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"family={self.family}, resolution={self.resolution}, num_ws={self.num_ws}, w_dim={self.w_dim}"


def build_generator(arch: dict) -> Generator:
    return Generator(arch)


def state_shapes(arch: dict) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor `build_generator(arch)` holds, worked out without allocating any:
    a file's arch can be checked against its tensors before weights of that size are made."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in Generator(arch).state_dict().items()}
