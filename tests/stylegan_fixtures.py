"""Write tiny generators in the exact on-disk formats users bring (random weights, real class paths).

The writers pickle stand-in objects under the original class paths (dnnlib.tflib.network.Network,
torch_utils.persistence._reconstruct_persistent_obj, dnnlib.util.EasyDict) by registering throw-away
modules in sys.modules for the duration of the dump only; loading then happens without them.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from facespace.stylegan.layers import make_filter

# Text that a real unpickler would exec/import; ours must never run it.
EVIL_SOURCE = "import pathlib\npathlib.Path('{marker}').write_text('ran')\n"


@contextlib.contextmanager
def fake_modules(*names):
    """Register empty modules under `names` (parents first); removed again afterwards."""
    added = []
    try:
        for name in names:
            if name not in sys.modules:
                sys.modules[name] = types.ModuleType(name)
                added.append(name)
            parent, _, child = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, sys.modules[name])
        yield [sys.modules[n] for n in names]
    finally:
        for name in reversed(added):
            del sys.modules[name]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _dump_protocol3_numpy1(obj, path: Path):
    """Pickle like NVIDIA's files (Python 3.6, numpy 1.x): protocol 3, numpy.core class paths."""
    data = pickle.dumps(obj, protocol=3)
    data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path.write_bytes(data)


# ---------------------------------------------------------------- NVIDIA TensorFlow pickles

def _tf_network_class(mod):
    class Network:
        def __init__(self, name, variables, components=None, static_kwargs=None, version=4, src=""):
            self._state = {"version": version, "name": name, "static_kwargs": dict(static_kwargs or {}),
                           "components": dict(components or {}), "build_module_src": src,
                           "build_func_name": name, "variables": list(variables)}

        def __getstate__(self):
            return self._state

    Network.__module__ = mod.__name__
    Network.__qualname__ = "Network"
    mod.Network = Network
    return Network


def _mapping_vars(G) -> list:
    out = []
    for i in range(G.arch["mapping_layers"]):
        fc = getattr(G.mapping_network, f"fc{i}")
        out += [(f"Dense{i}/weight", _np(fc.weight.t())), (f"Dense{i}/bias", _np(fc.bias))]
    return out


def _tf_conv(w: torch.Tensor) -> np.ndarray:  # [out,in,k,k] -> [k,k,in,out]
    return _np(w.permute(2, 3, 1, 0))


def stylegan1_tf_variables(G) -> list:
    syn = G.synthesis_network
    v = [("lod", np.float32(0))]
    layer = 0
    noises = []
    for res in syn.resolutions:
        b = getattr(syn, f"b{res}")
        p = f"{res}x{res}"
        if res == 4:
            v.append((f"{p}/Const/const", _np(b.const[None])))
            scopes = [("Const", None, b.epi0), ("Conv", b.conv1, b.epi1)]
        else:
            scopes = [("Conv0_up", b.conv0, b.epi0), ("Conv1", b.conv1, b.epi1)]
        for scope, conv, epi in scopes:
            if conv is not None:
                v.append((f"{p}/{scope}/weight", _tf_conv(conv.weight)))
            v += [(f"{p}/{scope}/Noise/weight", _np(epi.noise_weight)), (f"{p}/{scope}/bias", _np(epi.bias)),
                  (f"{p}/{scope}/StyleMod/weight", _np(epi.style.weight.t())),
                  (f"{p}/{scope}/StyleMod/bias", _np(epi.style.bias))]
            noises.append((f"noise{layer}", _np(epi.noise_const[None, None])))
            layer += 1
    for res in syn.resolutions:
        b = getattr(syn, f"b{res}")
        lod = int(math.log2(G.resolution // res))
        v += [(f"ToRGB_lod{lod}/weight", _tf_conv(b.torgb.weight)), (f"ToRGB_lod{lod}/bias", _np(b.torgb.bias))]
    return noises + v


def stylegan2_tf_variables(G) -> list:
    syn = G.synthesis_network
    v, noises = [], []
    for res in syn.resolutions:
        b = getattr(syn, f"b{res}")
        p = f"{res}x{res}"
        if res == 4:
            v.append((f"{p}/Const/const", _np(b.const[None])))
            layers = [("Conv", b.conv1)]
        else:
            layers = [("Conv0_up", b.conv0), ("Conv1", b.conv1)]
        for scope, layer in layers + [("ToRGB", b.torgb)]:
            w = layer.weight.flip([2, 3]) if scope == "Conv0_up" else layer.weight
            v += [(f"{p}/{scope}/weight", _tf_conv(w)), (f"{p}/{scope}/mod_weight", _np(layer.affine.weight.t())),
                  (f"{p}/{scope}/mod_bias", _np(layer.affine.bias - 1)), (f"{p}/{scope}/bias", _np(layer.bias))]
            if scope != "ToRGB":
                v.append((f"{p}/{scope}/noise_strength", np.float32(layer.noise_strength.item())))
                noises.append((f"noise{len(noises)}", _np(layer.noise_const[None, None])))
    return noises + v


def write_tf_pickle(G, path, marker: str = "tf-src-ran.txt"):
    """(G, D, Gs) as NVIDIA's TensorFlow code pickles them; the family decides the variable layout."""
    path = Path(path)
    src = EVIL_SOURCE.format(marker=marker)
    sg1 = G.family == "stylegan1"
    with fake_modules("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network") as mods:
        Network = _tf_network_class(mods[-1])
        version = 3 if sg1 else 4
        syn_vars = stylegan1_tf_variables(G) if sg1 else stylegan2_tf_variables(G)
        syn_kw = {"resolution": G.resolution, "num_channels": G.img_channels}
        if not sg1:
            syn_kw["architecture"] = "skip"
        # Gs keeps the build settings and hands them to its components (as NVIDIA's G_main/G_style do)
        gs_kw = {**syn_kw, "latent_size": G.z_dim, "dlatent_size": G.w_dim, "mapping_layers": G.arch["mapping_layers"],
                 "mapping_fmaps": G.arch["mapping_hidden"], "mapping_lrmul": G.arch["mapping_lr_mul"]}
        if sg1:
            gs_kw.update(truncation_psi=0.7, truncation_cutoff=8)
        mapping = Network("G_mapping", _mapping_vars(G), static_kwargs=gs_kw, version=version, src=src)
        synthesis = Network("G_synthesis", syn_vars, static_kwargs=gs_kw, version=version, src=src)
        gs_vars = ([("lod", np.float32(0))] if sg1 else []) + [("dlatent_avg", _np(G.w_avg))]
        gs = Network("G", gs_vars, components={"mapping": mapping, "synthesis": synthesis}, static_kwargs=gs_kw,
                     version=version, src=src)
        d = Network("D", [("4x4/Dense0/weight", np.ones((4, 4), np.float32))], version=version, src=src)
        _dump_protocol3_numpy1((gs, d, gs), path)
    return path


# ---------------------------------------------------------------- StyleGAN2-ADA-PyTorch pickles

ADA_CLASS = {"": "Generator", "mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "block": "SynthesisBlock",
             "conv0": "SynthesisLayer", "conv1": "SynthesisLayer", "torgb": "ToRGBLayer", "fc": "FullyConnectedLayer",
             "affine": "FullyConnectedLayer", "input": "SynthesisInput", "layer": "SynthesisLayer"}
ADA_BUFFERS = ("w_avg", "noise_const", "resample_filter", "transform", "freqs", "phases", "magnitude_ema",
               "up_filter", "down_filter")


def ada_state_dict(G) -> "OrderedDict[str, torch.Tensor]":
    """Our tiny StyleGAN2 -> G_ema.state_dict() names and layouts of stylegan2-ada-pytorch."""
    sd = OrderedDict()
    filt = make_filter([1, 3, 3, 1])
    for k, t in G.state_dict().items():
        if k == "w_avg":
            continue
        sd[k.replace("mapping_network.", "mapping.").replace("synthesis_network.", "synthesis.")] = t.clone()
    sd["mapping.w_avg"] = G.w_avg.clone()
    for res in G.synthesis_network.resolutions:
        sd[f"synthesis.b{res}.resample_filter"] = filt.clone()
        for layer in ("conv0", "conv1"):
            if f"synthesis.b{res}.{layer}.weight" in sd:
                sd[f"synthesis.b{res}.{layer}.resample_filter"] = filt.clone()
    return sd


def _ada_tree(sd: dict) -> dict:
    root = {"_tensors": OrderedDict(), "_children": OrderedDict()}
    for key, t in sd.items():
        node = root
        *parts, leaf = key.split(".")
        for p in parts:
            node = node["_children"].setdefault(p, {"_tensors": OrderedDict(), "_children": OrderedDict()})
        node["_tensors"][leaf] = t
    return root


def _module_state(tensors: dict, children: dict, extra: dict) -> dict:
    """A torch.nn.Module's __dict__ as pickled: buffers (None included) and Parameters apart, then `extra`."""
    params, buffers = OrderedDict(), OrderedDict()
    for leaf, t in tensors.items():
        if leaf in ADA_BUFFERS or t is None:
            buffers[leaf] = t
        else:
            params[leaf] = torch.nn.Parameter(t.clone(), requires_grad=False)
    state = {"training": False, "_parameters": params, "_buffers": buffers,
             "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(),
             "_forward_hooks": OrderedDict(), "_forward_pre_hooks": OrderedDict(),
             "_state_dict_hooks": OrderedDict(), "_load_state_dict_pre_hooks": OrderedDict(),
             "_modules": children, "_init_args": (), "_init_kwargs": {}}
    state.update(extra)
    return state


@contextlib.contextmanager
def persistence_standins():
    """(EasyDict, Persistent) pickling as dnnlib.util.EasyDict and as calls of
    torch_utils.persistence._reconstruct_persistent_obj(meta), while the context lasts."""
    with fake_modules("dnnlib", "dnnlib.util", "torch_utils", "torch_utils.persistence") as mods:
        util, persistence = mods[1], mods[3]

        class EasyDict(dict):
            pass

        EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
        util.EasyDict = EasyDict

        def _reconstruct_persistent_obj(meta):
            raise AssertionError("never called while writing")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

        class Persistent:
            def __init__(self, meta):
                self.meta = meta

            def __reduce__(self):
                return (_reconstruct_persistent_obj, (self.meta,))

        yield EasyDict, Persistent


def write_ada_pickle(G, path, stylegan3: bool = False, marker: str = "ada-src-ran.txt", init_kwargs=None,
                     state_dict=None):
    """{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} as stylegan2-ada-pytorch's training loop saves it."""
    path = Path(path)
    sd = state_dict if state_dict is not None else ada_state_dict(G)
    src = EVIL_SOURCE.format(marker=marker) + ("class SynthesisInput: pass\n" if stylegan3 else "")
    with persistence_standins() as (EasyDict, Persistent):
        def build(node, name, extra_state):
            children = OrderedDict()
            for cname, child in node["_children"].items():
                kind = "block" if cname.startswith("b") and cname[1:].isdigit() else (
                    "fc" if cname.startswith("fc") else ("layer" if cname.startswith("L") else cname))
                children[cname] = build(child, kind, {})
            state = _module_state(node["_tensors"], children, extra_state)
            meta = {"type": "class", "version": 6, "module_src": src, "class_name": ADA_CLASS.get(name, "Module"),
                    "state": state}
            return Persistent(meta)

        kw = init_kwargs or EasyDict(
            z_dim=G.z_dim, c_dim=0, w_dim=G.w_dim, img_resolution=G.resolution, img_channels=G.img_channels,
            mapping_kwargs=EasyDict(num_layers=G.arch["mapping_layers"]),
            synthesis_kwargs=EasyDict(channel_base=1024, channel_max=32, num_fp16_res=0,
                                      conv_clamp=G.arch.get("conv_clamp")))
        top = {"z_dim": G.z_dim, "c_dim": 0, "w_dim": G.w_dim, "img_resolution": G.resolution,
               "img_channels": G.img_channels, "num_ws": G.num_ws, "_init_kwargs": kw}
        g_ema = build(_ada_tree(sd), "", top)
        d = build(_ada_tree({"b4.fc.weight": torch.ones(2, 2)}), "", {})
        data = {"G": g_ema, "D": d, "G_ema": g_ema, "augment_pipe": None,
                "training_set_kwargs": EasyDict(path="~/datasets/ffhq.zip", resolution=G.resolution)}
        path.write_bytes(pickle.dumps(data))
    return path


# ---------------------------------------------------------------- rosinality/stylegan2-pytorch

def rosinality_state_dict(G) -> "OrderedDict[str, torch.Tensor]":
    sd = OrderedDict()
    for i in range(G.arch["mapping_layers"]):
        fc = getattr(G.mapping_network, f"fc{i}")
        sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"] = fc.weight.clone(), fc.bias.clone()
    syn = G.synthesis_network
    sd["input.input"] = syn.b4.const[None].clone()
    kernel = make_filter([1, 3, 3, 1]) * 4

    def styled(dst, layer, up=False):
        sd[f"{dst}.conv.weight"] = layer.weight[None].clone()
        if up:
            sd[f"{dst}.conv.blur.kernel"] = kernel.clone()
        sd[f"{dst}.conv.modulation.weight"] = layer.affine.weight.clone()
        sd[f"{dst}.conv.modulation.bias"] = layer.affine.bias.clone()
        sd[f"{dst}.noise.weight"] = layer.noise_strength.reshape(1).clone()
        sd[f"{dst}.activate.bias"] = layer.bias.clone()

    def torgb(dst, layer, up=True):
        if up:
            sd[f"{dst}.upsample.kernel"] = kernel.clone()
        sd[f"{dst}.bias"] = layer.bias.reshape(1, -1, 1, 1).clone()
        sd[f"{dst}.conv.weight"] = layer.weight[None].clone()
        sd[f"{dst}.conv.modulation.weight"] = layer.affine.weight.clone()
        sd[f"{dst}.conv.modulation.bias"] = layer.affine.bias.clone()

    styled("conv1", syn.b4.conv1)
    torgb("to_rgb1", syn.b4.torgb, up=False)
    noises = [syn.b4.conv1.noise_const]
    for j, res in enumerate(syn.resolutions[1:]):
        b = getattr(syn, f"b{res}")
        styled(f"convs.{2 * j}", b.conv0, up=True)
        styled(f"convs.{2 * j + 1}", b.conv1)
        torgb(f"to_rgbs.{j}", b.torgb)
        noises += [b.conv0.noise_const, b.conv1.noise_const]
    for i, n in enumerate(noises):
        sd[f"noises.noise_{i}"] = n[None, None].clone()
    return sd


def write_rosinality(G, path, training: bool = False, with_latent_avg: bool = True):
    """torch.save of a converted file ({'g_ema', 'latent_avg'}) or of a training checkpoint (with argparse args)."""
    path = Path(path)
    ckpt = {"g_ema": rosinality_state_dict(G)}
    if with_latent_avg:
        ckpt["latent_avg"] = G.w_avg.clone()
    if training:
        ckpt.update(g=rosinality_state_dict(G), d={"convs.0.0.weight": torch.randn(4, 3, 1, 1)},
                    g_optim={"state": {}, "param_groups": []}, d_optim={"state": {}, "param_groups": []},
                    args=argparse.Namespace(size=G.resolution, latent=G.w_dim, n_mlp=G.arch["mapping_layers"],
                                            lr_mlp=G.arch["mapping_lr_mul"], channel_multiplier=2), ada_aug_p=0.0)
    torch.save(ckpt, path)
    return path


# ---------------------------------------------------------------- hostile files

class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def write_malicious_pickle(path, func, args):
    """A pickle that calls `func(*args)` when loaded by an unrestricted unpickler."""
    path = Path(path)
    path.write_bytes(pickle.dumps({"G_ema": _Reduce(func, args)}, protocol=2))
    return path


def write_malicious_torch(path, func, args):
    path = Path(path)
    torch.save({"g_ema": _Reduce(func, args)}, path)
    return path


# ---------------------------------------------------------------- StyleGAN3 pickles (NVlabs/stylegan3)

# What a real file's module_src starts like: the whole networks_stylegan3.py (here only its marker classes).
STYLEGAN3_SOURCE = ("class SynthesisInput(torch.nn.Module):\n    pass\n"
                    "class SynthesisLayer(torch.nn.Module):\n    pass\n")


def stylegan3_state_dict(G) -> "OrderedDict[str, torch.Tensor]":
    """Our StyleGAN3 Generator -> G_ema.state_dict() names of NVlabs/stylegan3 (the same layouts)."""
    sd = OrderedDict()
    for k, t in G.state_dict().items():
        if k != "w_avg":
            sd[k.replace("mapping_network.", "mapping.").replace("synthesis_network.", "synthesis.")] = t.clone()
    sd["mapping.w_avg"] = G.w_avg.clone()
    return sd


def stylegan3_init_kwargs(G, easydict=dict) -> dict:
    """G_ema._init_kwargs as NVIDIA's train.py passes them (--cfg stylegan3-t / stylegan3-r), plus the
    synthesis settings our tiny generators change from NVIDIA's defaults."""
    a = G.arch
    kw = easydict(z_dim=G.z_dim, w_dim=G.w_dim, mapping_kwargs=easydict(num_layers=a["mapping_layers"]),
                  channel_base=a["channel_base"], channel_max=a["channel_max"], magnitude_ema_beta=0.99888)
    if a["conv_kernel"] == 1:
        kw.update(conv_kernel=1, use_radial_filters=a["use_radial_filters"])
    if a["num_layers"] != 14:
        kw["num_layers"] = a["num_layers"]
    if a["conv_clamp"] != 256:
        kw["conv_clamp"] = a["conv_clamp"]
    kw.update(c_dim=0, img_resolution=G.resolution, img_channels=G.img_channels)
    return kw


def _stylegan3_attrs(G) -> dict:
    """Plain attributes NVIDIA's modules keep in their state (numpy arrays and scalars included), by module path."""
    from facespace.stylegan.stylegan3 import layer_plan

    a = G.arch
    head, specs = layer_plan(a)
    attrs = {"": dict(z_dim=G.z_dim, c_dim=0, w_dim=G.w_dim, img_resolution=G.resolution,
                      img_channels=G.img_channels, num_ws=G.num_ws),
             "mapping": dict(z_dim=G.z_dim, c_dim=0, w_dim=G.w_dim, num_ws=G.num_ws, num_layers=a["mapping_layers"],
                             w_avg_beta=0.998, embed=None),
             "synthesis": dict(w_dim=G.w_dim, num_ws=G.num_ws, img_resolution=G.resolution,
                               img_channels=G.img_channels, num_layers=a["num_layers"],
                               num_critical=a["num_critical"], margin_size=a["margin_size"],
                               output_scale=a["output_scale"], num_fp16_res=4,
                               layer_names=[s["name"] for s in specs]),
             "synthesis.input": dict(w_dim=G.w_dim, channels=head["channels"],
                                     size=np.broadcast_to(np.asarray(head["size"]), [2]),
                                     sampling_rate=np.float64(head["sampling_rate"]),
                                     bandwidth=np.float64(head["bandwidth"]))}
    for s in specs:
        attrs[f"synthesis.{s['name']}"] = dict(
            w_dim=G.w_dim, is_torgb=s["torgb"], is_critically_sampled=s["critical"], use_fp16=np.bool_(False),
            in_channels=s["in_channels"], out_channels=s["out_channels"],
            in_size=np.broadcast_to(np.asarray(s["in_size"]), [2]),
            out_size=np.broadcast_to(np.asarray(s["out_size"]), [2]), tmp_sampling_rate=int(s["tmp_rate"]),
            in_cutoff=np.float64(s["in_cutoff"]), out_cutoff=np.float64(s["out_cutoff"]),
            in_half_width=np.float64(s["in_half_width"]), out_half_width=np.float64(s["out_half_width"]),
            conv_kernel=s["kernel"], conv_clamp=a["conv_clamp"], magnitude_ema_beta=0.99888,
            up_factor=s["up"], up_taps=s["up_taps"], down_factor=s["down"], down_taps=s["down_taps"],
            down_radial=a["use_radial_filters"] and not s["critical"],
            padding=[s["padding"][0], s["padding"][1]] * 2)
    return attrs


def write_stylegan3_pickle(G, path, marker: str = "sg3-src-ran.txt", init_kwargs=None, state_dict=None):
    """{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} as NVlabs/stylegan3's training loop saves
    them: persistent networks (class paths training.networks_stylegan3.*, version 6 metadata with the module
    source), tensors as Parameters and buffers (None for filterless layers), numpy arrays and scalars among
    the module attributes, EasyDict kwargs."""
    path = Path(path)
    sd = state_dict if state_dict is not None else stylegan3_state_dict(G)
    src = EVIL_SOURCE.format(marker=marker) + STYLEGAN3_SOURCE
    attrs = _stylegan3_attrs(G)
    classes = {"": "Generator", "mapping": "MappingNetwork", "synthesis": "SynthesisNetwork",
               "synthesis.input": "SynthesisInput"}
    with persistence_standins() as (EasyDict, Persistent):
        def build(node, name):
            tensors = dict(node["_tensors"])
            if name.startswith("synthesis.L"):  # filterless layers keep their filter buffers as None
                tensors.setdefault("up_filter", None)
                tensors.setdefault("down_filter", None)
            children = OrderedDict((c, build(child, f"{name}.{c}".lstrip(".")))
                                   for c, child in node["_children"].items())
            leaf = name.rpartition(".")[2]
            cls = classes.get(name) or ("SynthesisLayer" if leaf.startswith("L") else "FullyConnectedLayer"
                                        if leaf.startswith("fc") or leaf == "affine" else "Module")
            kwargs = {}
            if name == "":
                kwargs = init_kwargs if init_kwargs is not None else stylegan3_init_kwargs(G, EasyDict)
            state = _module_state(tensors, children, {**attrs.get(name, {}), "_init_kwargs": EasyDict(kwargs)})
            return Persistent({"type": "class", "version": 6, "module_src": src, "class_name": cls, "state": state})

        g_ema = build(_ada_tree(sd), "")
        d = build(_ada_tree({"b4.fc.weight": torch.ones(2, 2)}), "D")
        data = {"G": g_ema, "D": d, "G_ema": g_ema, "augment_pipe": None,
                "training_set_kwargs": EasyDict(path="~/datasets/ffhq-1024x1024.zip", resolution=G.resolution)}
        # Python 3.8 and numpy 1.x wrote the released files: protocol 4, numpy.core class paths
        blob = pickle.dumps(data, protocol=4)
        path.write_bytes(blob.replace(b"\x8c\x16numpy._core.multiarray", b"\x8c\x15numpy.core.multiarray"))
    return path
