"""Shared steps of every reader: build the Generator from an arch and check the converted tensors fit."""
from __future__ import annotations

import numpy as np
import torch

from ...errors import ModelFormatError
from ..generator import Generator, build_generator


def as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.array(x, dtype=np.float32))


def generator_from_state(arch: dict, state: dict, provenance: dict, source: str) -> Generator:
    """Build from `arch`, load `state` (our key names) strictly; errors name `source` and the tensor at fault."""
    try:
        G = build_generator(arch)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFormatError(f"{source}: cannot build a generator from its settings ({exc})") from None
    expected = G.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ModelFormatError(f"{source}: the file lacks {len(missing)} generator tensors, e.g. {missing[:3]}")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ModelFormatError(f"{source}: unexpected generator tensors {unexpected[:3]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ModelFormatError(f"{source}: tensor for {k} has shape {tuple(v.shape)}, "
                                   f"expected {tuple(expected[k].shape)} for this architecture")
    G.load_state_dict({k: as_tensor(v) for k, v in state.items()})
    G.provenance = dict(provenance)
    return G


def need(tensors: dict, key: str, source: str, what: str = "StyleGAN"):
    try:
        return tensors[key]
    except KeyError:
        raise ModelFormatError(f"{source}: missing '{key}'; not a complete {what} generator") from None
