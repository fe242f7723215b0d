"""StyleGAN2-ADA-PyTorch pickles: {'G', 'D', 'G_ema', ...} of persistent networks; we read `G_ema`.

Tensor names and layouts match ours; the architecture comes from the network's `_init_kwargs`.
"""
from __future__ import annotations

import re

from ...errors import ModelFormatError
from ...limits import short
from ..safe_pickle import PersistentObject
from .common import generator_from_state, need


def _kwargs(obj) -> dict:
    return dict(obj or {}) if isinstance(obj, dict) else {}


def our_names(tensors: dict) -> dict:
    """G_ema tensor names of NVIDIA's PyTorch code -> ours (mapping.* -> mapping_network.*, mapping.w_avg ->
    w_avg, synthesis.* -> synthesis_network.*); anything else is left out."""
    state = {}
    for k, t in tensors.items():
        if k == "mapping.w_avg":
            state["w_avg"] = t
        elif k.startswith("mapping."):
            state["mapping_network." + k[len("mapping."):]] = t
        elif k.startswith("synthesis."):
            state["synthesis_network." + k[len("synthesis."):]] = t
    return state


def is_stylegan3(g: PersistentObject, tensors: dict) -> bool:
    src = g.meta.get("module_src", "")
    src = src if isinstance(src, str) else ""
    return any(k.startswith("synthesis.input.") for k in tensors) or "class SynthesisInput" in src


def convert_ada(g: PersistentObject, source: str):
    tensors = g.tensors()
    if is_stylegan3(g, tensors):
        from .stylegan3 import convert_stylegan3

        return convert_stylegan3(g, source)
    state_attrs = g.state
    kw = _kwargs(state_attrs.get("_init_kwargs"))
    map_kw, syn_kw = _kwargs(kw.get("mapping_kwargs")), _kwargs(kw.get("synthesis_kwargs"))
    c_dim = int(kw.get("c_dim", state_attrs.get("c_dim", 0)) or 0)
    if c_dim or "mapping.embed.weight" in tensors:
        raise ModelFormatError(f"{source} is a class-conditional generator (c_dim={c_dim}); only unconditional "
                               "face generators are supported")
    if syn_kw.get("architecture", "skip") != "skip":
        raise ModelFormatError(f"{source}: generator architecture {short(syn_kw['architecture'])} is not supported "
                               "(only 'skip')")
    fcs = sorted(int(m.group(1)) for k in tensors if (m := re.match(r"mapping\.fc(\d+)\.weight$", k)))
    blocks = sorted(int(m.group(1)) for k in tensors if (m := re.match(r"synthesis\.b(\d+)\.conv1\.weight$", k)))
    if not fcs or not blocks:
        raise ModelFormatError(f"{source}: G_ema has no mapping.fc*/synthesis.b*.conv1 tensors; not a StyleGAN2 "
                               "generator")
    state = our_names({k: t for k, t in tensors.items() if not k.endswith("resample_filter")})
    first, last = tensors[f"mapping.fc{fcs[0]}.weight"], tensors[f"mapping.fc{fcs[-1]}.weight"]
    arch = {
        "family": "stylegan2",
        "z_dim": int(kw.get("z_dim", first.shape[1])),
        "w_dim": int(kw.get("w_dim", last.shape[0])),
        "resolution": int(kw.get("img_resolution", blocks[-1])),
        "img_channels": int(kw.get("img_channels",
                                   need(tensors, f"synthesis.b{blocks[-1]}.torgb.weight", source).shape[0])),
        "mapping_layers": len(fcs),
        "mapping_hidden": int(first.shape[0] if len(fcs) > 1 else last.shape[0]),
        "mapping_lr_mul": map_kw.get("lr_multiplier", 0.01),
        "channels": {r: int(tensors[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in blocks},
        "conv_clamp": syn_kw.get("conv_clamp"),
        "resample_filter": syn_kw.get("resample_filter", [1, 3, 3, 1]),
    }
    prov = {"format": "stylegan2-ada-pytorch", "class_name": g.class_name}
    return generator_from_state(arch, state, prov, source)
