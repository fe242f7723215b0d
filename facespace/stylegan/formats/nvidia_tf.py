"""NVIDIA TensorFlow pickles: StyleGAN1 (karras2019stylegan-*.pkl) and StyleGAN2 (stylegan2-*.pkl).

Both hold (G, D, Gs) as `dnnlib.tflib.network.Network` states; we read the variables of Gs and its
`mapping` / `synthesis` components. TF layouts: dense [in,out], conv [k,k,in,out].
"""
from __future__ import annotations

import math
import re

import numpy as np
import torch

from ...errors import ModelFormatError
from ...limits import short
from ..safe_pickle import TFNetwork
from .common import as_tensor, generator_from_state, need


def _conv(w) -> torch.Tensor:  # [k,k,in,out] -> [out,in,k,k]
    return as_tensor(w).permute(3, 2, 0, 1).contiguous()


def _dense(w) -> torch.Tensor:  # [in,out] -> [out,in]
    return as_tensor(w).t().contiguous()


def _resolutions(names, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for n in names if (m := re.match(pattern, n))})


def component_kwargs(gs: TFNetwork, name: str) -> dict:
    """Build settings of a component: Gs passes its own kwargs down, the component's take precedence."""
    kw = dict(gs.state.get("static_kwargs") or {})
    comp = (gs.state.get("components") or {}).get(name)
    if isinstance(comp, TFNetwork):
        kw.update(comp.state.get("static_kwargs") or {})
    return kw


def pick_gs(obj, source: str) -> TFNetwork:
    if isinstance(obj, tuple) and obj and all(isinstance(o, TFNetwork) for o in obj):
        return obj[-1]  # (G, D, Gs): Gs holds the moving-average weights used for sampling
    if isinstance(obj, TFNetwork):
        return obj
    raise ModelFormatError(f"{source}: TensorFlow pickle without a generator network")


def tf_family(var_names) -> str | None:
    if any(n.startswith("synthesis/") and n.endswith("/mod_weight") for n in var_names):
        return "stylegan2"
    if any(n.startswith("synthesis/ToRGB_lod") for n in var_names):
        return "stylegan1"
    return None


def _mapping(v: dict, source: str, static: dict):
    n_layers = len(_resolutions(v, r"mapping/Dense(\d+)/weight$"))
    if n_layers == 0:
        raise ModelFormatError(f"{source}: no mapping network variables (mapping/Dense0/weight)")
    state = {}
    for i in range(n_layers):
        state[f"mapping_network.fc{i}.weight"] = _dense(need(v, f"mapping/Dense{i}/weight", source))
        state[f"mapping_network.fc{i}.bias"] = as_tensor(need(v, f"mapping/Dense{i}/bias", source))
    first, last = state["mapping_network.fc0.weight"], state[f"mapping_network.fc{n_layers - 1}.weight"]
    arch = {"z_dim": first.shape[1], "w_dim": last.shape[0], "mapping_layers": n_layers,
            "mapping_hidden": first.shape[0] if n_layers > 1 else last.shape[0],
            "mapping_lr_mul": static.get("mapping_lrmul", 0.01)}
    if "dlatent_avg" in v:
        state["w_avg"] = as_tensor(v["dlatent_avg"]).reshape(-1)
    else:
        state["w_avg"] = torch.zeros(arch["w_dim"])
    return arch, state


def convert_stylegan1(gs: TFNetwork, source: str):
    v = gs.variables()
    syn_kw, map_kw = component_kwargs(gs, "synthesis"), component_kwargs(gs, "mapping")
    if syn_kw.get("use_wscale", True) is False or syn_kw.get("const_input_layer", True) is False:
        raise ModelFormatError(f"{source}: StyleGAN1 variant without equalized learning rate or constant input "
                               "is not supported")
    arch, state = _mapping(v, source, map_kw)
    res_list = _resolutions(v, r"synthesis/(\d+)x\1/")
    resolution = res_list[-1]
    fused = syn_kw.get("fused_scale", "auto")
    arch.update(family="stylegan1", resolution=resolution,
                img_channels=int(np.shape(need(v, "synthesis/ToRGB_lod0/weight", source))[3]),
                blur_filter=syn_kw.get("blur_filter", [1, 2, 1]),
                fused_min_res=128 if fused == "auto" else (8 if fused else 2 * resolution))
    channels = {}
    layer = 0
    for res in res_list:
        p, q = f"synthesis/{res}x{res}", f"synthesis_network.b{res}"
        scopes = [("Const", "epi0"), ("Conv", "epi1")] if res == 4 else [("Conv0_up", "epi0"), ("Conv1", "epi1")]
        if res == 4:
            state[f"{q}.const"] = as_tensor(need(v, f"{p}/Const/const", source))[0]
            state[f"{q}.conv1.weight"] = _conv(need(v, f"{p}/Conv/weight", source))
        else:
            state[f"{q}.conv0.weight"] = _conv(need(v, f"{p}/Conv0_up/weight", source))
            state[f"{q}.conv1.weight"] = _conv(need(v, f"{p}/Conv1/weight", source))
        for scope, epi in scopes:
            state[f"{q}.{epi}.noise_weight"] = as_tensor(need(v, f"{p}/{scope}/Noise/weight", source))
            state[f"{q}.{epi}.bias"] = as_tensor(need(v, f"{p}/{scope}/bias", source))
            state[f"{q}.{epi}.style.weight"] = _dense(need(v, f"{p}/{scope}/StyleMod/weight", source))
            state[f"{q}.{epi}.style.bias"] = as_tensor(need(v, f"{p}/{scope}/StyleMod/bias", source))
            noise = v.get(f"synthesis/noise{layer}")
            state[f"{q}.{epi}.noise_const"] = (as_tensor(noise)[0, 0] if noise is not None
                                               else torch.zeros(res, res))
            layer += 1
        lod = int(math.log2(resolution // res))
        state[f"{q}.torgb.weight"] = _conv(need(v, f"synthesis/ToRGB_lod{lod}/weight", source))
        state[f"{q}.torgb.bias"] = as_tensor(need(v, f"synthesis/ToRGB_lod{lod}/bias", source))
        channels[res] = state[f"{q}.conv1.weight"].shape[0]
    arch["channels"] = channels
    defaults = {k: gs.state.get("static_kwargs", {}).get(k) for k in ("truncation_psi", "truncation_cutoff")}
    prov = {"format": "nvidia-tf-stylegan1", "source_defaults": {k: d for k, d in defaults.items() if d is not None}}
    return generator_from_state(arch, state, prov, source)


def convert_stylegan2(gs: TFNetwork, source: str):
    v = gs.variables()
    syn_kw, map_kw = component_kwargs(gs, "synthesis"), component_kwargs(gs, "mapping")
    if syn_kw.get("architecture", "skip") != "skip":
        raise ModelFormatError(f"{source}: StyleGAN2 {short(syn_kw['architecture'])} generator architecture is not "
                               "supported (only 'skip', used by config-e/f)")
    arch, state = _mapping(v, source, map_kw)
    res_list = _resolutions(v, r"synthesis/(\d+)x\1/")
    resolution = res_list[-1]
    arch.update(family="stylegan2", resolution=resolution,
                img_channels=int(np.shape(need(v, "synthesis/4x4/ToRGB/weight", source))[3]),
                resample_filter=syn_kw.get("resample_kernel", [1, 3, 3, 1]), conv_clamp=None)
    channels = {}
    noise_idx = 0
    for res in res_list:
        p, q = f"synthesis/{res}x{res}", f"synthesis_network.b{res}"
        layers = [("Conv", "conv1")] if res == 4 else [("Conv0_up", "conv0"), ("Conv1", "conv1")]
        if res == 4:
            state[f"{q}.const"] = as_tensor(need(v, f"{p}/Const/const", source))[0]
        for scope, name in layers + [("ToRGB", "torgb")]:
            w = _conv(need(v, f"{p}/{scope}/weight", source))
            state[f"{q}.{name}.weight"] = w.flip([2, 3]) if scope == "Conv0_up" else w
            state[f"{q}.{name}.affine.weight"] = _dense(need(v, f"{p}/{scope}/mod_weight", source))
            state[f"{q}.{name}.affine.bias"] = as_tensor(need(v, f"{p}/{scope}/mod_bias", source)) + 1
            state[f"{q}.{name}.bias"] = as_tensor(need(v, f"{p}/{scope}/bias", source))
            if scope != "ToRGB":
                strength = need(v, f"{p}/{scope}/noise_strength", source)
                state[f"{q}.{name}.noise_strength"] = as_tensor(strength).reshape([])
                noise = v.get(f"synthesis/noise{noise_idx}")
                state[f"{q}.{name}.noise_const"] = (as_tensor(noise)[0, 0] if noise is not None
                                                    else torch.zeros(res, res))
                noise_idx += 1
        channels[res] = state[f"{q}.conv1.weight"].shape[0]
    arch["channels"] = channels
    return generator_from_state(arch, state, {"format": "nvidia-tf-stylegan2"}, source)


def convert_tf(obj, source: str):
    gs = pick_gs(obj, source)
    names = gs.variables()
    family = tf_family(names)
    if family == "stylegan1":
        return convert_stylegan1(gs, source)
    if family == "stylegan2":
        return convert_stylegan2(gs, source)
    raise ModelFormatError(f"{source}: TensorFlow network {short(gs.state.get('name'))} is not a StyleGAN1 or "
                           "StyleGAN2 generator (no synthesis/ToRGB variables)")
