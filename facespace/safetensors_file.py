"""The one safetensors reader of the library: a bounded header, a checked tensor table, then the tensors.

Generator files and FaceSpace files both go through here. The header is measured before it is parsed
(size, nesting, number of objects), every tensor's dtype, shape and byte range are checked against the
file before anything is read, and the byte ranges may not overlap, so the tensors never take more memory
than the file's own bytes.
"""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ModelFormatError
from .limits import LIMITS, short

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


@dataclass
class Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass
class SafetensorsHeader:
    metadata: dict[str, str]
    tensors: dict[str, Entry]
    data_start: int


def looks_like_safetensors(head: bytes) -> bool:
    """The first bytes of a file: an 8-byte little-endian header length, then a JSON object."""
    return len(head) >= 10 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= LIMITS.header_bytes


def bounded_json(text, source: str, what: str):
    """json.loads for text from a file, after checking its length, nesting and number of objects."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if len(raw) > LIMITS.header_bytes:
        raise ModelFormatError(f"{source}: {what} is {len(raw):,} bytes; expected at most {LIMITS.header_bytes:,}")
    skeleton = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    opens = (skeleton == ord("{")) | (skeleton == ord("["))
    closes = (skeleton == ord("}")) | (skeleton == ord("]"))
    depth = int(np.cumsum(opens.astype(np.int64) - closes).max(initial=0))
    if int(opens.sum()) > LIMITS.json_containers or depth > LIMITS.json_depth:
        raise ModelFormatError(f"{source}: {what} nests {depth} levels deep or holds more than "
                               f"{LIMITS.json_containers:,} objects; expected a small JSON text")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise ModelFormatError(f"{source}: {what} is not valid JSON ({str(exc)[:80]})") from None


def _entry(name: str, spec, data_size: int, source: str) -> Entry:
    if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES:
        dtype = spec.get("dtype") if isinstance(spec, dict) else spec
        raise ModelFormatError(f"{source}: tensor {short(name)} has dtype {short(dtype)}; "
                               f"expected one of {', '.join(DTYPES)}")
    shape, offsets = spec.get("shape"), spec.get("data_offsets")
    ints = lambda v, n=None: (isinstance(v, list) and (n is None or len(v) == n) and len(v) <= LIMITS.ndim
                              and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v))
    if not ints(shape) or not ints(offsets, 2):
        raise ModelFormatError(f"{source}: tensor {short(name)} has a bad shape or byte range")
    dtype = DTYPES[spec["dtype"]]
    numel = int(np.prod(shape, dtype=object)) if shape else 1
    begin, end = offsets
    if end < begin or end > data_size or end - begin != numel * torch.empty(0, dtype=dtype).element_size():
        raise ModelFormatError(f"{source}: tensor {short(name)} of shape {tuple(shape)} does not fit its byte range "
                               f"{begin}..{end} (the file holds {data_size} data bytes)")
    return Entry(dtype, tuple(shape), begin, end)


def read_header(path: str | os.PathLike, what: str = "safetensors file") -> SafetensorsHeader:
    """The checked header of a safetensors file; errors name the file and say what is wrong."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) != 8:
            raise ModelFormatError(f"{path} is not a {what}: too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > LIMITS.header_bytes:
            raise ModelFormatError(f"{path} is not a {what}: its header length {n:,} is outside "
                                   f"2..{LIMITS.header_bytes:,}")
        if 8 + n > size:
            raise ModelFormatError(f"{path} is a truncated {what} (header says {n} bytes, file has {size})")
        header = bounded_json(f.read(n), f"{path} is a damaged {what}", "its safetensors header")
    if not isinstance(header, dict):
        raise ModelFormatError(f"{path} is not a {what}: its safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ModelFormatError(f"{path} is a damaged {what}: its metadata is not a table of texts")
    if len(header) > LIMITS.tensors:
        raise ModelFormatError(f"{path}: {len(header):,} tensors; expected at most {LIMITS.tensors:,}")
    data_size = size - 8 - n
    tensors = {name: _entry(name, spec, data_size, str(path)) for name, spec in header.items()}
    last = 0
    for name, e in sorted(tensors.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if e.begin < last:
            raise ModelFormatError(f"{path}: tensor {short(name)} overlaps another; expected one byte range per tensor")
        last = e.end
    return SafetensorsHeader(meta, tensors, 8 + n)


def check_format(meta: dict, path, fmt: str, version: int, what: str, written_by: str) -> int:
    """The file's format version, once its metadata names our format `fmt` at a version this code reads."""
    if meta.get("format") != fmt:
        raise ModelFormatError(f"{path} is not a {what} (a .safetensors written by {written_by} was expected; "
                               f"its metadata format is {short(meta.get('format'))})")
    found = meta.get("format_version", "")
    if not isinstance(found, str) or not found.isdigit() or int(found) > version:
        raise ModelFormatError(f"{path} has {what} format version {short(found)}; this version reads up to "
                               f"{version}")
    return int(found)


def read_tensors(path: str | os.PathLike, header: SafetensorsHeader | None = None) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file (CPU, writable), read after `read_header`'s checks."""
    path = Path(path)
    header = header or read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, e in header.tensors.items():
            f.seek(header.data_start + e.begin)
            data = bytearray(e.end - e.begin)
            if f.readinto(data) != len(data):
                raise ModelFormatError(f"{path} is truncated inside tensor {short(name)}")
            flat = torch.frombuffer(data, dtype=e.dtype) if data else torch.empty(0, dtype=e.dtype)
            out[name] = flat.reshape(e.shape)
    return out
