"""After training: how much each reconstruction still looks like its own face (dlib identity distance).

A separate step after the schedule, so it never slows or changes the optimisation. Measured when dlib's
face-recognition network is installed and the working resolution is large enough for a face chip;
otherwise the FaceSpace records why not. The training faces' embeddings are kept too, so that blends can
later be measured against the faces without the photos.
"""
from __future__ import annotations

import torch

from ..identity.dlib_recognition import distances, identity_backend, missing_reason, runtime_model_dirs
from ..imageops import native_to_pil
from .job import TrainingJob

MIN_RESOLUTION = 64   # below this a 150 px face chip is mostly interpolation


@torch.no_grad()
def identity_report(job: TrainingJob, encoder) -> dict:
    """Metadata entries: 'identity' ({name: distance} or None), 'identity_note', 'identity_embeddings'."""
    model_dirs = runtime_model_dirs(job.rt)
    reason = missing_reason(model_dirs)
    if reason is None and job.res < MIN_RESOLUTION:
        reason = f"identity not measured: the working resolution {job.res} px is below {MIN_RESOLUTION} px"
    if reason is not None:
        return {"identity": None, "identity_note": reason}
    backend = identity_backend(model_dirs)
    recon = []
    for i in range(0, job.n, 8):
        codes = torch.eye(job.n, device=job.device)[i:i + 8]
        recon += native_to_pil(job.render(encoder(codes), job.res) * 2 - 1)
    targets = native_to_pil(job.targets * 2 - 1)
    faces = backend.embed_aligned(targets)
    measured = distances(backend.embed_aligned(recon), faces).diagonal()
    return {"identity": {name: round(float(d), 4) for name, d in zip(job.names, measured)},
            "identity_note": f"dlib face-recognition distance of each reconstruction ({job.res} px) to its face; "
                             f"below 0.6 = same person",
            "identity_embeddings": {name: [round(float(v), 5) for v in e] for name, e in zip(job.names, faces)}}
