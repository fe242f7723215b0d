"""`StyleGAN`: a loaded generator plus how to render with it (what the STYLEGAN socket carries)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..errors import FaceSpaceError, NonFiniteError
from ..imageops import image_to_pil, native_to_image
from ..runtime import Runtime, get_runtime
from .generator import Generator

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def z_from_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """One z per seed, drawn the way NVIDIA's scripts draw them (numpy RandomState(seed).randn)."""
    return torch.from_numpy(np.stack([np.random.RandomState(int(s) % 2 ** 32).randn(z_dim) for s in seeds])).float()


def precision_context(device: torch.device, dtype: torch.dtype):
    """Reduced precision runs under autocast on a GPU; the CPU always renders in float32."""
    if dtype == torch.float32 or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def check_finite_latents(ws: torch.Tensor, name: str = "") -> None:
    """Refuse latents holding NaN or inf (they would render as black pictures), naming the first bad row."""
    finite = torch.isfinite(ws.reshape(ws.shape[0], -1)).all(dim=1) if ws.numel() else torch.ones(0, dtype=bool)
    if not bool(finite.all()):
        row = int((~finite).nonzero()[0])
        raise NonFiniteError(f"latent {row} of {ws.shape[0]} holds NaN or inf; nothing was rendered"
                             + (f" with {name}" if name else ""))


def check_finite_output(raw: torch.Tensor, name: str, first: int = 0) -> None:
    """Refuse a rendering that overflowed to NaN or inf instead of passing black pictures on."""
    if not bool(torch.isfinite(raw).all()):
        rows = torch.isfinite(raw.reshape(raw.shape[0], -1)).all(dim=1)
        row = first + int((~rows).nonzero()[0])
        raise NonFiniteError(f"rendering latent {row} with {name or 'the generator'} gave NaN or inf (its weights "
                             "overflow for this latent; try a lower truncation psi or fp32)")


@dataclass
class StyleGAN:
    generator: Generator
    psi: float = 0.7
    cutoff: int | None = None
    noise_mode: str = "const"
    dtype: torch.dtype = torch.float32
    name: str = ""

    @property
    def num_ws(self) -> int:
        return self.generator.num_ws

    @property
    def w_dim(self) -> int:
        return self.generator.w_dim

    @property
    def resolution(self) -> int:
        return self.generator.resolution

    def render(self, ws: torch.Tensor, runtime: Runtime | None = None, batch_size: int = 8,
               desc: str = "", native: bool = False, transform: torch.Tensor | None = None) -> torch.Tensor:
        """W+ [N,num_ws,w_dim] (or W [N,w_dim]) -> IMAGE [N,H,W,3] float32 0..1 on the output device (CPU).

        Rendered `batch_size` at a time into one preallocated batch (memory: the output plus one chunk),
        under one progress bar named `desc` (default 'render <name>'), checking for cancel between chunks.
        With `native`, the raw synthesis output [N,C,H,W] float32 (about -1..1, not clamped) instead.
        `transform` (StyleGAN3 only; `stylegan3.input_transform(translate, rotate)`) pans / turns every image
        ([3,3]) or each image ([N,3,3]).
        """
        rt = get_runtime(runtime)
        G = self.generator
        if transform is not None and G.family != "stylegan3":
            raise FaceSpaceError(f"translate / rotate move StyleGAN3 images only; {self.name or 'this generator'} "
                                 f"is a {G.family} generator (set them to 0)")
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).repeat(1, G.num_ws, 1)
        if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
            raise ValueError(f"W+ must have shape [N,{G.num_ws},{G.w_dim}] for {self.name or 'this generator'}, "
                             f"got {tuple(ws.shape)}")
        check_finite_latents(ws, self.name)
        n = ws.shape[0]
        if transform is not None and transform.ndim == 3 and transform.shape[0] != n:
            raise ValueError(f"{transform.shape[0]} transforms for {n} codes; give one [3,3] or one per code")
        module = rt.load(G)
        device = rt.device()
        batch_size = max(1, int(batch_size))
        shape = (n, G.img_channels, G.resolution, G.resolution) if native else \
            (n, G.resolution, G.resolution, G.img_channels)
        out = torch.empty(shape, dtype=torch.float32, device=rt.output_device())
        progress = rt.progress(n, desc or f"render {self.name}".strip())
        try:
            for start in range(0, n, batch_size):
                rt.check_cancel()
                chunk = ws[start:start + batch_size].to(device=device, dtype=torch.float32)
                with torch.no_grad(), precision_context(device, self.dtype):
                    chunk_transform = transform[start:start + batch_size] \
                        if transform is not None and transform.ndim == 3 else transform
                    raw = module.synthesis(chunk, noise_mode=self.noise_mode, transform=chunk_transform)
                    check_finite_output(raw, self.name, start)
                end = start + raw.shape[0]
                out[start:end] = raw.float() if native else native_to_image(raw)
                preview = image_to_pil(native_to_image(raw[-1:]))[0]
                progress.update(raw.shape[0], preview=preview, status=f"{end}/{n}")
        finally:
            progress.close()
        return out

    def mapping(self, z: torch.Tensor, runtime: Runtime | None = None) -> torch.Tensor:
        """z [N,z_dim] -> truncated W+ [N,num_ws,w_dim] float32 on the CPU."""
        rt = get_runtime(runtime)
        module = rt.load(self.generator)
        with torch.no_grad():
            ws = module.mapping(z.to(rt.device(), torch.float32), psi=self.psi, cutoff=self.cutoff)
        return ws.float().cpu()

    def sample(self, seeds_or_z, runtime: Runtime | None = None, batch_size: int = 8,
               transform: torch.Tensor | None = None) -> torch.Tensor:
        """Seeds (int or list of ints) or z [N,z_dim] -> truncated -> IMAGE [N,H,W,3] (`transform` as in render)."""
        if isinstance(seeds_or_z, (int, np.integer)):
            seeds_or_z = [int(seeds_or_z)]
        if isinstance(seeds_or_z, torch.Tensor):
            z = seeds_or_z
        else:
            z = z_from_seeds(list(seeds_or_z), self.generator.z_dim)
        return self.render(self.mapping(z, runtime), runtime, batch_size, transform=transform)
