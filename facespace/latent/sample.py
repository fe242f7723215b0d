"""Latents from seeds and from FaceSpace blends."""
from __future__ import annotations

from ..blend import BlendPlan, blend_wplus
from ..errors import FaceSpaceError
from ..space import FaceSpace
from ..stylegan.handle import z_from_seeds
from .value import Latent


def random_latent(stylegan, seed: int = 0, count: int = 1, psi: float | None = None, cutoff: int | None = None,
                  runtime=None) -> Latent:
    """W+ of seeds seed, seed+1, ... drawn as Sample StyleGAN draws them (NVIDIA's z for each seed), truncated
    with `psi` / `cutoff` (default: the StyleGAN's own settings, so the faces are Sample StyleGAN's)."""
    count = int(count)
    if count < 1:
        raise FaceSpaceError(f"count must be 1 or more, got {count}")
    G = stylegan.generator
    seeds = [int(seed) + i for i in range(count)]
    z = z_from_seeds(seeds, G.z_dim)
    psi = stylegan.psi if psi is None else float(psi)
    cutoff = stylegan.cutoff if cutoff is None else (int(cutoff) or None)
    if psi == stylegan.psi and cutoff == stylegan.cutoff:
        ws = stylegan.mapping(z, runtime)
    else:
        ws = type(stylegan)(G, psi=psi, cutoff=cutoff).mapping(z, runtime)
    return Latent(ws, G.fingerprint(), tuple(f"seed {s}" for s in seeds), generator_file=G.source_path)


def blend_latent(facespace: FaceSpace, plan: BlendPlan) -> Latent:
    """The planned blends as a latent, each item labelled and carrying the weights that made it."""
    ws = blend_wplus(facespace, plan)
    info = plan.info()
    records = []
    for i in range(ws.shape[0]):
        groups = {g: {"layers": v["layers"], "weights": v["weights"][i]} for g, v in info["groups"].items()}
        records.append({"names": info["names"], "weights": info["weights"][i], "groups": groups,
                        "normalized": info["normalized"]})
    labels = [f"blend {i + 1}" for i in range(ws.shape[0])] if ws.shape[0] > 1 else ["blend"]
    return Latent(ws, facespace.generator_fingerprint, tuple(labels), tuple(records), _generator_file(facespace))


def _generator_file(facespace: FaceSpace) -> str:
    G = getattr(facespace.stylegan, "generator", None)
    return (G.source_path if G is not None else "") or str(facespace.metadata.get("generator_file") or "")
