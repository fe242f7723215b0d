"""The pack's own generator file: a .safetensors with the weights, the arch and the provenance."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..errors import ModelFormatError
from ..fileio import atomic_path
from ..safetensors_file import SafetensorsHeader, bounded_json, check_format, read_tensors
from .formats.common import generator_from_state
from .generator import Generator

FORMAT_TAG = "facespace.stylegan"
FORMAT_VERSION = "1"


def save_generator(G: Generator, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write weights + arch + provenance; never replaces an existing file unless `overwrite`."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in G.state_dict().items()}
    meta = {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION,
        "arch": json.dumps(G.arch, sort_keys=True),
        "provenance": json.dumps(G.provenance, sort_keys=True, default=str),
        "fingerprint": G.fingerprint(),
    }
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_native(path: Path, header: SafetensorsHeader) -> Generator:
    meta = header.metadata
    if meta.get("format") != FORMAT_TAG:
        raise ModelFormatError(
            f"{path.name} is a safetensors file but not a FaceSpace generator (no '{FORMAT_TAG}' metadata); "
            "convert the original StyleGAN file with `python -m facespace convert`")
    check_format(meta, path.name, FORMAT_TAG, int(FORMAT_VERSION), "FaceSpace generator",
                 "`python -m facespace convert`")
    if "arch" not in meta:
        raise ModelFormatError(f"{path.name}: generator metadata is damaged (no arch)")
    arch = bounded_json(meta["arch"], path.name, "the generator arch")
    provenance = bounded_json(meta.get("provenance", "{}"), path.name, "the generator provenance")
    if not isinstance(arch, dict):
        raise ModelFormatError(f"{path.name}: generator arch is {type(arch).__name__}; expected a JSON object")
    if not isinstance(provenance, dict):
        raise ModelFormatError(f"{path.name}: generator provenance is {type(provenance).__name__}; expected a dict")
    return generator_from_state(arch, read_tensors(path, header), provenance, path.name)
