"""Where faces start: the measured mean of mapping(z), and sampled faces to restart lagging faces from.

A file's `w_avg` is not trusted: NVIDIA's ADA code keeps zeros there until training has run long enough,
and converters may drop it. Sampling the mapping network costs a fraction of one synthesis pass.
"""
from __future__ import annotations

import torch

from ..train.rendering import resize

CHUNK = 256
POOL_PSI = 0.7          # sampled restart faces are truncated toward the measured mean by this much
POOL_RESOLUTION = 64    # ... and compared with the targets at this size


@torch.no_grad()
def measured_w_stats(G, samples: int, seed: int, device, check_cancel) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [w_dim], RMS spread around it, a scalar) of mapping(z) over `samples` draws of z."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(G.w_dim, dtype=torch.float64, device=device)
    square = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, samples, CHUNK):
        check_cancel()
        z = torch.randn(min(CHUNK, samples - start), G.z_dim, generator=gen).to(device)
        w = G.mapping(z)[:, 0].double()
        total += w.sum(0)
        square += w.square().sum()
    mean = total / samples
    spread = (square / samples / G.w_dim - mean.square().mean()).clamp_min(0).sqrt()
    return mean.float(), spread.float()


class RestartPool:
    """Sampled faces around the mean W, rendered small once when first needed; each is handed out once per face."""

    def __init__(self, G, render, mean: torch.Tensor, count: int, seed: int, device):
        self.G, self.render, self.mean, self.count, self.seed, self.device = G, render, mean, count, seed, device
        self.w = None      # [K,w_dim]
        self.images = None  # [K,3,r,r] 0..1
        self.used: dict[int, set] = {}

    def _build(self, check_cancel):
        gen = torch.Generator().manual_seed(self.seed + 7919)
        ws, images = [], []
        res = min(POOL_RESOLUTION, self.G.resolution)
        with torch.no_grad():
            for start in range(0, self.count, 32):
                check_cancel()
                z = torch.randn(min(32, self.count - start), self.G.z_dim, generator=gen).to(self.device)
                w = self.mean + POOL_PSI * (self.G.mapping(z)[:, 0].float() - self.mean)
                images.append(self.render(w[:, None].expand(-1, self.G.num_ws, -1), res).clamp(0, 1))
                ws.append(w)
        self.w, self.images = torch.cat(ws), torch.cat(images)

    def nearest(self, face: int, target: torch.Tensor, check_cancel) -> torch.Tensor | None:
        """The closest sampled w [w_dim] to `target` [3,H,W] not yet given to `face`; None when all were."""
        if self.count == 0:
            return None
        if self.w is None:
            self._build(check_cancel)
        used = self.used.setdefault(face, set())
        d = (self.images - resize(target[None], self.images.shape[-1])).square().flatten(1).mean(1)
        if used:
            d[list(used)] = float("inf")
        best = int(d.argmin())
        if best in used:
            return None
        used.add(best)
        return self.w[best]
