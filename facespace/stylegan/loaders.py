"""Pick the reader for a generator file by looking at its content, not its extension."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import FaceSpaceError, ModelFormatError
from ..limits import check_finite, short
from ..safetensors_file import looks_like_safetensors, read_header
from .generator import Generator

EXPECTED = ("a StyleGAN generator: NVIDIA .pkl (TensorFlow, StyleGAN2-ADA-PyTorch or StyleGAN3), "
            "rosinality .pt, or a FaceSpace .safetensors")


def detect_format(path: str | os.PathLike) -> str:
    """'safetensors', 'torch-zip' (torch.save archive), 'pickle' (NVIDIA pickles, legacy torch.save)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"generator file {path} does not exist")
    if path.is_dir():
        raise ModelFormatError(f"{path} is a folder; expected {EXPECTED}")
    if not path.is_file():  # a pipe or a device could block or never end
        raise ModelFormatError(f"{path} is not a regular file; expected {EXPECTED}")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise ModelFormatError(f"{path.name} is empty; expected {EXPECTED}")
    if looks_like_safetensors(head):
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if len(head) >= 2 and head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "pickle"
    raise ModelFormatError(f"{path.name} is not a model file we know (its first bytes match none of the formats); "
                           f"expected {EXPECTED}")


def recorded_model(recorded, source: str, fix: str) -> str:
    """A generator path recorded inside a file (a FaceSpace, a latent) is only a hint: it is used only when it
    names a model file by content, and nothing of what it names is ever shown."""
    ok = isinstance(recorded, str) and 0 < len(recorded) < 4096 and "\0" not in recorded
    where = "it records no generator file"
    if ok:
        shown = short(recorded, 200)[1:-1]
        where = f"it was made with {shown}, which is not there now"
        try:
            if Path(recorded).is_file():
                detect_format(recorded)
                return recorded
        except (ModelFormatError, OSError, ValueError):
            where = f"it records {shown} as its generator, which is not a model file"
    raise FaceSpaceError(f"{source}: {where}; {fix}")


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
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, OverflowError, RecursionError) as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else ""  # data of the wrong kind
        raise ModelFormatError(f"{path.name} holds data of an unexpected kind ({type(exc).__name__}: {detail}); "
                               f"expected {EXPECTED}") from None
    check_finite(G.state_dict(), path.name)
    G.provenance.setdefault("file", path.name)
    G.source_path = str(path.resolve())  # where it was read from (kept in memory only, never written into files)
    G.fingerprint()  # hashed once here, while the weights are as read; later moves keep it
    return G.eval().requires_grad_(False)


def _convert(path: Path, kind: str) -> Generator:
    if kind == "safetensors":
        from .native import load_native

        return load_native(path, read_header(path, "generator file"))
    if kind == "torch-zip":
        from .formats.rosinality import convert_rosinality
        from .safe_pickle import read_torch_file

        return convert_rosinality(read_torch_file(path), path.name)
    from .formats.pickles import load_pickle

    return load_pickle(path)
