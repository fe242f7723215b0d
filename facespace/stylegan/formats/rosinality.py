"""rosinality/stylegan2-pytorch checkpoints: torch.save({'g_ema': state_dict, 'latent_avg': ...}).

Read with torch.load(weights_only=True); the only class allowed beyond tensors is argparse.Namespace
(training checkpoints keep their command-line `args`).
"""
from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path

import torch

from ...errors import ModelFormatError, UnsafeFileError
from ..safe_pickle import torch_archive_globals
from .common import generator_from_state, need

# Globals of plain tensor data in torch.save files (everything under torch.* is judged by torch.load itself).
TORCH_DATA_GLOBALS = {"collections.OrderedDict", "argparse.Namespace", "builtins.set", "builtins.frozenset"}

LATENT_AVG_SAMPLES = 4096


def read_torch_file(path: Path):
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():
            bad = [g for g in torch_archive_globals(path) if g not in TORCH_DATA_GLOBALS and not g.startswith("torch.")]
            what = f"'{bad[0]}'" if bad else "a global outside torch's data types"
            raise UnsafeFileError(f"{path.name} asks to load {what}, which is not on the allow-list of a "
                                  "StyleGAN file; refused, nothing from the file was run") from None
        raise ModelFormatError(f"{path.name} is not a readable torch checkpoint ({str(exc).splitlines()[0]})") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError) as exc:
        raise ModelFormatError(f"{path.name} is a damaged or truncated torch checkpoint "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                               "expected a rosinality StyleGAN2 .pt") from None


def convert_rosinality(ckpt, source: str):
    if isinstance(ckpt, dict) and "g_ema" in ckpt:
        sd, latent_avg, args = ckpt["g_ema"], ckpt.get("latent_avg"), ckpt.get("args")
    elif isinstance(ckpt, dict) and "style.1.weight" in ckpt:
        sd, latent_avg, args = ckpt, None, None
    else:
        keys = list(ckpt)[:6] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFormatError(f"{source} is a torch file but not a StyleGAN2 generator (found {keys}); expected a "
                               "rosinality checkpoint with 'g_ema'")
    if not isinstance(sd, dict) or "input.input" not in sd:
        raise ModelFormatError(f"{source}: 'g_ema' is not a rosinality StyleGAN2 generator state (no input.input)")
    n_mlp = len([k for k in sd if re.match(r"style\.\d+\.weight$", k)])
    n_convs = len([k for k in sd if re.match(r"convs\.\d+\.conv\.weight$", k)])
    resolution = 4 * 2 ** (n_convs // 2)
    lr_mlp = float(getattr(args, "lr_mlp", 0.01)) if args is not None else 0.01
    state = {}
    for i in range(n_mlp):
        state[f"mapping_network.fc{i}.weight"] = need(sd, f"style.{i + 1}.weight", source)
        state[f"mapping_network.fc{i}.bias"] = need(sd, f"style.{i + 1}.bias", source)
    state["synthesis_network.b4.const"] = need(sd, "input.input", source)[0]

    def styled(src: str, dst: str, noise_key: str):
        state[f"{dst}.weight"] = need(sd, f"{src}.conv.weight", source)[0]
        state[f"{dst}.affine.weight"] = need(sd, f"{src}.conv.modulation.weight", source)
        state[f"{dst}.affine.bias"] = need(sd, f"{src}.conv.modulation.bias", source)
        state[f"{dst}.noise_strength"] = need(sd, f"{src}.noise.weight", source).reshape([])
        state[f"{dst}.bias"] = need(sd, f"{src}.activate.bias", source)
        state[f"{dst}.noise_const"] = need(sd, noise_key, source)[0, 0]

    def torgb(src: str, dst: str):
        state[f"{dst}.weight"] = need(sd, f"{src}.conv.weight", source)[0]
        state[f"{dst}.affine.weight"] = need(sd, f"{src}.conv.modulation.weight", source)
        state[f"{dst}.affine.bias"] = need(sd, f"{src}.conv.modulation.bias", source)
        state[f"{dst}.bias"] = need(sd, f"{src}.bias", source).reshape(-1)

    styled("conv1", "synthesis_network.b4.conv1", "noises.noise_0")
    torgb("to_rgb1", "synthesis_network.b4.torgb")
    channels = {4: int(sd["conv1.conv.weight"].shape[1])}
    for j in range(n_convs // 2):
        res = 8 * 2 ** j
        q = f"synthesis_network.b{res}"
        styled(f"convs.{2 * j}", f"{q}.conv0", f"noises.noise_{2 * j + 1}")
        styled(f"convs.{2 * j + 1}", f"{q}.conv1", f"noises.noise_{2 * j + 2}")
        torgb(f"to_rgbs.{j}", f"{q}.torgb")
        channels[res] = int(sd[f"convs.{2 * j + 1}.conv.weight"].shape[1])
    first, last = state["mapping_network.fc0.weight"], state[f"mapping_network.fc{n_mlp - 1}.weight"]
    arch = {"family": "stylegan2", "resolution": resolution, "z_dim": int(first.shape[1]), "w_dim": int(last.shape[0]),
            "img_channels": int(state["synthesis_network.b4.torgb.weight"].shape[0]), "mapping_layers": n_mlp,
            "mapping_hidden": int(first.shape[0] if n_mlp > 1 else last.shape[0]), "mapping_lr_mul": lr_mlp,
            "channels": channels, "conv_clamp": None, "resample_filter": [1, 3, 3, 1]}
    state["w_avg"] = torch.zeros(arch["w_dim"])
    G = generator_from_state(arch, state, {"format": "rosinality"}, source)
    if latent_avg is not None:
        G.w_avg.copy_(torch.as_tensor(latent_avg, dtype=torch.float32).reshape(-1))
    else:  # converted files carry latent_avg; bare states get the mean of the mapping over fixed samples
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            G.w_avg.copy_(G.mapping_network(torch.randn(LATENT_AVG_SAMPLES, G.z_dim, generator=gen)).mean(0))
        G.provenance["w_avg"] = f"mean of {LATENT_AVG_SAMPLES} mapped samples"
    return G
