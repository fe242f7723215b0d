"""The one rule for values made for a generator (a FaceSpace, a latent): they render only on that generator.

A value records the fingerprint of the generator it was made for. Another generator with the same W+
shape is refused unless the user allows the mismatch; a different W+ shape is always refused.
"""
from __future__ import annotations

from .errors import FingerprintMismatchError


def check_generator(stylegan, fingerprint: str, num_ws: int, w_dim: int, allow_mismatch: bool = False,
                    source: str = "this value", made: str = "made") -> None:
    """Raise FingerprintMismatchError unless `stylegan` (a StyleGAN or a Generator) may render `source`
    (`made`: how the message says it came about, e.g. 'trained')."""
    G = getattr(stylegan, "generator", stylegan)
    name = getattr(stylegan, "name", "") or ""
    shown = f"generator {name} " if name else "the given generator "
    if (G.num_ws, G.w_dim) != (int(num_ws), int(w_dim)):
        raise FingerprintMismatchError(
            f"{source} was {made} for a generator with W+ {num_ws}x{w_dim}; {shown}has {G.num_ws}x{G.w_dim}, "
            f"so it cannot render it")
    actual = G.fingerprint()
    if fingerprint != actual and not allow_mismatch:
        raise FingerprintMismatchError(
            f"{source} was {made} for generator {fingerprint or '(unknown)'}, but {shown}is {actual}; load the "
            f"generator it was {made} with, or allow the mismatch to use it anyway")
