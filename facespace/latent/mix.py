"""Mix latents layer by layer: each W+ layer range takes its own weighted mix of the inputs.

This is style mixing (the seed's style blending: coarse and middle layers from a face, fine layers from a
painting). A range's weights, one per input latent, are divided by their sum; layers no range covers keep
the first latent; where ranges overlap, the later one wins. Batches of N mix with batches of N or of 1.

Text form of one range, as `mix --layers` and the node take it: 'A-B: w1, w2, ...' (A-B inclusive, or a
group name: 'fine: 0, 1'); several ranges one per line (or separated by ';').
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..blend import GROUPS, layer_groups, normalize_rows
from ..errors import FaceSpaceError, WeightsError
from .layers import format_layers, parse_layers
from .value import Latent, check_same_generator


@dataclass(frozen=True)
class LayerMix:
    layers: range
    weights: tuple[float, ...]  # one per input latent, as given


def parse_weight_list(text: str, count: int, label: str) -> tuple[float, ...]:
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if len(parts) != count:
        raise WeightsError(f"{label}: {len(parts)} weights for {count} latents; give one per input latent")
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        raise WeightsError(f"{label}: {text.strip()!r} is not a list of numbers") from None


def parse_layer_mix(text: str, num_ws: int, count: int) -> LayerMix:
    """'A-B: w1, w2' -> LayerMix (see the module doc)."""
    head, sep, tail = str(text).partition(":")
    if not sep:
        raise WeightsError(f"layer mix {text.strip()!r} has no ':'; expected e.g. '0-3: 1, 0'")
    layers = parse_layers(head, num_ws, label=f"layer mix {text.strip()!r}")
    return LayerMix(layers, parse_weight_list(tail, count, f"layer mix {head.strip()}"))


def parse_layer_mixes(text: str, num_ws: int, count: int) -> list[LayerMix]:
    entries = [e for e in str(text or "").replace(";", "\n").splitlines() if e.strip()]
    return [parse_layer_mix(e, num_ws, count) for e in entries]


def group_mixes(num_ws: int, group_weights: dict[str, str], count: int) -> list[LayerMix]:
    """Coarse / middle / fine ranges from weights text per group ('1, 0'); empty text leaves a group out."""
    spans = layer_groups(num_ws)
    return [LayerMix(spans[g], parse_weight_list(text, count, f"{g} weights"))
            for g in GROUPS if (text := str(group_weights.get(g) or "").strip())]


def mix_latents(latents: Sequence[Latent], mixes: Sequence[LayerMix], normalize: bool = True) -> Latent:
    """One latent batch mixed from `latents` layer range by layer range (see the module doc)."""
    latents = list(latents)
    if len(latents) < 1:
        raise FaceSpaceError("mix needs at least one latent")
    check_same_generator(latents, "mix")
    sizes = {len(lat) for lat in latents} - {1}
    if len(sizes) > 1:
        raise FaceSpaceError(f"mix: batches of {sorted(len(lat) for lat in latents)} latents; each input must hold "
                             f"the same number N, or 1 (used for every item)")
    n = sizes.pop() if sizes else 1
    stack = torch.stack([lat.wplus.double().expand(n, -1, -1) for lat in latents])  # [K,N,num_ws,w_dim]
    out = stack[0].clone()
    for mix in mixes:
        if len(mix.weights) != len(latents):
            raise WeightsError(f"layers {format_layers(mix.layers)}: {len(mix.weights)} weights for "
                               f"{len(latents)} latents")
        if mix.layers.stop > out.shape[1]:
            raise FaceSpaceError(f"layers {format_layers(mix.layers)} are outside 0..{out.shape[1] - 1}")
        w = normalize_rows(torch.tensor(mix.weights, dtype=torch.float64), normalize,
                           f"layers {format_layers(mix.layers)}")[0]
        sl = slice(mix.layers.start, mix.layers.stop)
        out[:, sl] = torch.einsum("k,knld->nld", w, stack[:, :, sl])
    labels = ["+".join(lat.labels[i if len(lat) > 1 else 0] for lat in latents) for i in range(n)]
    return latents[0].replace(out.float(), labels)


def describe(mixes: Sequence[LayerMix]) -> list[str]:
    return [f"layers {format_layers(m.layers)}: {', '.join(f'{w:g}' for w in m.weights)}" for m in mixes]
