"""Pick the reader for a generator file by looking at its content, not its extension."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from ..errors import ModelFormatError
from .generator import Generator

EXPECTED = ("a StyleGAN generator: NVIDIA .pkl (TensorFlow, StyleGAN2-ADA-PyTorch or StyleGAN3), "
            "rosinality .pt, or a FaceSpace .safetensors")


def _safetensors_header(path: Path, head: bytes) -> dict | None:
    if len(head) < 10:
        return None
    (n,) = struct.unpack("<Q", head[:8])
    if head[8:9] != b"{" or n > 100_000_000:
        return None
    size = path.stat().st_size
    if 8 + n > size:
        raise ModelFormatError(f"{path.name} looks like a safetensors file but is truncated "
                               f"(header says {n} bytes, file has {size})")
    with open(path, "rb") as f:
        f.seek(8)
        try:
            return json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelFormatError(f"{path.name} looks like a safetensors file but its header is damaged") from None


def detect_format(path: str | os.PathLike) -> str:
    """'safetensors', 'torch-zip' (torch.save archive), 'pickle' (NVIDIA pickles, legacy torch.save)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"generator file {path} does not exist")
    if path.is_dir():
        raise ModelFormatError(f"{path} is a folder; expected {EXPECTED}")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise ModelFormatError(f"{path.name} is empty; expected {EXPECTED}")
    if _safetensors_header(path, head) is not None:
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "pickle"
    raise ModelFormatError(f"{path.name} is not a model file we know (starts with {head[:8]!r}); expected {EXPECTED}")


def load_generator(path: str | os.PathLike) -> Generator:
    """Any supported generator file -> Generator (eval mode, no grad). Errors name the file.

    Built outside inference mode (hosts such as ComfyUI run nodes under it) so that the weights can
    later take part in gradient computations through the latents.
    """
    with torch.inference_mode(False), torch.no_grad():
        return _load(Path(path))


def _load(path: Path) -> Generator:
    kind = detect_format(path)
    try:
        G = _convert(path, kind)
    except ModelFormatError:
        raise
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:  # data of the wrong kind
        raise ModelFormatError(f"{path.name} holds data of an unexpected kind ({type(exc).__name__}: {exc}); "
                               f"expected {EXPECTED}") from None
    G.provenance.setdefault("file", path.name)
    G.source_path = str(path.resolve())  # where it was read from (kept in memory only, never written into files)
    G.fingerprint()  # hashed once here, while the weights are as read; later moves keep it
    return G.eval().requires_grad_(False)


def _convert(path: Path, kind: str) -> Generator:
    if kind == "safetensors":
        from .native import load_native

        with open(path, "rb") as f:
            head = f.read(16)
        return load_native(path, _safetensors_header(path, head))
    if kind == "torch-zip":
        from .formats.rosinality import convert_rosinality, read_torch_file

        return convert_rosinality(read_torch_file(path), path.name)
    from .formats.pickles import load_pickle

    return load_pickle(path)
