"""Identity distances of images to reference faces, as numbers and as a picture."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image

from .dlib_recognition import SAME_PERSON, DlibIdentity, distances, identity_backend
from .heatmap import similarity_heatmap


@dataclass
class Similarity:
    names: list[str]               # the compared images (rows)
    reference_names: list[str]     # the reference faces (columns)
    distances: np.ndarray          # [rows, columns]
    pictures: list = field(default_factory=list, repr=False)
    references: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {"metric": "dlib face-recognition distance", "same_person_below": SAME_PERSON,
                "images": self.names, "references": self.reference_names,
                "distances": np.round(self.distances, 4).tolist()}

    def heatmap(self) -> Image.Image:
        return similarity_heatmap(self.distances, self.names, self.reference_names,
                                  self.pictures or None, self.references or None)

    def table(self) -> str:
        """Plain text: one row per image, one column per reference."""
        width = max(len(n) for n in self.names + ["image"])
        head = " ".join(f"{n[:10]:>10}" for n in self.reference_names)
        lines = [f"{'image':<{width}} {head}"]
        for name, row in zip(self.names, self.distances):
            lines.append(f"{name:<{width}} " + " ".join(f"{d:>10.3f}" for d in row))
        return "\n".join(lines)


def face_similarity(pictures: Sequence[Image.Image], names: Sequence[str], references: Sequence[Image.Image] | None = None,
                    reference_names: Sequence[str] | None = None, kind: str = "auto", reference_kind: str | None = None,
                    backend: DlibIdentity | None = None) -> Similarity:
    """Distances of each picture to each reference (to each other picture when no references are given).

    kind: how the pictures are read ('auto', 'aligned' FFHQ crops, 'photo'); reference_kind: the same for the
    references (default: kind).
    """
    backend = backend or identity_backend()
    pictures, names = list(pictures), list(names)
    embedded = backend.embed(pictures, kind, names)
    if references is None:
        references, reference_names, reference_embedded = pictures, names, embedded
    else:
        references, reference_names = list(references), list(reference_names)
        reference_embedded = backend.embed(references, reference_kind or kind, reference_names)
    return Similarity(names, list(reference_names), distances(embedded, reference_embedded), pictures,
                      list(references))
