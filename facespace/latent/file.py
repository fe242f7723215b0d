"""Latent files: .safetensors with the W+ codes, the generator fingerprint and the labels; .npy read too.

Tensor `wplus` [N,num_ws,w_dim] float32. Header metadata (strings): `format` = "facespace.latent",
`format_version`, and `latent`, a JSON object with generator_fingerprint, labels, num_ws, w_dim, count,
weights (per item the FaceSpace blend that made it, or null) and generator_file (where the generator was
loaded from, or '').
A .npy holds W+ only ([N,num_ws,w_dim], or one [num_ws,w_dim]); its shape is checked against the generator
it is loaded for, and it takes that generator's fingerprint.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..errors import FaceSpaceError, ModelFormatError
from ..fileio import atomic_path, check_writable
from ..limits import check_finite, short
from ..npy_file import read_npy
from ..safetensors_file import bounded_json, check_format, read_header, read_tensors
from .value import Latent

FORMAT = "facespace.latent"
FORMAT_VERSION = 1
SUFFIXES = (".safetensors", ".npy")


def save_latent(latent: Latent, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `latent` atomically as .safetensors; an existing file is replaced only when `overwrite`."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise FaceSpaceError(f"latent file {path} must end in .safetensors")
    check_writable(path, overwrite)
    info = {"generator_fingerprint": latent.generator_fingerprint, "labels": list(latent.labels),
            "num_ws": latent.num_ws, "w_dim": latent.w_dim, "count": len(latent), "weights": list(latent.weights),
            "generator_file": latent.generator_file}
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "latent": json.dumps(info)}
    with atomic_path(path, overwrite) as tmp:
        save_file({"wplus": latent.wplus.contiguous()}, str(tmp), metadata=header)
    return path


def load_latent(path: str | os.PathLike, stylegan=None, allow_mismatch: bool = False) -> Latent:
    """Read a latent file. With `stylegan` the codes are checked against it (another generator is refused
    unless `allow_mismatch`, and then takes its fingerprint); a .npy needs `stylegan` for its shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latent file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if stylegan is None:
            raise FaceSpaceError(f"{path}: a .npy holds no generator fingerprint; read it with the generator "
                                 f"it belongs to")
        return _read_npy(path, stylegan)
    if suffix != ".safetensors":
        raise FaceSpaceError(f"latent file {path} must be a .safetensors or a .npy")
    latent = _read_safetensors(path)
    if stylegan is not None:
        latent = latent.for_generator(stylegan, allow_mismatch, source=str(path))
    return latent


def is_latent_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a latent file (a .npy, or a .safetensors whose header says so), without reading tensors."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return True
    try:
        return read_header(path, "latent file").metadata.get("format") == FORMAT
    except (ModelFormatError, OSError):  # not a safetensors file at all
        return False


def _read_safetensors(path: Path) -> Latent:
    header = read_header(path, "latent file")
    meta = header.metadata
    check_format(meta, path, FORMAT, FORMAT_VERSION, "latent file", f"FaceSpace with format {FORMAT!r}")
    if set(header.tensors) != {"wplus"}:
        raise ModelFormatError(f"{path} is a damaged latent file: tensors {sorted(map(short, header.tensors))[:4]}, "
                               f"expected ['wplus']")
    tensors = read_tensors(path, header)
    check_finite(tensors, str(path))
    wplus = tensors["wplus"]
    try:
        info = bounded_json(meta["latent"], str(path), "the latent metadata")
        labels, weights = info["labels"], info.get("weights") or []
        sizes = (int(info["count"]), int(info["num_ws"]), int(info["w_dim"]))
        fingerprint = str(info["generator_fingerprint"])
        generator_file = str(info.get("generator_file") or "")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFormatError(f"{path} is a damaged latent file: bad metadata ({type(exc).__name__})") from None
    if tuple(wplus.shape) != sizes or wplus.dtype != torch.float32:
        raise ModelFormatError(f"{path} is a damaged latent file: W+ {tuple(wplus.shape)} {wplus.dtype}, its "
                               f"metadata says {sizes} float32")
    if not isinstance(labels, list) or not isinstance(weights, list) or any(
            w is not None and not isinstance(w, dict) for w in weights):
        raise ModelFormatError(f"{path} is a damaged latent file: labels and weights must be lists")
    try:
        return Latent(wplus, fingerprint, tuple(labels), tuple(weights), generator_file)
    except FaceSpaceError as exc:
        raise ModelFormatError(f"{path} is a damaged latent file: {exc}") from None


def _read_npy(path: Path, stylegan) -> Latent:
    G = getattr(stylegan, "generator", stylegan)
    arr = read_npy(path, "W+ codes")
    shape = tuple(arr.shape)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (G.num_ws, G.w_dim) or arr.shape[0] < 1:
        raise FaceSpaceError(f"{path} holds an array of shape {shape}; expected W+ codes "
                             f"[N,{G.num_ws},{G.w_dim}] (or one [{G.num_ws},{G.w_dim}]) for this generator")
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise FaceSpaceError(f"W+ codes in {path} must be finite floats, got dtype {arr.dtype}")
    n = arr.shape[0]
    labels = [path.stem] if n == 1 else [f"{path.stem}_{i}" for i in range(n)]
    return Latent(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), G.fingerprint(), tuple(labels),
                  generator_file=G.source_path)
