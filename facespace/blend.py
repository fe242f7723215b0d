"""Blend weights and blends: new faces from a mix of the training faces.

A blend is a row of weights, one per training face (training order). The FaceSpace's encoder
turns the row into W+ (`FaceSpace.encode`), the generator renders it.

Weights as text, the form the node's sliders and the CLI share:
- by name:     "anna=0.6, bea=0.4"   (faces not named get 0; `name: value` is read too)
- by position: "0.6, 0.4, 0, 0"      (exactly one value per face, training order)
Entries are separated by commas, semicolons or new lines. `format_weights` writes the canonical
form (every face, training order, "name=value, name=value"), and
`parse_weights(format_weights(names, w), names)` gives `w` back (to 6 decimals).
Rejected with `WeightsError`: unparsable numbers, NaN/inf, negative weights, wrong counts,
a face named twice, names mixed with bare numbers, and (when used) all-zero rows.
Unknown names raise `UnknownFaceError` listing the known names.

Random blends: each row is |N(0,1)| per face (the original research code's choice: every face
takes part, a few dominate), drawn from a CPU generator seeded with `seed`, so the same seed gives
the same blends on any device. With normalisation on, each row is then divided by its sum.

Layer groups (style mixing): W+ layers split into coarse (pose, face shape), middle (features,
hair) and fine (colour, texture) ranges, each blended with its own weights. For 18 layers
(1024 px) the split is the StyleGAN paper's 0-3 / 4-7 / 8-17; for other layer counts the two
boundaries scale with the count (round(n*4/18), round(n*8/18)), keeping at least one layer per
group: 16 layers (StyleGAN3) -> 0-3 / 4-6 / 7-15, 14 layers (256 px) -> 0-2 / 3-5 / 6-13, 8 layers (32 px) ->
0-1 / 2-3 / 4-7.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .errors import UnknownFaceError, WeightsError
from .names import split_list
from .space import FaceSpace

GROUPS = ("coarse", "middle", "fine")
RANDOM_KEYWORD = "random"
# The value never holds '=' or ':', so a name may: split at the last one.
_NAME_VALUE = re.compile(r"^(?P<name>.*\S)\s*[=:]\s*(?P<value>[^=:]*)$")
_DECIMALS = 6


# ---------------------------------------------------------------- text <-> weights

def format_number(value: float) -> str:
    """Shortest plain decimal with up to 6 decimals: 0.6 -> '0.6', 1.0 -> '1', 1e-5 -> '0.00001'."""
    text = f"{round(float(value), _DECIMALS):.{_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_weights(names: Sequence[str], values: Sequence[float]) -> str:
    """The canonical text: every face in training order, 'name=value, name=value'."""
    values = [float(v) for v in (values.tolist() if isinstance(values, torch.Tensor) else values)]
    if len(values) != len(names):
        raise WeightsError(f"{len(values)} weights for {len(names)} faces ({', '.join(names)})")
    for name in names:
        if split_list(name) != [name]:  # the name would not read back as itself
            raise WeightsError(f"face name {name!r} cannot be written as weights text (names must not contain "
                               f"commas, semicolons or new lines, nor start or end with spaces)")
    return ", ".join(f"{name}={format_number(v)}" for name, v in zip(names, values))


def _parse_number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise WeightsError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise WeightsError(f"{where}: {text!r} is not a finite number")
    if value < 0:
        raise WeightsError(f"{where}: {text} is negative; blend weights must be 0 or more")
    return value


def resolve_name(name: str, names: Sequence[str]) -> int:
    """Index of a face name: exact match first, then a unique case-insensitive match."""
    if name in names:
        return list(names).index(name)
    folded = [i for i, n in enumerate(names) if n.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise UnknownFaceError(f"unknown face {name!r}; this FaceSpace holds: {', '.join(names)}")


def parse_weights(text: str, names: Sequence[str], label: str = "weights") -> list[float]:
    """Weights text -> one float per face (training order). See the module doc for the forms.

    Values are returned as written (no normalisation). `label` names the input in error messages.
    """
    if not names:
        raise WeightsError("the FaceSpace holds no faces")
    entries = split_list(text)
    if not entries:
        raise WeightsError(f"{label} is empty; expected e.g. '{format_weights(names, _example(len(names)))}'")
    named = [_NAME_VALUE.match(e) for e in entries]
    if all(m is None for m in named):
        if len(entries) != len(names):
            raise WeightsError(f"{label}: {len(entries)} values given for {len(names)} faces "
                               f"({', '.join(names)}); give one per face or use name=value")
        return [_parse_number(e, f"{label} value {i + 1}") for i, e in enumerate(entries)]
    if any(m is None for m in named):
        bare = next(e for e, m in zip(entries, named) if m is None)
        raise WeightsError(f"{label}: {bare!r} has no face name; use name=value for every entry "
                           f"or bare numbers for all faces")
    values = [0.0] * len(names)
    seen: dict[int, str] = {}
    for m in named:
        name = m.group("name").strip()
        index = resolve_name(name, names)
        if index in seen:
            raise WeightsError(f"{label}: face {names[index]!r} is given twice")
        seen[index] = name
        values[index] = _parse_number(m.group("value").strip(), f"{label} for {name!r}")
    return values


def _example(n: int) -> list[float]:
    return [0.5, 0.5] + [0.0] * (n - 2) if n >= 2 else [1.0]


def normalize_rows(rows: torch.Tensor, normalize: bool = True, label: str = "weights") -> torch.Tensor:
    """[B,N] weights -> same, each row divided by its sum when `normalize`; all-zero rows are refused."""
    rows = torch.as_tensor(rows, dtype=torch.float64)
    if rows.ndim == 1:
        rows = rows.unsqueeze(0)
    if (rows < 0).any() or not torch.isfinite(rows).all():
        raise WeightsError(f"{label}: weights must be finite and 0 or more")
    sums = rows.sum(dim=1, keepdim=True)
    if not torch.isfinite(sums).all():
        raise WeightsError(f"{label}: the weights add up to more than a number can hold; use smaller numbers "
                           "(only their ratios matter when normalised)")
    if (sums <= 0).any():
        raise WeightsError(f"{label}: all weights are zero; give at least one face a weight above 0")
    return rows / sums if normalize else rows


def random_weights(num_faces: int, count: int, seed: int) -> torch.Tensor:
    """[count, num_faces] float64 of |N(0,1)|, reproducible from `seed` on any device."""
    if count < 1:
        raise WeightsError(f"count must be 1 or more, got {count}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    rows = torch.randn(count, num_faces, generator=gen, dtype=torch.float64).abs()
    return rows.clamp_min(1e-12)  # never an all-zero row


# ---------------------------------------------------------------- layer groups

def layer_groups(num_ws: int) -> dict[str, range]:
    """W+ layer ranges of the coarse / middle / fine groups (see the module doc)."""
    if num_ws < 3:
        raise WeightsError(f"layer groups need at least 3 W+ layers, this generator has {num_ws}")
    b1 = min(max(round(num_ws * 4 / 18), 1), num_ws - 2)
    b2 = min(max(round(num_ws * 8 / 18), b1 + 1), num_ws - 1)
    return {"coarse": range(0, b1), "middle": range(b1, b2), "fine": range(b2, num_ws)}


# ---------------------------------------------------------------- blend plans

@dataclass
class BlendPlan:
    """Weights of a batch of blends: `weights` [B,N] for all layers, optionally per-group overrides."""
    names: list[str]
    weights: torch.Tensor                                       # [B,N] float64
    groups: dict[str, torch.Tensor] = field(default_factory=dict)  # group -> [B,N], only groups set apart
    num_ws: int | None = None
    normalize: bool = True

    def chart_rows(self) -> list[list[float]]:
        """The main weights per blend (what the sliders show)."""
        return self.weights.tolist()

    def chart_data(self) -> tuple[list, list[str] | None]:
        """(rows, series) for a bar chart: [B][N] weights, or with layer groups set apart
        [B][N][3] coarse/middle/fine weights and series ['coarse', 'middle', 'fine']."""
        if not self.groups:
            return self.weights.tolist(), None
        stacked = torch.stack([self.groups.get(g, self.weights) for g in GROUPS], dim=-1)  # [B,N,3]
        return stacked.tolist(), list(GROUPS)

    def info(self) -> dict:
        """The FACESPACE_WEIGHTS dict: plain lists, JSON-able."""
        groups = {}
        if self.groups and self.num_ws is not None:
            for group, layers in layer_groups(self.num_ws).items():
                rows = self.groups.get(group, self.weights)
                groups[group] = {"layers": [layers.start, layers.stop], "weights": rows.tolist()}
        return {"names": list(self.names), "weights": self.weights.tolist(), "groups": groups,
                "normalized": bool(self.normalize)}


def plan_blends(names: Sequence[str], weights: str = "", mode: str = "weights", count: int = 1, seed: int = 0,
                normalize: bool = True, group_weights: dict[str, str] | None = None,
                num_ws: int | None = None) -> BlendPlan:
    """Turn the user's inputs into a batch of weight rows.

    mode 'weights': `weights` text (empty = an equal share, 1/N, for every face): one blend.
    mode 'random':  `count` random rows from `seed` (the `weights` text is ignored).
    `group_weights` maps 'coarse'/'middle'/'fine' to weights text for those W+ layers
    (empty = the main weights; 'random' = random rows of their own, from seed+1, +2, +3).
    `count` applies only where something is random (random mode or a 'random' layer group);
    otherwise every blend would be the same, so one is made.
    """
    names = list(names)
    n = len(names)
    if n == 0:
        raise WeightsError("the FaceSpace holds no faces")
    count = int(count)
    if count < 1:
        raise WeightsError(f"count must be 1 or more, got {count}")
    texts = [((group_weights or {}).get(g) or "").strip().lower() for g in GROUPS]
    if mode != "random" and RANDOM_KEYWORD not in texts:
        count = 1
    if mode == "random":
        main = random_weights(n, count, seed)
    elif mode == "weights":
        if (weights or "").strip():
            main = torch.tensor([parse_weights(weights, names)], dtype=torch.float64)
        else:
            main = torch.full((1, n), 1.0 / n, dtype=torch.float64)
        main = main.expand(count, -1).clone()
    else:
        raise WeightsError(f"mode must be 'weights' or 'random', got {mode!r}")
    main = normalize_rows(main, normalize, "weights")

    groups: dict[str, torch.Tensor] = {}
    for offset, group in enumerate(GROUPS, start=1):
        text = ((group_weights or {}).get(group) or "").strip()
        if not text:
            continue
        if num_ws is not None:
            layer_groups(num_ws)  # refuses generators too small to split
        label = f"{group}_weights"
        if text.lower() == RANDOM_KEYWORD:
            rows = random_weights(n, count, int(seed) + offset)
        else:
            rows = torch.tensor([parse_weights(text, names, label)], dtype=torch.float64).expand(count, -1)
        groups[group] = normalize_rows(rows, normalize, label)
    return BlendPlan(names=names, weights=main, groups=groups, num_ws=num_ws, normalize=normalize)


# ---------------------------------------------------------------- blends -> W+ -> images

def blend_wplus(facespace: FaceSpace, plan: BlendPlan) -> torch.Tensor:
    """W+ [B,num_ws,w_dim] of the planned blends, from the FaceSpace's encoder.

    Without layer groups this is exactly `facespace.encode(weights)`; with groups each W+ layer
    range is taken from `encode` of that group's weights.
    """
    if list(plan.names) != list(facespace.names):
        raise WeightsError(f"weights are for faces {plan.names}, the FaceSpace holds {list(facespace.names)}")
    ws = facespace.encode(plan.weights.float())
    if plan.groups:
        spans = layer_groups(ws.shape[1])
        ws = ws.clone()
        for group, rows in plan.groups.items():
            layers = spans[group]
            ws[:, layers.start:layers.stop] = facespace.encode(rows.float())[:, layers.start:layers.stop]
    return ws


def attached_stylegan(facespace: FaceSpace):
    """The generator a FaceSpace is bound to, or an error saying how to bind one."""
    return facespace.require_stylegan()


def render_blends(facespace: FaceSpace, plan: BlendPlan, runtime=None, batch_size: int = 8, transform=None) -> torch.Tensor:
    """IMAGE [B,H,W,3] of the planned blends, rendered with the FaceSpace's generator (`transform`: StyleGAN.render)."""
    return attached_stylegan(facespace).render(blend_wplus(facespace, plan), runtime=runtime, batch_size=batch_size,
                                               transform=transform)
