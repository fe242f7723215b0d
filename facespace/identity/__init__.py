"""Measured identity: how much a face looks like a person (dlib's face-recognition embeddings).

    backend = identity_backend()                 # IdentityBackendMissing names what to install
    e = backend.embed(pictures, kind="auto")     # [N,128]
    d = distances(e, reference)                  # [N,M]; < 0.6 is usually the same person
    face_similarity(pictures, names, references, reference_names).heatmap()
"""
from .dlib_recognition import (FFHQ_CHIP, KINDS, SAME_PERSON, DlibIdentity, IdentityBackendMissing, distances,
                               identity_backend, missing_reason)
from .heatmap import similarity_heatmap
from .similarity import Similarity, face_similarity

__all__ = ["FFHQ_CHIP", "KINDS", "SAME_PERSON", "DlibIdentity", "IdentityBackendMissing", "Similarity",
           "distances", "face_similarity", "identity_backend", "missing_reason", "similarity_heatmap"]
