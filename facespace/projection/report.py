"""How close the faces came, in words: per-face PSNR and the faces below the target, by name."""
from __future__ import annotations

from typing import Sequence


def below_target(names: Sequence[str], psnr_db: Sequence[float], target_psnr: float) -> list[tuple[str, float]]:
    """(name, PSNR) of each face below the target (none when there is no target)."""
    if target_psnr <= 0:
        return []
    return [(n, float(v)) for n, v in zip(names, psnr_db) if float(v) < target_psnr]


def target_note(names: Sequence[str], psnr_db: Sequence[float], target_psnr: float) -> str:
    """'below the 45 dB target: ann 31.2 dB, bo 33.0 dB' or 'every face reached 45 dB' ('' without a target)."""
    if target_psnr <= 0:
        return ""
    below = below_target(names, psnr_db, target_psnr)
    if not below:
        return f"every face reached {target_psnr:g} dB"
    return f"below the {target_psnr:g} dB target: " + ", ".join(f"{n} {v:.1f} dB" for n, v in below)


def psnr_line(names: Sequence[str], psnr_db: Sequence[float], resolution: int, target_psnr: float) -> str:
    """'PSNR at 64 px: ann 31.2 dB, bo 47.0 dB; below the 45 dB target: ann 31.2 dB'."""
    text = f"PSNR at {resolution} px: " + ", ".join(f"{n} {float(v):.1f} dB" for n, v in zip(names, psnr_db))
    note = target_note(names, psnr_db, target_psnr)
    return f"{text}; {note}" if note else text
