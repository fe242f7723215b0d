"""How hard to look: the projection budget (steps, seconds, target PSNR) and the search's own settings."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import SettingsError
from ..train.settings import _number, _whole

_RULES = {
    "steps": (_whole(1), "a whole number >= 1"),
    "target_psnr": (_number(0), "a number >= 0 (0 = no target: use the whole budget)"),
    "seconds": (_number(0), "a number >= 0 (0 = no time limit)"),
    "resolution": (_whole(0), "a whole number >= 0 (0 = the generator's resolution)"),
    "shared_w_fraction": (_number(0, 1), "a number in [0, 1]"),
    "history": (_whole(1), "a whole number >= 1"),
    "restart_gap": (_number(0), "a number >= 0 (0 = no restarts)"),
    "candidates": (_whole(0), "a whole number >= 0 (0 = start at the mean, no restarts)"),
    "mean_samples": (_whole(1), "a whole number >= 1"),
    "batch_size": (_whole(0), "a whole number >= 0 (0 = all faces)"),
    "preview_every": (_whole(0), "a whole number >= 0 (0 = no previews)"),
    "seed": (_whole(0), "a whole number >= 0"),
}


@dataclass
class ProjectionSettings:
    """What a projection may spend and how it searches.

    Budget: at most `steps` steps (one step = one forward and backward pass of the faces still working),
    at most `seconds` seconds when > 0; a face stops as soon as it reaches `target_psnr` dB (when > 0), and the
    whole projection stops when every face has.
    Search: every face starts at the mean of mapping(z) over `mean_samples` samples, or at the nearest of
    `candidates` sampled faces where that is closer; per-face L-BFGS (memory
    `history`) moves one w per face for the first `shared_w_fraction` of the budget (a face whose line search
    fails twice moves on earlier), then the full W+. A face that lags more than `restart_gap` dB behind the best
    face and stopped improving starts again from the nearest not yet tried of the sampled faces
    (the best result found for it is kept either way). The loss is computed at most at `resolution` px;
    PSNR is reported at the generator's resolution too.
    """

    steps: int = 300
    target_psnr: float = 45.0
    seconds: float = 0.0
    resolution: int = 256
    shared_w_fraction: float = 0.3
    history: int = 100
    restart_gap: float = 10.0
    candidates: int = 256
    mean_samples: int = 1024
    batch_size: int = 0
    mixed_precision: bool = False  # bf16 autocast for the generator on CUDA
    preview_every: int = 25
    seed: int = 0

    def __post_init__(self):
        for name, (ok, allowed) in _RULES.items():
            value = getattr(self, name)
            if not ok(value):
                raise SettingsError(f"projection setting {name} must be {allowed}, got {value!r}")

    def replace(self, **changes) -> "ProjectionSettings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
