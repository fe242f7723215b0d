"""Shared steps of every reader: build the Generator from an arch and check the converted tensors fit."""
from __future__ import annotations

import numpy as np
import torch

from ...errors import ModelFormatError
from ...limits import short
from ..generator import Generator, build_generator, state_shapes


def as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.array(x, dtype=np.float32))


def generator_from_state(arch: dict, state: dict, provenance: dict, source: str) -> Generator:
    """Build from `arch`, load `state` (our key names) strictly; errors name `source` and the tensor at fault."""
    try:
        expected = state_shapes(arch)
    except (ModelFormatError, KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise ModelFormatError(f"{source}: cannot build a generator from its settings ({exc})") from None
    check_state(expected, {k: tuple(v.shape) for k, v in state.items()}, source)
    check_backed_by_data(state, source)
    G = build_generator(arch)
    G.load_state_dict({k: as_tensor(v) for k, v in state.items()})
    G.provenance = dict(provenance)
    return G


def check_state(expected: dict, found: dict, source: str) -> None:
    """Same tensor names and shapes as the architecture needs, else an error naming the first difference."""
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ModelFormatError(f"{source}: the file lacks {len(missing)} generator tensors, e.g. {missing[:3]}")
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        raise ModelFormatError(f"{source}: unexpected generator tensors {', '.join(map(short, unexpected[:3]))}")
    for k, shape in found.items():
        if shape != expected[k]:
            raise ModelFormatError(f"{source}: tensor for {k} has shape {shape}, "
                                   f"expected {expected[k]} for this architecture")


def check_backed_by_data(state: dict, source: str) -> None:
    """Tensors must not claim more elements than the file holds bytes for (a broadcast view of a small
    storage would make a tiny file ask for a network of any size)."""
    claimed, held = 0, {}
    for v in state.values():
        if isinstance(v, torch.Tensor):
            claimed += v.numel() * v.element_size()
            storage = v.untyped_storage()
            held[storage.data_ptr()] = storage.nbytes()
        else:
            a = np.asarray(v)
            claimed += a.nbytes
            held[id(a)] = a.nbytes
    if claimed > sum(held.values()):
        raise ModelFormatError(f"{source}: its tensors claim {claimed} bytes but hold only {sum(held.values())}; "
                               "expected one stored value per weight")


def need(tensors: dict, key: str, source: str, what: str = "StyleGAN"):
    try:
        return tensors[key]
    except KeyError:
        raise ModelFormatError(f"{source}: missing '{key}'; not a complete {what} generator") from None
