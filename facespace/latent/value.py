"""`Latent`: a batch of W+ codes that belong to one generator (what the STYLEGAN_LATENT socket carries)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from ..errors import FaceSpaceError
from ..generator_check import check_generator


@dataclass(frozen=True)
class Latent:
    """W+ codes [N,num_ws,w_dim] float32 on the CPU, the fingerprint of their generator and one label each.

    weights: per item, the FaceSpace blend that made it ({'names', 'weights', 'groups'}), or None; kept while
    the codes are still that blend's (joined, selected, loaded), dropped by mixes and edits.
    generator_file: where the generator was loaded from, when known (lets the CLI find it without --model).
    Values are never changed in place: every operation returns a new Latent.
    """

    wplus: torch.Tensor
    generator_fingerprint: str
    labels: tuple[str, ...]
    weights: tuple[dict | None, ...] = field(default=())
    generator_file: str = ""

    def __post_init__(self):
        ws = torch.as_tensor(self.wplus).detach()
        if ws.ndim != 3 or ws.shape[0] < 1:
            raise FaceSpaceError(f"a latent holds W+ codes [N,num_ws,w_dim] with N >= 1, got {tuple(ws.shape)}")
        if not ws.is_floating_point() or not torch.isfinite(ws).all():
            raise FaceSpaceError("a latent's W+ codes must be finite floats")
        object.__setattr__(self, "wplus", ws.float().cpu().contiguous())
        labels = tuple(str(label) for label in self.labels)
        if len(labels) != ws.shape[0]:
            raise FaceSpaceError(f"{len(labels)} labels for a latent batch of {ws.shape[0]}")
        object.__setattr__(self, "labels", labels)
        weights = tuple(self.weights) or (None,) * ws.shape[0]
        if len(weights) != ws.shape[0]:
            raise FaceSpaceError(f"{len(weights)} blend records for a latent batch of {ws.shape[0]}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "generator_fingerprint", str(self.generator_fingerprint))
        object.__setattr__(self, "generator_file", str(self.generator_file or ""))

    def __len__(self) -> int:
        return self.wplus.shape[0]

    def __repr__(self) -> str:
        shown = ", ".join(self.labels[:4]) + (", ..." if len(self) > 4 else "")
        return f"Latent({len(self)} x W+ {self.num_ws}x{self.w_dim} [{shown}], generator {self.generator_fingerprint})"

    @property
    def num_ws(self) -> int:
        return self.wplus.shape[1]

    @property
    def w_dim(self) -> int:
        return self.wplus.shape[2]

    def replace(self, wplus: torch.Tensor, labels: Sequence[str], weights: Sequence[dict | None] = ()) -> "Latent":
        """A new latent for the same generator."""
        return Latent(wplus, self.generator_fingerprint, tuple(labels), tuple(weights), self.generator_file)

    def select(self, indices: Sequence[int]) -> "Latent":
        idx = [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < len(self)]
        if bad:
            raise FaceSpaceError(f"latent index {bad[0]} is outside 0..{len(self) - 1}")
        return Latent(self.wplus[idx], self.generator_fingerprint, tuple(self.labels[i] for i in idx),
                      tuple(self.weights[i] for i in idx), self.generator_file)

    def check_generator(self, stylegan, allow_mismatch: bool = False, source: str = "this latent") -> None:
        """Refuse a generator these codes were not made for (unless `allow_mismatch`); other W+ shapes always."""
        check_generator(stylegan, self.generator_fingerprint, self.num_ws, self.w_dim, allow_mismatch, source)

    def for_generator(self, stylegan, allow_mismatch: bool = False, source: str = "this latent") -> "Latent":
        """The same codes stamped with `stylegan`'s fingerprint (checked first: a mismatch only when allowed)."""
        self.check_generator(stylegan, allow_mismatch, source)
        G = getattr(stylegan, "generator", stylegan)
        return Latent(self.wplus, G.fingerprint(), self.labels, self.weights, G.source_path or self.generator_file)

    def render(self, stylegan, runtime=None, batch_size: int = 8, allow_mismatch: bool = False,
               desc: str = "") -> torch.Tensor:
        """IMAGE [N,H,W,3] 0..1 on the CPU, rendered in chunks into one batch (progress, cancel between chunks)."""
        self.check_generator(stylegan, allow_mismatch)
        return stylegan.render(self.wplus, runtime=runtime, batch_size=batch_size, desc=desc or "render latent")


def concat(latents: Sequence[Latent]) -> Latent:
    """One batch of several latents of the same generator, in order."""
    latents = list(latents)
    if not latents:
        raise FaceSpaceError("no latents to join")
    check_same_generator(latents)
    return Latent(torch.cat([lat.wplus for lat in latents]), latents[0].generator_fingerprint,
                  tuple(label for lat in latents for label in lat.labels),
                  tuple(w for lat in latents for w in lat.weights), latents[0].generator_file)


def check_same_generator(latents: Sequence[Latent], what: str = "latents") -> None:
    """Refuse latents of different generators (or W+ shapes) used together."""
    first = latents[0]
    for i, lat in enumerate(latents[1:], start=2):
        if lat.wplus.shape[1:] != first.wplus.shape[1:]:
            raise FaceSpaceError(f"{what}: input {i} has W+ {lat.num_ws}x{lat.w_dim}, input 1 has "
                                 f"{first.num_ws}x{first.w_dim}; they belong to different generators")
        if lat.generator_fingerprint != first.generator_fingerprint:
            raise FaceSpaceError(f"{what}: input {i} was made for generator {lat.generator_fingerprint}, input 1 "
                                 f"for {first.generator_fingerprint}; use latents of one generator")
