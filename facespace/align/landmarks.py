"""Landmark backends: one small interface, several detectors behind it.

A backend turns an RGB photo into a list of `Face`s (68 iBUG landmarks each, pixel indices, plus a
detection score and box). `make_backend(name, ...)` builds one by name: 'face_alignment' (FAN),
'dlib' (HOG detector + 68-point predictor), 'given' (landmarks read from JSON) or 'auto'.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import FaceSpaceError, MissingWeightsFileError
from ..safetensors_file import bounded_json

BACKENDS = ("auto", "face_alignment", "dlib", "given")


@dataclass
class Face:
    landmarks: np.ndarray                    # [68,2] float64, (x, y) pixel indices in the photo
    score: float = float("inf")              # detector confidence; given landmarks are always kept
    box: tuple[float, float, float, float] | None = None   # (left, top, right, bottom)

    def __post_init__(self):
        self.landmarks = np.asarray(self.landmarks, dtype=np.float64).reshape(68, 2)
        if self.box is None:
            lo, hi = self.landmarks.min(axis=0), self.landmarks.max(axis=0)
            self.box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    @property
    def area(self) -> float:
        left, top, right, bottom = self.box
        return max(right - left, 0.0) * max(bottom - top, 0.0)


class LandmarkBackend:
    """Finds faces and their 68 landmarks in an RGB uint8 array [H,W,3]."""

    name = "base"

    def detect(self, image: np.ndarray, source: str = "") -> list[Face]:
        """`source` names the photo (file name or 'images[i]'); backends that read given landmarks use it."""
        raise NotImplementedError


def detection_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """(copy at most `max_side` px on its long side, its size / the photo's size) for finding face boxes.

    Detectors find the same faces on a smaller copy far faster; landmarks are then measured on the
    full photo, with the boxes divided by the returned scale.
    """
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image, 1.0
    from PIL import Image

    scale = max_side / max(h, w)
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    return small, (size[0] / w + size[1] / h) / 2


@dataclass
class GivenLandmarks(LandmarkBackend):
    """Landmarks the user measured with their own detector.

    `table` maps a photo (file name, stem, full path, or 'images[i]' / its index as a string) to one
    face (68 [x, y] pairs) or a list of faces. `load_given_landmarks` reads it from JSON, also
    accepting the `landmarks.json` that `python -m facespace align` writes.
    """

    table: Mapping[str, Any] = field(default_factory=dict)
    name = "given"

    def detect(self, image: np.ndarray, source: str = "") -> list[Face]:
        entry = None
        for key in _source_keys(source):
            if key in self.table:
                entry = self.table[key]
                break
        if entry is None:
            return []
        arr = np.asarray(entry, dtype=np.float64)
        if arr.shape == (68, 2):
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (68, 2):
            raise FaceSpaceError(f"given landmarks for {source!r} must be 68 [x, y] pairs per face, "
                                 f"got shape {arr.shape}")
        return [Face(a) for a in arr]


def _source_keys(source: str) -> list[str]:
    keys = [source]
    if source:
        p = Path(source)
        keys += [p.name, p.stem]
        if source.startswith("images[") and source.endswith("]"):
            keys.append(source[len("images["):-1])
    return keys


def load_given_landmarks(spec: str | os.PathLike | Mapping | Sequence) -> GivenLandmarks:
    """A GivenLandmarks backend from a JSON file path, JSON text, a dict or a list in photo order.

    Accepted shapes: {"photo.jpg": [[x, y] * 68]}, {"photo.jpg": [[[x, y] * 68], ...]},
    [[[x, y] * 68], ...] (one entry per picture of an IMAGE batch, in batch order), and the align
    command's landmarks.json ({"out.png": {"source": "photo.jpg", "landmarks": [...]}, ...}).
    """
    data = spec
    label = "landmarks"
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec).strip()
        if text.startswith("{") or text.startswith("["):
            data = _parse_json(text, "the landmarks text")
        else:
            path = Path(text)
            if not path.is_file():
                raise FaceSpaceError(f"landmarks file {path} not found; "
                                     f"expected a JSON file of 68 [x, y] points per face")
            label = str(path)
            data = _parse_json(path.read_text(encoding="utf-8"), label)
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return GivenLandmarks({str(i): v for i, v in enumerate(data)})
    if not isinstance(data, Mapping):
        raise FaceSpaceError(f"{label}: expected a JSON object or list of landmarks, got {type(data).__name__}")
    table: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):  # an align command record
            if "landmarks" not in value:
                raise FaceSpaceError(f"{label}: entry {key!r} has no 'landmarks'")
            src = Path(str(value.get("source", key))).name
            table.setdefault(src, []).append(value["landmarks"])
        else:
            table[str(key)] = value
    return GivenLandmarks(table)


def _parse_json(text: str, label: str):
    return bounded_json(text, label, "the landmarks JSON")


def make_backend(name: str = "auto", *, landmarks=None, model_dirs: Sequence[os.PathLike] = (),
                 download_dir: os.PathLike | None = None, allow_download: bool = False,
                 device=None) -> LandmarkBackend:
    """Build a backend by name.

    model_dirs: folders searched for weight files (the 'landmarks' model folders, then the torch hub
    cache); download_dir: where face_alignment's weights go when `allow_download` is set.
    """
    if landmarks is not None and name in ("auto", "given"):
        return load_given_landmarks(landmarks)
    if name == "given":
        raise FaceSpaceError("backend 'given' needs landmarks: a JSON file (or text) of 68 [x, y] points per face")
    if name == "face_alignment":
        from .fan_backend import FanBackend

        return FanBackend(model_dirs=model_dirs, download_dir=download_dir, allow_download=allow_download,
                          device=device)
    if name == "dlib":
        from .dlib_backend import DlibBackend

        return DlibBackend(model_dirs=model_dirs)
    if name == "auto":
        return _auto_backend(model_dirs, download_dir, allow_download, device)
    raise FaceSpaceError(f"unknown landmark backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _auto_backend(model_dirs, download_dir, allow_download, device) -> LandmarkBackend:
    """face_alignment when its weights are on disk (or may be downloaded), else dlib, else a clear error."""
    from . import dlib_backend, fan_backend

    problems = []
    if fan_backend.available():
        missing = fan_backend.missing_files(model_dirs)
        if not missing or allow_download:
            return fan_backend.FanBackend(model_dirs=model_dirs, download_dir=download_dir,
                                          allow_download=allow_download, device=device)
        problems.append(f"face_alignment weights missing ({', '.join(missing)}; place them in "
                        f"{fan_backend.place_hint(model_dirs, download_dir)} or allow downloading)")
    else:
        problems.append("face_alignment is not installed (pip install face-alignment)")
    if dlib_backend.available():
        try:
            return dlib_backend.DlibBackend(model_dirs=model_dirs)
        except MissingWeightsFileError as exc:
            problems.append(str(exc))
    else:
        problems.append("dlib is not installed (pip install dlib-bin face-recognition-models)")
    raise MissingWeightsFileError("no landmark detector is ready: " + "; ".join(problems))
