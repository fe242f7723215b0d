"""How close a blend's identity is to each training face: the measured counterpart of its weights.

closeness = max(0, 1 - distance), with dlib's distance of the blend to the face: 1 is the face itself,
below 0.4 (distance above 0.6) it is usually someone else. The faces' embeddings come from the FaceSpace
file (stored by training when the backend was installed); otherwise the faces' reconstructions are rendered
and measured.
"""
from __future__ import annotations

import warnings
import numpy as np
import torch

from ..imageops import image_to_pil
from .dlib_recognition import distances, identity_backend, missing_reason, runtime_model_dirs

SERIES_NAME = "identity"


def face_embeddings(facespace, backend, runtime=None) -> np.ndarray:
    """[N,128] embeddings of the FaceSpace's training faces."""
    stored = facespace.metadata.get("identity_embeddings") or {}
    if all(name in stored for name in facespace.names):
        return np.array([stored[name] for name in facespace.names], dtype=np.float64)
    from ..blend import attached_stylegan

    faces = attached_stylegan(facespace).render(facespace.face_wplus(), runtime=runtime)
    return backend.embed_aligned(image_to_pil(faces))


def identity_closeness(facespace, images: torch.Tensor, runtime=None) -> np.ndarray:
    """[B,N] closeness of each blend in `images` (IMAGE) to each training face."""
    backend = identity_backend(runtime_model_dirs(runtime))
    blends = backend.embed_aligned(image_to_pil(images))
    return np.clip(1.0 - distances(blends, face_embeddings(facespace, backend, runtime)), 0.0, 1.0)


def with_identity_series(facespace, images: torch.Tensor, rows, series, runtime=None):
    """Chart rows and series names with each face's measured closeness added beside its weight(s).

    Unchanged (with a warning saying why) when the identity backend is missing."""
    reason = missing_reason(runtime_model_dirs(runtime))
    if reason:
        warnings.warn(f"identity chart off: {reason}", stacklevel=2)
        return rows, series
    closeness = identity_closeness(facespace, images, runtime)
    if series:
        rows = [[list(values) + [float(c)] for values, c in zip(row, near)] for row, near in zip(rows, closeness)]
        return rows, list(series) + [SERIES_NAME]
    rows = [[[float(w), float(c)] for w, c in zip(row, near)] for row, near in zip(rows, closeness)]
    return rows, ["weight", SERIES_NAME]
