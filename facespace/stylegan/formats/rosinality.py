"""rosinality/stylegan2-pytorch checkpoints: torch.save({'g_ema': state_dict, 'latent_avg': ...}).

Read by our own torch-file reader (`safe_pickle.read_torch_file`): tensors, dicts and argparse.Namespace
(training checkpoints keep their command-line `args`) only, within the loader's bounds.
"""
from __future__ import annotations

import re

import torch

from ...errors import ModelFormatError
from ...limits import finite_number, short
from ..safe_pickle import Namespace
from .common import generator_from_state, need

LATENT_AVG_SAMPLES = 4096


def _arg(args, name: str, default):
    """A training argument from the checkpoint's `args` (a Namespace or a dict), if it is there."""
    if isinstance(args, Namespace):
        return args.get(name, default)
    return args.get(name, default) if isinstance(args, dict) else default


def convert_rosinality(ckpt, source: str):
    if isinstance(ckpt, dict) and "g_ema" in ckpt:
        sd, latent_avg, args = ckpt["g_ema"], ckpt.get("latent_avg"), ckpt.get("args")
    elif isinstance(ckpt, dict) and "style.1.weight" in ckpt:
        sd, latent_avg, args = ckpt, None, None
    else:
        keys = [short(k, 30) for k in list(ckpt)[:6]] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFormatError(f"{source} is a torch file but not a StyleGAN2 generator (found {keys}); expected a "
                               "rosinality checkpoint with 'g_ema'")
    if not isinstance(sd, dict) or "input.input" not in sd:
        raise ModelFormatError(f"{source}: 'g_ema' is not a rosinality StyleGAN2 generator state (no input.input)")
    n_mlp = len([k for k in sd if re.match(r"style\.\d+\.weight$", k)])
    n_convs = len([k for k in sd if re.match(r"convs\.\d+\.conv\.weight$", k)])
    resolution = 4 * 2 ** (n_convs // 2)
    lr_mlp = finite_number(_arg(args, "lr_mlp", 0.01), "args.lr_mlp", source, 1e-8, 1e3)
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
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != G.w_dim:
            shape = tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else short(latent_avg)
            raise ModelFormatError(f"{source}: latent_avg has shape {shape}; expected {G.w_dim} values (w_dim)")
        G.w_avg.copy_(latent_avg.detach().to(torch.float32).reshape(-1))
    else:  # converted files carry latent_avg; bare states get the mean of the mapping over fixed samples
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            G.w_avg.copy_(G.mapping_network(torch.randn(LATENT_AVG_SAMPLES, G.z_dim, generator=gen)).mean(0))
        G.provenance["w_avg"] = f"mean of {LATENT_AVG_SAMPLES} mapped samples"
    return G
