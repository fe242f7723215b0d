"""Editing directions in W: computed from the generator alone (SeFa, GANSpace) or read from a file.

- SeFa (closed form): the style affine layers map w to each layer's styles, s = A w + b. Directions that
  change the styles most are the top eigenvectors of AᵀA, with A the style affines' weights (as applied,
  run-time scaling included) stacked over all layers, or over the affines that read the chosen W+ layers
  (found by a probe: one synthesis pass with a different code on every layer).
- GANSpace: principal components of W = mapping(z) over sampled z (no truncation), sorted by the variance
  they explain.
Both give unit rows [K,w_dim], strongest first; each row's sign is fixed so that its largest entry is positive.
A direction file (.npy) holds one direction [w_dim] (as InterFaceGAN publishes), rows [K,w_dim] (as the
`directions` command writes), a per-layer direction [num_ws,w_dim] (read as such only when asked, since
it has the shape of num_ws rows) or per-layer rows [K,num_ws,w_dim].
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import FaceSpaceError
from ..fileio import atomic_path
from ..npy_file import read_npy
from ..runtime import get_runtime
from ..stylegan.layers import EqualLinear

METHODS = ("sefa", "ganspace")
GANSPACE_SAMPLES = 10_000


def _style_affines(G) -> list[EqualLinear]:
    return [m for m in G.synthesis_network.modules() if isinstance(m, EqualLinear) and m.weight.shape[1] == G.w_dim]


def affine_layers(G) -> list[set[int]]:
    """For each style affine (in `_style_affines` order), the W+ layer indices it reads."""
    affines = _style_affines(G)
    codes = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(0))
    seen: list[set[int]] = [set() for _ in affines]

    def hook(i):
        def record(_module, args):
            w = args[0].detach().double().reshape(-1, G.w_dim)[0]
            seen[i].add(int((codes[0].double() - w.cpu()).abs().sum(dim=1).argmin()))
        return record

    handles = [m.register_forward_pre_hook(hook(i)) for i, m in enumerate(affines)]
    try:
        with torch.no_grad(), torch.inference_mode(False):
            G.synthesis(codes.to(next(G.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def style_affine_weights(G, layers: range | None = None) -> torch.Tensor:
    """The weights (as applied) of the style affines reading `layers` (default all), [sum of sizes, w_dim] float64."""
    affines = _style_affines(G)
    if layers is not None and len(layers) < G.num_ws:
        wanted = set(layers)
        affines = [m for m, read in zip(affines, affine_layers(G)) if read & wanted]
    if not affines:
        raise FaceSpaceError(f"generator {G.family} has no style affine layers to factorise"
                             + (f" for W+ layers {layers.start}-{layers.stop - 1}" if layers is not None else ""))
    return torch.cat([m.weight.detach().double().cpu() * m.weight_gain for m in affines])


def _fix_signs(rows: torch.Tensor) -> torch.Tensor:
    idx = rows.abs().argmax(dim=1)
    signs = torch.sign(rows[torch.arange(len(rows)), idx])
    return rows * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]


def _check_count(count: int | None, w_dim: int) -> int:
    count = w_dim if count is None else int(count)
    if not 1 <= count <= w_dim:
        raise FaceSpaceError(f"count must be 1 to {w_dim} (the generator's w_dim), got {count}")
    return count


def sefa_directions(G, count: int | None = None, layers: range | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit rows [K,w_dim] float32, eigenvalues [K]) of AᵀA over the affines of `layers` (default all), strongest
    first."""
    count = _check_count(count, G.w_dim)
    A = style_affine_weights(G, layers)
    values, vectors = torch.linalg.eigh(A.T @ A)  # ascending
    order = torch.argsort(values, descending=True)[:count]
    return _fix_signs(vectors[:, order].T).float(), values[order].float()


def ganspace_directions(G, count: int | None = None, samples: int = GANSPACE_SAMPLES, seed: int = 0,
                        runtime=None, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit rows [K,w_dim] float32, explained variance ratio [K]) of W over `samples` seeded z."""
    count = _check_count(count, G.w_dim)
    if samples < 2:
        raise FaceSpaceError(f"GANSpace needs at least 2 samples, got {samples}")
    rt = get_runtime(runtime)
    module = rt.load(G)
    gen = torch.Generator().manual_seed(int(seed))
    chunks = []
    with torch.no_grad():
        for start in range(0, samples, batch_size):
            rt.check_cancel()
            z = torch.randn(min(batch_size, samples - start), G.z_dim, generator=gen)
            chunks.append(module.mapping_network(z.to(rt.device())).double().cpu())
    W = torch.cat(chunks)
    W = W - W.mean(dim=0)
    _, s, vh = torch.linalg.svd(W, full_matrices=False)  # singular values descending
    variance = s.square()
    return _fix_signs(vh[:count]).float(), (variance / variance.sum())[:count].float()


def compute_directions(G, method: str, count: int | None = None, runtime=None, seed: int = 0,
                       layers: range | None = None) -> torch.Tensor:
    """Unit rows [K,w_dim]; `layers` restricts SeFa to the affines of those W+ layers (GANSpace has none)."""
    if method == "sefa":
        return sefa_directions(G, count, layers)[0]
    if method == "ganspace":
        return ganspace_directions(G, count, seed=seed, runtime=runtime)[0]
    raise FaceSpaceError(f"direction method must be one of {', '.join(METHODS)}, got {method!r}")


def save_directions(rows: torch.Tensor, path: str | os.PathLike, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise FaceSpaceError(f"directions file {path} must end in .npy")
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, rows.detach().float().cpu().numpy())
    return path


def read_directions(path: str | os.PathLike, num_ws: int, w_dim: int, per_layer: bool = False) -> torch.Tensor:
    """A direction file -> [K,num_ws,w_dim] float32 (a W direction repeats over every layer); see the module doc."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"directions file {path} not found")
    arr = read_npy(path, "directions")
    expected = (f"[{w_dim}], [K,{w_dim}], [{num_ws},{w_dim}] (per layer) or [K,{num_ws},{w_dim}]")
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise FaceSpaceError(f"directions in {path} must be finite floats, got dtype {arr.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if per_layer and t.shape == (num_ws, w_dim):
        return t[None].clone()
    if t.ndim == 1 and t.shape[0] == w_dim:
        t = t[None]
    if t.ndim == 2 and t.shape[1] == w_dim and t.shape[0] >= 1 and not per_layer:
        return t[:, None, :].repeat(1, num_ws, 1)
    if t.ndim == 3 and t.shape[1:] == (num_ws, w_dim) and t.shape[0] >= 1:
        return t.clone()
    raise FaceSpaceError(f"directions in {path} have shape {tuple(arr.shape)}; expected {expected} "
                         f"for this generator" + (" (read per layer)" if per_layer else ""))
