"""Bounds on what a file or an input may ask of the process, and the checks that share them.

Every limit sits far above any real file (StyleGAN2 config-f at 1024 px: about 30M values in about
400 tensors, pickle nesting below 20, JSON headers below 1 MB) and far below harm (each bound keeps
memory and time within a small multiple of the file's own size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import ModelFormatError


@dataclass(frozen=True)
class Limits:
    pickle_ops: int = 2_000_000          # opcodes per file (real pickles: well under 100k)
    nesting: int = 100                   # containers inside containers (real files: under 20)
    expanded_size: int = 20_000_000      # objects counted through every shared reference
    key_cost: int = 10_000               # objects hashed for one dict key / set item
    key_depth: int = 32
    line_bytes: int = 1 << 20            # one text line of a protocol-0 pickle
    long_bytes: int = 64                 # one pickled integer
    values: int = 500_000_000            # tensor / array elements claimed by one file
    tensors: int = 50_000
    ndim: int = 8
    zip_entries: int = 60_000
    deflate_ratio: int = 16              # a deflated record may claim this many times its stored bytes (+1 MB)
    header_bytes: int = 16 << 20         # a safetensors header
    json_containers: int = 200_000       # objects and arrays in one JSON text
    json_depth: int = 32
    photo_pixels: int = 80_000_000       # below PIL's own warning limit (89.5 MP); one decoded photo ~240 MB


LIMITS = Limits()


def short(value, width: int = 60) -> str:
    """File data for a message: only short strings and numbers are shown, never anything that is costly to print."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10 ** 30:
        return str(value)
    if isinstance(value, (bool, float)) or value is None:
        return repr(value)
    if isinstance(value, str):
        text = ascii(value[:width + 1])[1:-1]
        return f"'{text[:width]}{'...' if len(value) > width else ''}'"
    return f"a {type(value).__name__}"


def one_line(text: str) -> str:
    """A message as one line: line breaks and runs of spaces become single spaces."""
    return " ".join(str(text).split())


def check_finite(tensors: dict, source: str, what: str = "tensor") -> None:
    """Refuse NaN or inf anywhere, naming the first tensor holding one."""
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ModelFormatError(f"{source}: {what} {name} holds {bad} NaN or infinite value(s); "
                                   "the file is damaged or was saved from a diverged training")


def finite_number(value, name: str, source: str, low: float, high: float) -> float:
    """A setting read from a file: a real number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFormatError(f"{source}: {name} is {short(value)}; expected a number")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x) or not low <= x <= high:
        raise ModelFormatError(f"{source}: {name} is {short(value)}; expected a finite number from {low:g} to {high:g}")
    return x
