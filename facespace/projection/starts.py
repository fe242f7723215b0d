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


class SampledFaces:
    """Sampled faces, rendered small once when first needed: starts and restarts, each handed out once per face.

    Half are truncated toward the measured mean, half toward the file's own w_avg (the centre its author's
    sampling used, often the very faces a user brings); a start that is not closer than the mean is not taken.
    """

    def __init__(self, G, render, mean: torch.Tensor, count: int, seed: int, device):
        self.G, self.render, self.mean, self.count, self.seed, self.device = G, render, mean, count, seed, device
        self.w = None      # [K,w_dim]
        self.images = None  # [K,3,r,r] 0..1
        self.used: dict[int, set] = {}

    def _centres(self) -> list[torch.Tensor]:
        centres = [self.mean]
        file_avg = self.G.w_avg.detach().float().to(self.device)
        if torch.isfinite(file_avg).all() and not torch.equal(file_avg, self.mean):
            centres.append(file_avg)
        return centres

    def _render(self, w: torch.Tensor) -> torch.Tensor:
        res = min(POOL_RESOLUTION, self.G.resolution)
        return self.render(w[:, None].expand(-1, self.G.num_ws, -1), res).clamp(0, 1)

    def _build(self, check_cancel):
        gen = torch.Generator().manual_seed(self.seed + 7919)
        centres = self._centres()
        ws, images = [], []
        with torch.no_grad():
            for start in range(0, self.count, 32):
                check_cancel()
                z = torch.randn(min(32, self.count - start), self.G.z_dim, generator=gen).to(self.device)
                centre = centres[(start // 32) % len(centres)]
                w = centre + POOL_PSI * (self.G.mapping(z)[:, 0].float() - centre)
                images.append(self._render(w))
                ws.append(w)
        self.w, self.images = torch.cat(ws), torch.cat(images)

    def _distances(self, target: torch.Tensor) -> torch.Tensor:
        return (self.images - resize(target[None], self.images.shape[-1])).square().flatten(1).mean(1)

    def nearest(self, face: int, target: torch.Tensor, check_cancel) -> torch.Tensor | None:
        """The closest sampled w [w_dim] to `target` [3,H,W] not yet given to `face`; None when all were."""
        if self.count == 0:
            return None
        if self.w is None:
            self._build(check_cancel)
        used = self.used.setdefault(face, set())
        d = self._distances(target)
        if used:
            d[list(used)] = float("inf")
        best = int(d.argmin())
        if best in used:
            return None
        used.add(best)
        return self.w[best]

    @torch.no_grad()
    def starts(self, targets: torch.Tensor, check_cancel) -> torch.Tensor:
        """Each target's start [N,w_dim]: its nearest sampled face where that is closer than the mean face."""
        start = self.mean.expand(targets.shape[0], -1).clone()
        if self.count == 0:
            return start
        if self.w is None:
            self._build(check_cancel)
        mean_image = self._render(self.mean[None])
        for face, target in enumerate(targets):
            d = self._distances(target)
            best = int(d.argmin())
            if d[best] < (mean_image - resize(target[None], mean_image.shape[-1])).square().mean():
                self.used.setdefault(face, set()).add(best)
                start[face] = self.w[best]
        return start
