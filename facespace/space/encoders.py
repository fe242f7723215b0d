"""Encoders: one code per training face -> W+ [B, num_ws, w_dim].

Each encoder keeps the keyword arguments it was built with in `.kwargs` (JSON-able), so a file
holding `kind`, `kwargs` and the state dict rebuilds it exactly (`build_encoder`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelFormatError
from ..limits import short


class EqualizedLinear(nn.Module):
    """Dense layer whose weight is scaled by gain/sqrt(fan_in) at run time (equalized learning rate)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def default_hidden(num_faces: int) -> list[int]:
    """The original's widths: N -> min(N,64) -> 64 -> 128 -> 256 -> 512 -> 512 -> W+."""
    return [min(num_faces, 64), 64, 128, 256, 512, 512]


class MLPEncoder(nn.Module):
    """The original's MLP: PixelNorm on the code, equalized-lr dense layers, leaky ReLU 0.2.

    `base` (a buffer, zeros unless set) is added to the output: training may centre the
    network on the generator's mean W so that an untrained output is the average face.
    """

    kind = "mlp"

    def __init__(self, num_faces: int, num_ws: int, w_dim: int, hidden: Sequence[int] | None = None):
        super().__init__()
        hidden = list(hidden) if hidden is not None else default_hidden(num_faces)
        self.kwargs = {"num_faces": int(num_faces), "num_ws": int(num_ws), "w_dim": int(w_dim),
                       "hidden": [int(h) for h in hidden]}
        self.num_faces, self.num_ws, self.w_dim = int(num_faces), int(num_ws), int(w_dim)
        widths = [self.num_faces, *self.kwargs["hidden"], self.num_ws * self.w_dim]
        self.layers = nn.ModuleList(EqualizedLinear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.register_buffer("base", torch.zeros(self.num_ws, self.w_dim))

    def hidden_features(self, codes: torch.Tensor) -> torch.Tensor:
        """The input of the output layer."""
        x = pixel_norm(codes)
        for layer in self.layers[:-1]:
            x = F.leaky_relu(layer(x), 0.2)
        return x

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        x = self.layers[-1](self.hidden_features(codes))
        return x.view(-1, self.num_ws, self.w_dim) + self.base


class LinearEncoder(nn.Module):
    """Barycentric encoder: W+ = mean + sum_i a_i * delta_i.

    The one-hot code of face i gives mean + delta_i, that face's W+. For weights that sum to 1,
    mean + sum a_i delta_i = sum a_i (mean + delta_i): a blend is exactly the convex combination
    of the faces' W+ codes. `mean` is a buffer (the generator's mean W), only the deltas are learned.
    """

    kind = "linear"

    def __init__(self, num_faces: int, num_ws: int, w_dim: int):
        super().__init__()
        self.kwargs = {"num_faces": int(num_faces), "num_ws": int(num_ws), "w_dim": int(w_dim)}
        self.num_faces, self.num_ws, self.w_dim = int(num_faces), int(num_ws), int(w_dim)
        self.register_buffer("mean", torch.zeros(self.num_ws, self.w_dim))
        self.deltas = nn.Parameter(torch.zeros(self.num_faces, self.num_ws, self.w_dim))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        flat = codes.to(self.deltas.dtype) @ self.deltas.flatten(1)
        return flat.view(-1, self.num_ws, self.w_dim) + self.mean

    @torch.no_grad()
    def set_face_codes(self, wplus: torch.Tensor) -> None:
        """Make one-hot code i produce wplus[i] exactly."""
        self.deltas.copy_(wplus.to(self.deltas) - self.mean)


ENCODERS = {cls.kind: cls for cls in (MLPEncoder, LinearEncoder)}
ENCODER_KINDS = tuple(ENCODERS)


def build_encoder(kind: str, **kwargs) -> nn.Module:
    """Rebuild an encoder from its kind and constructor kwargs."""
    if kind not in ENCODERS:
        raise ModelFormatError(f"unknown encoder kind {kind!r}; expected one of {list(ENCODERS)}")
    return ENCODERS[kind](**kwargs)


ENCODER_SIZES = {"num_faces": 10_000, "num_ws": 64, "w_dim": 1 << 16}  # far above any FaceSpace
MAX_HIDDEN = (8, 1 << 16)  # layers, width


def encoder_from_state(kind, kwargs, state: dict, source: str) -> nn.Module:
    """An encoder rebuilt from a file's kind, kwargs and tensors; the kwargs are checked, and the network's
    shapes are compared with the stored tensors on the meta device before any weight is allocated."""
    if kind not in ENCODERS:
        raise ModelFormatError(f"{source}: unknown encoder kind {short(kind)}; expected one of {list(ENCODERS)}")
    allowed = set(ENCODER_SIZES) | ({"hidden"} if kind == "mlp" else set())
    if not isinstance(kwargs, dict) or not set(kwargs) <= allowed or not set(ENCODER_SIZES) <= set(kwargs):
        given = sorted(map(short, kwargs)) if isinstance(kwargs, dict) else short(kwargs)
        raise ModelFormatError(f"{source}: encoder settings {given} "
                               f"are not {sorted(allowed)}")
    whole = lambda v, top: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= top
    bad = [k for k, top in ENCODER_SIZES.items() if not whole(kwargs[k], top)]
    hidden = kwargs.get("hidden")
    if hidden is not None and not (isinstance(hidden, list) and len(hidden) <= MAX_HIDDEN[0]
                                   and all(whole(h, MAX_HIDDEN[1]) for h in hidden)):
        bad.append("hidden")
    if bad:
        raise ModelFormatError(f"{source}: encoder settings {bad} are out of range "
                               f"(sizes {ENCODER_SIZES}, hidden: up to {MAX_HIDDEN[0]} widths of {MAX_HIDDEN[1]})")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in ENCODERS[kind](**kwargs).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if found != expected:
        diff = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        raise ModelFormatError(f"{source}: the encoder tensors do not fit its settings (first difference: "
                               f"{short(diff[0])}); the file is damaged")
    encoder = ENCODERS[kind](**kwargs)
    encoder.load_state_dict(state, strict=True)
    return encoder


def make_encoder(kind: str, num_faces: int, num_ws: int, w_dim: int, w_avg: torch.Tensor | None = None,
                 seed: int | None = None) -> nn.Module:
    """A fresh encoder sized for a generator, centred on its mean W when `w_avg` is given."""
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder kind {kind!r}; expected one of {list(ENCODERS)}")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            enc = ENCODERS[kind](num_faces=num_faces, num_ws=num_ws, w_dim=w_dim)
    else:
        enc = ENCODERS[kind](num_faces=num_faces, num_ws=num_ws, w_dim=w_dim)
    if w_avg is not None:
        centre = w_avg.detach().float().reshape(1, -1).expand(num_ws, -1)
        getattr(enc, "mean" if kind == "linear" else "base").copy_(centre)
    return enc
