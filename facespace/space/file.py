"""The FaceSpace file: one .safetensors with the encoder, the per-face codes and W+ table, and JSON metadata.

Tensors: `encoder.<state-dict key>`, `codes` [N,N] (one-hot code per face), `wplus_table` [N,num_ws,w_dim].
Header metadata (strings): `format` = "facespace", `format_version`, and `facespace`, a JSON object with
names, generator_fingerprint, resolution, num_ws, w_dim, encoder_kind, encoder_kwargs and the training
record (settings, compact loss history, per-face PSNR, ...).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..errors import ModelFormatError
from ..fileio import atomic_path, check_writable
from ..limits import check_finite
from ..safetensors_file import bounded_json, check_format, read_header, read_tensors
from .encoders import encoder_from_state
from .model import FaceSpace

FORMAT = "facespace"
FORMAT_VERSION = 1
_CORE_KEYS = ("names", "generator_fingerprint", "resolution", "num_ws", "w_dim", "encoder_kind", "encoder_kwargs")


def save_facespace(fs: FaceSpace, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `fs` atomically; an existing file is replaced only when `overwrite`."""
    path = check_writable(path, overwrite)
    tensors = {f"encoder.{k}": v.detach().float().cpu().contiguous() for k, v in fs.encoder.state_dict().items()}
    tensors["codes"] = fs.face_codes.contiguous()
    tensors["wplus_table"] = fs.wplus_table.detach().float().cpu().contiguous()
    info = {k: v for k, v in fs.metadata.items() if k not in _CORE_KEYS}
    info.update(names=fs.names, generator_fingerprint=fs.generator_fingerprint, resolution=fs.resolution,
                num_ws=fs.num_ws, w_dim=fs.w_dim, encoder_kind=fs.encoder_kind, encoder_kwargs=fs.encoder_kwargs)
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "facespace": json.dumps(info, default=_jsonable)}
    with atomic_path(path, overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def _jsonable(obj: Any):
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def read_facespace_info(path: str | os.PathLike) -> dict:
    """Names, generator fingerprint, sizes and training record from the header only (no tensors read)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FaceSpace file {path} not found")
    meta = read_header(path, "FaceSpace file").metadata
    version = check_format(meta, path, FORMAT, FORMAT_VERSION, "FaceSpace file", "FaceSpace training")
    if "facespace" not in meta:
        raise ModelFormatError(f"{path} is a damaged FaceSpace file: no 'facespace' metadata")
    info = bounded_json(meta["facespace"], str(path), "the FaceSpace metadata")
    if not isinstance(info, dict):
        raise ModelFormatError(f"{path} is a damaged FaceSpace file: its metadata is not a JSON object")
    missing = [k for k in _CORE_KEYS if k not in info]
    if missing:
        raise ModelFormatError(f"{path} is a damaged FaceSpace file: metadata lacks {missing}")
    info["format_version"] = version
    return info


def load_facespace(path: str | os.PathLike, stylegan=None, allow_mismatch: bool = False) -> FaceSpace:
    """Read a FaceSpace file; with `stylegan`, bound to it (refused for another generator unless `allow_mismatch`)."""
    path = Path(path)
    info = read_facespace_info(path)
    tensors = read_tensors(path)
    check_finite(tensors, str(path))
    if "wplus_table" not in tensors:
        raise ModelFormatError(f"{path} is a damaged FaceSpace file: it lacks the wplus_table tensor")
    table = tensors["wplus_table"]
    state = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
    encoder = encoder_from_state(info["encoder_kind"], info["encoder_kwargs"], state, str(path))
    if not isinstance(info["names"], list):
        raise ModelFormatError(f"{path} is a damaged FaceSpace file: its names are not a list")
    sizes = (len(info["names"]), info["num_ws"], info["w_dim"])
    encoder_sizes = tuple(info["encoder_kwargs"].get(k) for k in ("num_faces", "num_ws", "w_dim"))
    if tuple(table.shape) != sizes or encoder_sizes != sizes:
        raise ModelFormatError(f"{path}: W+ table {tuple(table.shape)} and encoder {encoder_sizes} do not match "
                               f"{sizes[0]} faces x {sizes[1]} x {sizes[2]}")
    metadata = {k: v for k, v in info.items() if k not in _CORE_KEYS and k != "format_version"}
    try:
        fs = FaceSpace(info["names"], encoder, info["encoder_kind"], table, info["resolution"],
                       info["generator_fingerprint"], metadata)
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path} is a damaged FaceSpace file: {exc}") from None
    return fs if stylegan is None else fs.bound_to(stylegan, allow_mismatch=allow_mismatch, source=str(path))
