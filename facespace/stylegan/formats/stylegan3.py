"""StyleGAN3 pickles (NVlabs/stylegan3): `G_ema` of class training.networks_stylegan3.Generator.

Persistence metadata as for StyleGAN2-ADA-PyTorch; the architecture is the network's `_init_kwargs`
(what the training script passed: sizes, channel_base / channel_max, and for config R
conv_kernel=1 and use_radial_filters). Every setting is either read into the arch, known to only
matter for training or fp16 on NVIDIA's CUDA ops, or refused: an unknown setting could change the
network in ways we would not reproduce.
"""
from __future__ import annotations

from ...errors import ModelFormatError
from ...limits import finite_number
from ..safe_pickle import PersistentObject
from ..stylegan3 import SYNTHESIS_DEFAULTS
from .ada_pytorch import our_names
from .common import generator_from_state

# Settings that do not change what the trained network computes at inference.
TRAINING_ONLY = {"magnitude_ema_beta", "num_fp16_res"}
MAPPING_TRAINING_ONLY = {"w_avg_beta"}


class KwargsReader:
    """Reads settings from a kwargs dict and remembers which; `refuse_unread` names the rest."""

    def __init__(self, kwargs, what: str, source: str):
        self.kwargs = dict(kwargs) if isinstance(kwargs, dict) else {}
        self.what, self.source = what, source
        self.read: set[str] = set()

    def get(self, key: str, default=None):
        self.read.add(key)
        return self.kwargs.get(key, default)

    def skip(self, keys) -> None:
        self.read.update(keys)

    def refuse_unread(self) -> None:
        unknown = sorted(set(self.kwargs) - self.read)
        if unknown:
            raise ModelFormatError(f"{self.source}: unknown StyleGAN3 {self.what} setting(s) {unknown}; "
                                   "refused rather than rendered differently from the original")


def _whole(value, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ModelFormatError(f"{source}: StyleGAN3 setting {key}={value!r:.40} is not a whole number")
    return int(value)


def convert_stylegan3(g: PersistentObject, source: str):
    tensors = g.tensors()
    attrs = g.state
    kw = KwargsReader(attrs.get("_init_kwargs"), "generator", source)
    c_dim = kw.get("c_dim", attrs.get("c_dim", 0)) or 0
    if c_dim or "mapping.embed.weight" in tensors:
        raise ModelFormatError(f"{source} is a class-conditional StyleGAN3 generator (c_dim={c_dim}); only "
                               "unconditional generators are supported")
    arch = {"family": "stylegan3"}
    for ours, theirs in (("z_dim", "z_dim"), ("w_dim", "w_dim"), ("resolution", "img_resolution"),
                         ("img_channels", "img_channels")):
        value = kw.get(theirs, attrs.get(theirs))
        if value is None:
            raise ModelFormatError(f"{source}: the StyleGAN3 generator does not record {theirs}")
        arch[ours] = _whole(value, theirs, source)
    mapping = KwargsReader(kw.get("mapping_kwargs"), "mapping", source)
    arch["mapping_layers"] = _whole(mapping.get("num_layers", 2), "mapping num_layers", source)
    arch["mapping_lr_mul"] = finite_number(mapping.get("lr_multiplier", 0.01), "mapping lr_multiplier", source,
                                           1e-8, 1e3)
    mapping.skip(MAPPING_TRAINING_ONLY)
    mapping.refuse_unread()
    for key, default in SYNTHESIS_DEFAULTS.items():
        value = kw.get(key, default)
        if isinstance(default, bool) or value is None:
            arch[key] = value if value is None else bool(value)
        elif isinstance(default, int):
            arch[key] = _whole(value, key, source)
        else:
            arch[key] = finite_number(value, key, source, -1e6, 1e6)  # ranges: normalize_stylegan3
    kw.skip(TRAINING_ONLY)
    kw.refuse_unread()

    prov = {"format": "stylegan3", "class_name": g.class_name}
    return generator_from_state(arch, our_names(tensors), prov, source)
