"""Training settings: the original schedule as a preset, and our faster default."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

SCHEDULES = ("fast", "original")


@dataclass
class TrainSettings:
    """How to learn a FaceSpace.

    schedule 'original': the original research code. A per-face W+ table (initialised at the mean W) is
      optimised with its own Adam against the image losses while the MLP learns from the images and is pulled
      to the table (weight `pull_weight`) for `steps` epochs; then `cycles` cycles of `steps` epochs on the
      images alone, the learning rate multiplied by `anneal` after each cycle; optionally `steps // 2` epochs
      with 100x pixel loss. Batches of `batch_size` faces; an epoch is one pass over the faces.
    schedule 'fast': all faces at once. Each face starts from the closest of `init_candidates` sampled faces
      (its best of `init_replicas` starts after `replica_steps` steps); W+ = one w per face (moving alone for
      the first `shared_w_fraction` of the steps) + per-layer offsets, optimised directly by Adam in `cycles`
      cycles of `steps` steps (learning rate x `anneal` per cycle, cosine decay within the last), at most at
      `resolution` px, stopping early once every face reaches `target_psnr`. Then the table goes into the
      encoder: exactly for 'linear'; for 'mlp' by a short regression and an exact least-squares output layer.
      `target_psnr` also stops the original schedule early (measured on its encoder's output).
    """

    schedule: str = "fast"
    encoder: str = "linear"
    steps: int = 300               # steps per cycle; epochs per cycle for the original schedule
    cycles: int = 1
    lr: float = 0.05
    anneal: float = 0.1            # learning rate factor from one cycle to the next
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
    coarse_to_fine: bool = False   # fast: first fifth of the steps at a quarter of the working resolution
    init_candidates: int = 256     # fast: start each face from the closest of this many sampled faces (0 = mean W)
    init_replicas: int = 4         # fast: optimise this many of the closest starts per face for a few steps
    replica_steps: int = 15        # fast: ... for this many steps, then keep each face's best
    shared_w_fraction: float = 0.3  # fast: fraction of steps moving one w per face before layers move apart
    target_psnr: float = 0.0       # stop once every face reaches this PSNR (dB); 0 = run all steps
    distill_steps: int = 100       # fast + mlp: regression steps before the output layer is solved exactly
    finetune_steps: int = 0        # fast + mlp: steps of the encoder through the generator after distilling
    mixed_precision: bool = True   # bf16 autocast for the generator on CUDA
    seed: int = 0
    preview_every: int = 25        # steps between preview grids

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.encoder not in ("mlp", "linear"):
            raise ValueError(f"unknown encoder {self.encoder!r}; expected 'mlp' or 'linear'")
        if self.steps < 1 or self.cycles < 0:
            raise ValueError(f"steps must be >= 1 and cycles >= 0, got steps={self.steps} cycles={self.cycles}")
        if self.lr <= 0 or not 0 < self.anneal <= 1:
            raise ValueError(f"lr must be > 0 and anneal in (0, 1], got lr={self.lr} anneal={self.anneal}")
        weights = (self.pixel_weight, self.l1_weight, self.structural_weight, self.perceptual_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("loss weights must be >= 0 and at least one of them > 0")
        if self.resolution < 0 or self.batch_size < 0:
            raise ValueError("resolution and batch_size must be >= 0")

    @classmethod
    def original(cls, **overrides) -> "TrainSettings":
        """The original research code's schedule and loss weights (its TrainFaceModel defaults)."""
        base = dict(schedule="original", encoder="mlp", steps=200, cycles=2, lr=1e-2, anneal=0.1, batch_size=2,
                    pixel_weight=1e2, l1_weight=0.0, structural_weight=0.0, perceptual_weight=1e2,
                    pull_weight=1e4, pixel_finetune=False, resolution=0, coarse_to_fine=False, target_psnr=0.0,
                    init_candidates=0, init_replicas=1, shared_w_fraction=0.0)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def fast(cls, **overrides) -> "TrainSettings":
        """Our default: whole-batch W+ optimisation, then distillation into the encoder."""
        base = {}
        base.update(overrides)
        return cls(**base)

    @classmethod
    def preset(cls, schedule: str, **overrides) -> "TrainSettings":
        if schedule == "original":
            return cls.original(**overrides)
        if schedule == "fast":
            return cls.fast(**overrides)
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")

    def replace(self, **changes) -> "TrainSettings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
