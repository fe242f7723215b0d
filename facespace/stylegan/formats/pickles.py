"""Pickle files: NVIDIA TensorFlow (G, D, Gs) tuples, StyleGAN2-ADA-PyTorch dicts, legacy torch.save files."""
from __future__ import annotations

from pathlib import Path

from ...errors import ModelFormatError
from ...limits import short
from ..safe_pickle import TORCH_MAGIC, PersistentObject, TFNetwork, read_torch_file, safe_load_pickle
from .ada_pytorch import convert_ada
from .nvidia_tf import convert_tf
from .rosinality import convert_rosinality


def load_pickle(path: Path):
    obj = safe_load_pickle(path)
    source = path.name
    if type(obj) is int and obj == TORCH_MAGIC:  # torch.save without the zip container
        return convert_rosinality(read_torch_file(path), source)
    if isinstance(obj, TFNetwork) or (isinstance(obj, tuple) and obj and isinstance(obj[-1], TFNetwork)):
        return convert_tf(obj, source)
    if isinstance(obj, dict):
        g = obj.get("G_ema", obj.get("G"))
        if isinstance(g, PersistentObject):
            return convert_ada(g, source)
    if isinstance(obj, PersistentObject):
        return convert_ada(obj, source)
    what = (f"a dict with keys {', '.join(short(k, 30) for k in list(obj)[:6])}" if isinstance(obj, dict)
            else f"a {type(obj).__name__}")
    raise ModelFormatError(f"{source} is a pickle of {what}, not a StyleGAN generator; expected an NVIDIA "
                           "StyleGAN/StyleGAN2 .pkl with Gs or G_ema")
