"""Our fast schedule: every face's W+ found by the projector, then handed to the encoder.

The projector (facespace.projection) starts every face at the measured mean W and runs per-face L-BFGS,
first on one shared w per face, then on the full W+, restarting lagging faces from sampled faces; a face
stops once it reaches `target_psnr`. The finished table goes into the encoder (distill.py).
"""
from __future__ import annotations

from .distill import distil_into_mlp, finetune_through_generator
from .job import TrainingJob
from .settings import TrainSettings


def projection_settings(s: TrainSettings):
    """The projector's budget and search (ProjectionSettings) from the training settings."""
    from ..projection import ProjectionSettings  # the projector builds on this package's losses and rendering

    # The MLP needs headroom for its distillation.
    target = s.target_psnr + (1.0 if s.encoder == "mlp" and s.target_psnr > 0 else 0.0)
    return ProjectionSettings(steps=s.steps, target_psnr=target, seconds=s.seconds, resolution=s.resolution,
                              shared_w_fraction=s.shared_w_fraction, candidates=s.init_candidates,
                              batch_size=s.batch_size, mixed_precision=s.mixed_precision,
                              preview_every=s.preview_every, seed=s.seed)


def run_fast(job: TrainingJob):
    """-> (encoder, W+ table, recorder)."""
    from ..projection.projector import run_projection

    s = job.settings
    loss = job.loss(job.targets_at(job.res), clamp=False)
    found = run_projection(job.G, job.render, loss, job.targets, projection_settings(s), job.rt, job.callback,
                           desc="training FaceSpace", names=job.names)
    table = found.wplus.to(job.device)
    finetune = s.finetune_steps if s.encoder == "mlp" else 0
    recorder = job.recorder(finetune)
    recorder.history, recorder.step, recorder.psnr = found.history, found.steps, found.working_psnr.clone()
    try:
        encoder = job.new_encoder(centred=True)
        if s.encoder == "linear":
            encoder.set_face_codes(table)
        else:
            distil_into_mlp(encoder, table, s.distill_steps, job.device)
            finetune_through_generator(encoder, job.render, loss, job.res, finetune, s.target_psnr, recorder,
                                       job.device)
    finally:
        recorder.close()
    return encoder, table, recorder
