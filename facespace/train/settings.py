"""Training settings: the original schedule as a preset, and our faster default."""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from ..errors import SettingsError
from ..space.encoders import ENCODER_KINDS

SCHEDULES = ("fast", "original")


def _whole(low: int):
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def _number(low: float, high: float = math.inf, low_open: bool = False):
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return False
        return (v > low if low_open else v >= low) and v <= high
    return ok


# Each setting's test and the allowed range as the error message states it.
_RULES = {
    "schedule": (lambda v: v in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
    "encoder": (lambda v: v in ENCODER_KINDS, f"one of {', '.join(ENCODER_KINDS)}"),
    "steps": (_whole(1), "a whole number >= 1"),
    "cycles": (_whole(0), "a whole number >= 0"),
    "lr": (_number(0, low_open=True), "a number > 0"),
    "anneal": (_number(0, 1, low_open=True), "a number in (0, 1]"),
    "batch_size": (_whole(0), "a whole number >= 0 (0 = all faces)"),
    "pixel_weight": (_number(0), "a number >= 0"),
    "l1_weight": (_number(0), "a number >= 0"),
    "structural_weight": (_number(0), "a number >= 0"),
    "perceptual_weight": (_number(0), "a number >= 0"),
    "perceptual_resolution": (_whole(32), "a whole number >= 32 (VGG16 halves images five times)"),
    "pull_weight": (_number(0), "a number >= 0"),
    "resolution": (_whole(0), "a whole number >= 0 (0 = the generator's resolution)"),
    "init_candidates": (_whole(0), "a whole number >= 0 (0 = the mean W, no restarts)"),
    "shared_w_fraction": (_number(0, 1), "a number in [0, 1]"),
    "target_psnr": (_number(0), "a number >= 0 (0 = run all steps)"),
    "seconds": (_number(0), "a number >= 0 (0 = no time limit)"),
    "distill_steps": (_whole(0), "a whole number >= 0"),
    "finetune_steps": (_whole(0), "a whole number >= 0"),
    "preview_every": (_whole(0), "a whole number >= 0 (0 = no previews)"),
    "seed": (_whole(0), "a whole number >= 0"),
}


@dataclass
class TrainSettings:
    """How to learn a FaceSpace.

    schedule 'original': the original research code. A per-face W+ table (initialised at the mean W) is
      optimised with its own Adam against the image losses while the MLP learns from the images and is pulled
      to the table (weight `pull_weight`) for `steps` epochs; then `cycles` cycles of `steps` epochs on the
      images alone, the learning rate multiplied by `anneal` after each cycle; optionally `steps // 2` epochs
      with 100x pixel loss. Batches of `batch_size` faces; an epoch is one pass over the faces.
    schedule 'fast': all faces at once, by the projector (facespace.projection): every face starts at the
      measured mean W (or the nearest of `init_candidates` sampled faces where that is closer); per-face
      L-BFGS moves one w per face for the first `shared_w_fraction` of the budget, then the full W+, at most
      at `resolution` px. The budget is `steps` steps (one forward and backward pass
      of the faces still working each) or `seconds` (when > 0), whichever runs out first; a face stops once it
      reaches `target_psnr` (when > 0). Faces lagging far behind the others start again from their nearest
      sampled face not yet tried. `lr`, `cycles` and `anneal` belong to the original schedule. Then the
      table goes into the encoder: exactly for 'linear'; for 'mlp' by a short regression and an exact
      least-squares output layer.
      `target_psnr` also stops the original schedule early (measured on its encoder's output).
    """

    schedule: str = "fast"
    encoder: str = "linear"
    steps: int = 300               # fast: projection steps; original: epochs per cycle
    cycles: int = 1                # original: learning-rate cycles
    lr: float = 0.05               # original: Adam learning rate
    anneal: float = 0.1            # original: learning rate factor from one cycle to the next
    batch_size: int = 0            # faces per forward pass, 0 = all. Original: one optimiser step per batch.
                                   # Fast: the batches' gradients add up to one step, so this only bounds memory.
    pixel_weight: float = 1.0      # MSE on 0..1 images
    l1_weight: float = 0.0         # mean absolute error on 0..1 images
    structural_weight: float = 0.0  # 1 - MS-SSIM
    perceptual_weight: float = 0.0  # VGG16 feature MSE (only when VGG16 weights are on disk)
    perceptual_resolution: int = 256  # images are resized to this for VGG16 (the original: 256)
    pull_weight: float = 1e4       # original: encoder output -> W+ table MSE during the first phase
    pixel_finetune: bool = False   # original: extra steps//2 epochs with 100x pixel loss
    resolution: int = 256          # cap on the working resolution (0 = the generator's full resolution)
    init_candidates: int = 256     # fast: sampled faces to start and restart from (0 = the mean W, no restarts)
    shared_w_fraction: float = 0.3  # fast: fraction of the budget moving one w per face before layers move apart
    target_psnr: float = 45.0      # fast: a face stops at this PSNR (dB); both: stop once every face has; 0 = never
    seconds: float = 0.0           # fast: time budget in seconds (0 = steps only)
    distill_steps: int = 100       # fast + mlp: regression steps before the output layer is solved exactly
    finetune_steps: int = 0        # fast + mlp: steps of the encoder through the generator after distilling
    mixed_precision: bool = False  # bf16 autocast for the generator on CUDA (off: line searches need exact losses)
    seed: int = 0
    preview_every: int = 25        # steps between preview grids

    def __post_init__(self):
        for name, (ok, allowed) in _RULES.items():
            value = getattr(self, name)
            if not ok(value):
                raise SettingsError(f"training setting {name} must be {allowed}, got {value!r}")
        weights = (self.pixel_weight, self.l1_weight, self.structural_weight, self.perceptual_weight)
        if sum(weights) <= 0:
            raise SettingsError("training settings pixel_weight, l1_weight, structural_weight and perceptual_weight "
                                "(the loss weights) must not all be 0; give at least one a weight > 0")

    @classmethod
    def original(cls, **overrides) -> "TrainSettings":
        """The original research code's schedule and loss weights (its TrainFaceModel defaults)."""
        base = dict(schedule="original", encoder="mlp", steps=200, cycles=2, lr=1e-2, anneal=0.1, batch_size=2,
                    pixel_weight=1e2, l1_weight=0.0, structural_weight=0.0, perceptual_weight=1e2,
                    pull_weight=1e4, pixel_finetune=False, resolution=0, target_psnr=0.0,
                    init_candidates=0, shared_w_fraction=0.0)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def fast(cls, **overrides) -> "TrainSettings":
        """Our default: every face projected into W+ at once, then handed to the encoder."""
        return cls(**overrides)

    @classmethod
    def preset(cls, schedule: str, **overrides) -> "TrainSettings":
        if schedule == "original":
            return cls.original(**overrides)
        if schedule == "fast":
            return cls.fast(**overrides)
        raise SettingsError(f"training setting schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")

    def replace(self, **changes) -> "TrainSettings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
