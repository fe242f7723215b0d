"""A training job: what every schedule works with (generator, targets, settings, device, losses, record)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..runtime import Runtime
from ..space.encoders import make_encoder
from .losses import ImageLoss, VGG16Features
from .recorder import Recorder, StepCallback
from .rendering import Renderer, resize
from .settings import TrainSettings


@dataclass
class TrainingJob:
    settings: TrainSettings
    G: torch.nn.Module              # the generator, placed on `device`, its parameters frozen
    render: Renderer
    w_avg: torch.Tensor             # [w_dim] on `device`
    targets: torch.Tensor           # [N,3,H,W] 0..1 on the CPU, as given
    names: list[str]
    res: int                        # working resolution
    device: torch.device
    rt: Runtime
    vgg: Optional[VGG16Features] = None
    callback: Optional[StepCallback] = None
    status_note: str = ""           # appended to every progress status (e.g. whether the perceptual loss is on)

    @property
    def n(self) -> int:
        return len(self.names)

    def targets_at(self, res: int) -> torch.Tensor:
        return resize(self.targets, res).to(self.device)

    def loss(self, targets: torch.Tensor, clamp: bool) -> ImageLoss:
        s = self.settings
        return ImageLoss(targets, pixel=s.pixel_weight, l1=s.l1_weight, structural=s.structural_weight,
                         perceptual=s.perceptual_weight, vgg=self.vgg, perceptual_size=s.perceptual_resolution,
                         clamp=clamp)

    def new_encoder(self, centred: bool) -> torch.nn.Module:
        """A fresh encoder of the chosen kind, seeded; centred on the mean W when asked."""
        enc = make_encoder(self.settings.encoder, self.n, self.G.num_ws, self.G.w_dim,
                           w_avg=self.w_avg.cpu() if centred else None, seed=self.settings.seed)
        return enc.to(self.device)

    def recorder(self, total_steps: int) -> Recorder:
        return Recorder(self.rt, total_steps, self.names, self.targets, self.settings, self.callback,
                        self.status_note)
