"""FaceSpace: named training faces, an encoder from face codes to W+, and the W+ table it learned from."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import FaceSpaceError, UnknownFaceError, WeightsError
from ..generator_check import check_generator


class FaceSpace:
    """What the FACESPACE socket carries.

    names: one per training face, in training order; code i is the one-hot vector of face i.
    encoder: codes [B,N] -> W+ [B,num_ws,w_dim]; encoder_kind 'mlp' | 'linear'.
    wplus_table: [N,num_ws,w_dim] per-face W+ found while training.
    metadata: training settings, loss history, per-face PSNR, ...
    stylegan: the StyleGAN it renders with, or None. It is fixed when the FaceSpace is made and checked
    against the fingerprint (refused unless `allow_mismatch`); `bound_to` gives the same FaceSpace bound
    to another generator (sharing the encoder and the table) without changing this one.
    """

    def __init__(self, names: Sequence[str], encoder: nn.Module, encoder_kind: str, wplus_table: torch.Tensor,
                 resolution: int, generator_fingerprint: str, metadata: dict[str, Any] | None = None,
                 stylegan=None, allow_mismatch: bool = False, source: str = "the FaceSpace"):
        names = [str(n) for n in names]
        if len(names) != wplus_table.shape[0]:
            raise ValueError(f"{len(names)} face names for a W+ table of {wplus_table.shape[0]} faces")
        if len({n.casefold() for n in names}) != len(names):
            raise ValueError(f"face names must be unique ignoring case, got {names}")
        self.names = names
        self.encoder = encoder.eval()
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder_kind = str(encoder_kind)
        self.wplus_table = wplus_table.detach().float().cpu()
        self.num_ws, self.w_dim = int(wplus_table.shape[1]), int(wplus_table.shape[2])
        self.resolution = int(resolution)
        self.generator_fingerprint = str(generator_fingerprint)
        self.metadata = dict(metadata or {})
        if stylegan is not None:
            check_generator(stylegan, self.generator_fingerprint, self.num_ws, self.w_dim, allow_mismatch, source,
                            made="trained")
        self._stylegan = stylegan

    @property
    def stylegan(self):
        """The StyleGAN this FaceSpace renders with (None when it is not bound to one)."""
        return self._stylegan

    def bound_to(self, stylegan, allow_mismatch: bool = False, source: str = "the FaceSpace") -> "FaceSpace":
        """This FaceSpace rendering with `stylegan` (None: with none), refused for a generator it was not
        trained for unless `allow_mismatch`. Encoder, table and metadata are shared, not copied."""
        return FaceSpace(self.names, self.encoder, self.encoder_kind, self.wplus_table, self.resolution,
                         self.generator_fingerprint, self.metadata, stylegan=stylegan,
                         allow_mismatch=allow_mismatch, source=source)

    def require_stylegan(self):
        """The bound StyleGAN, or an error saying how to bind one."""
        if self._stylegan is None:
            raise FaceSpaceError("this FaceSpace is not bound to a generator; load it with its StyleGAN")
        return self._stylegan

    def render(self, ws: torch.Tensor, runtime=None, batch_size: int = 8, desc: str = "") -> torch.Tensor:
        """W+ [N,num_ws,w_dim] -> IMAGE [N,H,W,3] with the bound generator."""
        return self.require_stylegan().render(ws, runtime=runtime, batch_size=batch_size, desc=desc)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (f"FaceSpace({len(self)} faces {self.names}, encoder={self.encoder_kind}, "
                f"W+ {self.num_ws}x{self.w_dim}, resolution={self.resolution})")

    @property
    def encoder_kwargs(self) -> dict:
        return dict(getattr(self.encoder, "kwargs", {}))

    @property
    def face_codes(self) -> torch.Tensor:
        """[N,N] one-hot code of each training face."""
        return torch.eye(len(self.names))

    def index(self, name: str) -> int:
        try:
            return self.names.index(str(name))
        except ValueError:
            raise UnknownFaceError(f"unknown face {name!r}; this FaceSpace holds {', '.join(self.names)}") from None

    def code(self, name_or_index: str | int) -> torch.Tensor:
        """One-hot code [N] of one face, by name or index."""
        i = self.index(name_or_index) if isinstance(name_or_index, str) else int(name_or_index)
        if not 0 <= i < len(self.names):
            raise UnknownFaceError(f"face index {i} out of range; this FaceSpace has {len(self.names)} faces")
        return self.face_codes[i]

    @torch.no_grad()
    def encode(self, codes) -> torch.Tensor:
        """Codes [B,N] (or one [N]) -> W+ [B,num_ws,w_dim] float32 on the CPU."""
        c = torch.as_tensor(np.asarray(codes, dtype=np.float32) if not torch.is_tensor(codes) else codes)
        c = c.detach().float().cpu()
        if c.ndim == 1:
            c = c.unsqueeze(0)
        if c.ndim != 2 or c.shape[1] != len(self.names):
            raise WeightsError(f"face codes must have shape [B,{len(self.names)}] (one weight per face "
                               f"{self.names}), got {tuple(c.shape)}")
        if not torch.isfinite(c).all():
            raise WeightsError("face codes contain NaN or inf")
        with torch.inference_mode(False):
            enc = self.encoder
            param = next(enc.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            out = enc(c.clone().to(device))
        return out.detach().float().cpu().clone()

    def face_wplus(self, names: Iterable[str] | None = None) -> torch.Tensor:
        """W+ of training faces through the encoder, [K,num_ws,w_dim] (all faces when names is None)."""
        idx = list(range(len(self.names))) if names is None else [self.index(n) for n in names]
        return self.encode(self.face_codes[idx])

    def psnr(self) -> dict[str, float]:
        """Per-face PSNR (dB) measured at the end of training, by face name."""
        return dict(self.metadata.get("psnr", {}))
