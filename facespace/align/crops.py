"""FACE_CROPS: how each aligned face was cut from its photo, so that a face can be put back.

A crop is the oriented square FFHQ alignment cut (its four corners in the photo), the output size,
which input photo it came from (index, file, size) and the face's 68 landmarks. The square is an
exact similarity map between the crop and the photo:

    photo pixel = quad[0] + tx * (quad[3] - quad[0]) + ty * (quad[1] - quad[0])

with (tx, ty) in 0..1 across the crop (continuous coordinates: 0 is the crop's left/top edge,
so crop pixel index = t * size - 0.5). `to_json`/`FaceCrops.from_json` keep it in a file
(`crops.json`, written by `python -m facespace align`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ..errors import FaceSpaceError
from ..limits import short
from ..safetensors_file import bounded_json

CROPS_FORMAT = "facespace.face_crops"
CROPS_VERSION = 1


@dataclass(frozen=True)
class FaceCrop:
    name: str
    source: str                  # photo file path, or 'images[i]' for an IMAGE batch entry
    photo_index: int             # position of the photo among the alignment's input photos, from 0
    photo_size: tuple[int, int]  # (width, height) of the upright photo
    face_index: int              # position among the photo's kept faces, left to right
    size: int                    # side of the aligned crop in pixels
    quad: np.ndarray             # [4,2] corners in the photo: top-left, bottom-left, bottom-right, top-right
    landmarks: np.ndarray        # [68,2] in the photo (pixel indices)

    def __post_init__(self):
        quad = np.asarray(self.quad, dtype=np.float64)
        landmarks = np.asarray(self.landmarks, dtype=np.float64)
        if quad.shape != (4, 2) or landmarks.shape != (68, 2):
            raise FaceSpaceError(f"face crop {self.name!r}: expected a quad of 4 [x, y] corners and 68 landmarks, "
                                 f"got shapes {quad.shape} and {landmarks.shape}")
        if not (np.isfinite(quad).all() and np.isfinite(landmarks).all()):
            raise FaceSpaceError(f"face crop {self.name!r}: corners and landmarks must be finite numbers")
        axes = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1)
        if abs(np.linalg.det(axes)) < 1e-6:
            raise FaceSpaceError(f"face crop {self.name!r}: the crop square is degenerate (zero area)")
        object.__setattr__(self, "quad", quad)
        object.__setattr__(self, "landmarks", landmarks)
        size = tuple(int(v) for v in self.photo_size)
        if len(size) != 2 or min(size) < 1 or int(self.size) < 1:
            raise FaceSpaceError(f"face crop {self.name!r}: photo size {short(self.photo_size)} and crop size "
                                 f"{short(self.size)} must be positive ([width, height] and one number)")
        object.__setattr__(self, "photo_size", size)

    @property
    def axes(self) -> np.ndarray:
        """[2,2] columns: the photo-space vectors along the crop's x and y edges."""
        return np.stack([self.quad[3] - self.quad[0], self.quad[1] - self.quad[0]], axis=1)

    @property
    def side(self) -> float:
        """Length of the crop square's side in photo pixels."""
        return float(np.linalg.norm(self.quad[3] - self.quad[0]))

    def to_photo(self, t) -> np.ndarray:
        """Crop fractions [K,2] (0..1) -> photo pixel indices [K,2]."""
        t = np.asarray(t, dtype=np.float64).reshape(-1, 2)
        return self.quad[0] + t @ self.axes.T

    def to_crop(self, points) -> np.ndarray:
        """Photo pixel indices [K,2] -> crop fractions [K,2]."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (p - self.quad[0]) @ np.linalg.inv(self.axes).T

    def scaled_to(self, width: int, height: int) -> "FaceCrop":
        """The same crop for the photo resized to width x height (refused when the shape differs)."""
        w0, h0 = self.photo_size
        if (width, height) == (w0, h0):
            return self
        sx, sy = width / w0, height / h0
        if abs(sx / sy - 1) > 0.01:
            raise FaceSpaceError(f"photo is {width}x{height} px but face {self.name!r} was cut from a {w0}x{h0} photo "
                                 f"({self.source}); give that photo, or one resized without changing its shape")
        scale = np.array([sx, sy])
        # Pixel indices scale about the continuous origin (-0.5).
        return FaceCrop(self.name, self.source, self.photo_index, (width, height), self.face_index, self.size,
                        (self.quad + 0.5) * scale - 0.5, (self.landmarks + 0.5) * scale - 0.5)

    def record(self) -> dict:
        return {"name": self.name, "source": self.source, "photo_index": self.photo_index,
                "photo_size": list(self.photo_size), "face_index": self.face_index, "size": self.size,
                "quad": np.round(self.quad, 4).tolist(), "landmarks": np.round(self.landmarks, 3).tolist()}


@dataclass
class FaceCrops:
    """What the FACE_CROPS socket carries: the crops in AlignFaces' output order.

    photos: the upright source photos by photo index, kept in memory only (not in the JSON file), so
    that pasting needs no photo input when the crops came straight from alignment.
    """

    crops: list[FaceCrop] = field(default_factory=list)
    photos: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.crops)

    def __iter__(self) -> Iterator[FaceCrop]:
        return iter(self.crops)

    def __getitem__(self, i: int) -> FaceCrop:
        return self.crops[i]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.crops]

    def of_photo(self, photo_index: int) -> list[FaceCrop]:
        """The crops cut from one photo, left to right."""
        found = sorted((c for c in self.crops if c.photo_index == photo_index), key=lambda c: c.face_index)
        if not found:
            known = sorted({c.photo_index for c in self.crops})
            raise FaceSpaceError(f"photo_index {photo_index}: no face was cut from that photo; the crops come from "
                                 f"photo(s) {', '.join(map(str, known)) or 'none'}")
        return found

    def photo_of(self, crop: FaceCrop):
        """The source photo of a crop as an RGB PIL image: kept in memory, else read from its file."""
        if crop.photo_index in self.photos:
            return self.photos[crop.photo_index]
        if crop.source.startswith("images["):
            raise FaceSpaceError(f"face {crop.name!r} was cut from an IMAGE batch ({crop.source}); connect that "
                                 f"photo to the photo input")
        from .photos import load_photo

        if not Path(crop.source).is_file():
            raise FaceSpaceError(f"the photo of face {crop.name!r} ({crop.source}) is not on disk any more; "
                                 f"give the photo explicitly")
        return load_photo(crop.source)

    def to_json(self) -> str:
        lines = [json.dumps(c.record()) for c in self.crops]
        return (f'{{"format": "{CROPS_FORMAT}", "version": {CROPS_VERSION}, "crops": [\n  '
                + ",\n  ".join(lines) + "\n]}\n")

    @classmethod
    def from_json(cls, spec: str | os.PathLike | Mapping) -> "FaceCrops":
        """From a crops.json path, its text or its parsed dict."""
        label, data = "crops", spec
        if isinstance(spec, (str, os.PathLike)):
            text = str(spec).strip()
            if not text.startswith("{"):
                path = Path(text)
                if not path.is_file():
                    raise FaceSpaceError(f"crops file {path} not found; expected the crops.json that "
                                         f"`python -m facespace align` writes")
                label, text = str(path), path.read_text(encoding="utf-8")
            data = bounded_json(text, label, "the crops JSON")
        if not isinstance(data, Mapping) or data.get("format") != CROPS_FORMAT:
            raise FaceSpaceError(f"{label}: not a FaceSpace crops file (expected \"format\": \"{CROPS_FORMAT}\")")
        if data.get("version") != CROPS_VERSION:
            raise FaceSpaceError(f"{label}: crops file version {data.get('version')!r} is not supported "
                                 f"(this FaceSpace reads version {CROPS_VERSION})")
        if not isinstance(data.get("crops"), list):
            raise FaceSpaceError(f"{label}: \"crops\" must be a list of crops")
        crops = []
        for i, entry in enumerate(data["crops"]):
            try:
                crops.append(FaceCrop(str(entry["name"]), str(entry["source"]), int(entry["photo_index"]),
                                      tuple(entry["photo_size"]), int(entry["face_index"]), int(entry["size"]),
                                      entry["quad"], entry["landmarks"]))
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise FaceSpaceError(f"{label}: crop {i} is incomplete or malformed ({short(exc)})") from None
        if not crops:
            raise FaceSpaceError(f"{label} holds no crops")
        return cls(crops)

