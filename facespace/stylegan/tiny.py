"""Small random generators for tests, demos and self-checks."""
from __future__ import annotations

import torch

from .generator import Generator, build_generator


def tiny_arch(family: str = "stylegan2", resolution: int = 32, **kw) -> dict:
    arch = {"family": family, "resolution": resolution, "z_dim": 32, "w_dim": 32, "mapping_layers": 2,
            "mapping_hidden": 32}
    if family == "stylegan3":  # channels follow from channel_base / channel_max; fewer layers than NVIDIA's 14
        arch.update(channel_base=512, channel_max=32, num_layers=6)
        arch.update(kw)
        return arch
    channels = kw.pop("channels", None)
    if channels is None:
        cmax = kw.pop("channel_max", 32)
        channels = {}
        r = 4
        while r <= resolution:
            channels[r] = max(8, min(cmax, 256 // r))
            r *= 2
    arch["channels"] = channels
    arch.update(kw)
    return arch


def tiny_generator(family: str = "stylegan2", resolution: int = 32, seed: int = 0, **kw) -> Generator:
    """A small generator whose every weight (biases, noise strengths, w_avg included) is random."""
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False):
        torch.manual_seed(seed)
        G = build_generator(tiny_arch(family, resolution, **kw))
        with torch.no_grad():
            for name, p in G.named_parameters():
                if name.endswith("bias") or "noise" in name:
                    p.add_(torch.randn_like(p) * 0.2)
                elif name.endswith("input.affine.weight"):  # zero when built: random, so w turns and shifts
                    p.normal_(0, 0.5)
            for name, b in G.named_buffers():
                if name.endswith("magnitude_ema"):
                    b.uniform_(0.5, 2.0)
            G.w_avg.copy_(torch.randn(G.w_dim) * 0.3)
    G.provenance = {"format": "tiny", "seed": seed}
    return G.eval().requires_grad_(False)
