"""dlib's face-recognition ResNet: 128-D identity embeddings, offline.

The network (dlib_face_recognition_resnet_model_v1.dat) ships with `pip install dlib-bin
face-recognition-models`, or can be placed in a 'landmarks' model folder. It reads a 150 x 150 chip
cut around the face the way `dlib.get_face_chip` cuts it (padding 0.25). Two faces of one person are
usually closer than 0.6 (Euclidean distance between embeddings).

Chips come from detected 68-point landmarks for photos, and from the known FFHQ layout for aligned
faces: FFHQ alignment fixes where eyes and mouth sit, so dlib's chip is a fixed square of the crop
(`FFHQ_CHIP`), and faces no detector would find (early training, odd blends) are still measured.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..errors import FaceSpaceError, MissingWeightsFileError, NoFaceError

NETWORK_FILE = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = "pip install dlib-bin face-recognition-models"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
SAME_PERSON = 0.6          # dlib's threshold: distances below it are usually the same person
# dlib's chip in an FFHQ-aligned crop: (centre x, centre y, side), fractions of the crop's side. Measured with
# dlib's 68-point landmarks and get_face_chip_details on the test photos and their mirror images at 512 px:
# centre x 0.501-0.506, y 0.595-0.603, side 0.657-0.704, tilt within 1.5 degrees.
FFHQ_CHIP = (0.5, 0.6, 0.68)


class IdentityBackendMissing(MissingWeightsFileError):
    """dlib or its face-recognition network is not installed."""


def missing_reason(model_dirs: Sequence[os.PathLike] = ()) -> str | None:
    """None when the backend can run; else why not, naming what to install."""
    if importlib.util.find_spec("dlib") is None:
        return f"identity needs dlib, which is not installed: {INSTALL_HINT}"
    if find_network(model_dirs) is None:
        where = ", ".join(str(d) for d in model_dirs) or "a landmarks model folder"
        return (f"identity needs dlib's {NETWORK_FILE}, found neither in the face-recognition-models package nor "
                f"in {where}: {INSTALL_HINT}")
    return None


def runtime_model_dirs(runtime=None) -> list[Path]:
    """The runtime's 'landmarks' model folders, where a user copy of the network may sit."""
    from ..runtime import get_runtime

    try:
        return list(get_runtime(runtime).model_dirs("landmarks"))
    except NotImplementedError:
        return []


def find_network(model_dirs: Sequence[os.PathLike] = ()) -> Path | None:
    """The network file: a user copy in a model folder first, then the packaged one (found without importing it)."""
    candidates = [Path(d) / NETWORK_FILE for d in model_dirs]
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc) / "models" / NETWORK_FILE for loc in spec.submodule_search_locations]
    return next((p for p in candidates if p.is_file()), None)


def chip_from_ffhq(picture: Image.Image) -> np.ndarray:
    """dlib's 150 x 150 chip of an FFHQ-aligned face (any size), uint8 [150,150,3]."""
    cx, cy, side = FFHQ_CHIP
    w, h = picture.size
    box = ((cx - side / 2) * w, (cy - side / 2) * h, (cx + side / 2) * w, (cy + side / 2) * h)
    chip = picture.convert("RGB").resize((CHIP_SIZE, CHIP_SIZE), Image.Resampling.LANCZOS, box=box)
    return np.ascontiguousarray(np.asarray(chip, dtype=np.uint8))


def looks_aligned(picture: Image.Image, landmarks: np.ndarray | None) -> bool:
    """A square picture whose face (if any was found) fills it the way FFHQ alignment crops faces."""
    w, h = picture.size
    if w != h:
        return False
    if landmarks is None:
        return True
    from ..align.ffhq import face_geometry

    geo = face_geometry(landmarks)
    centre = geo.quad.mean(axis=0) + 0.5
    return bool(np.hypot(*(centre - w / 2)) < 0.08 * w and 0.85 * w < geo.qsize < 1.15 * w)


class DlibIdentity:
    """Embeddings [N,128] (float64) of faces; `distances` compares two sets of them."""

    name = "dlib"

    def __init__(self, model_dirs: Sequence[os.PathLike] = ()):
        reason = missing_reason(model_dirs)
        if reason:
            raise IdentityBackendMissing(reason)
        import dlib

        self.model_dirs = list(model_dirs)
        self.network_path = find_network(model_dirs)
        self._net = dlib.face_recognition_model_v1(str(self.network_path))
        self._dlib = dlib
        self._landmarks = None

    def _detector(self):
        if self._landmarks is None:
            from ..align.dlib_backend import DlibBackend

            self._landmarks = DlibBackend(model_dirs=self.model_dirs)
        return self._landmarks

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 128))
        vectors = self._net.compute_face_descriptor([np.ascontiguousarray(c, dtype=np.uint8) for c in chips])
        return np.array([np.asarray(v, dtype=np.float64) for v in vectors])

    def embed_aligned(self, pictures: Sequence[Image.Image]) -> np.ndarray:
        """Aligned faces (FFHQ layout) -> [N,128]."""
        return self.embed_chips([chip_from_ffhq(p) for p in pictures])

    def chip_from_landmarks(self, picture: Image.Image, landmarks: np.ndarray) -> np.ndarray:
        dlib = self._dlib
        pts = np.asarray(landmarks, dtype=np.float64)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        image = np.ascontiguousarray(np.asarray(picture.convert("RGB"), dtype=np.uint8))
        return dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)

    def find_landmarks(self, picture: Image.Image) -> np.ndarray | None:
        """68 landmarks of the picture's largest face, or None."""
        from ..align import select_faces

        found = select_faces(self._detector().detect(np.asarray(picture.convert("RGB"))))
        return found[0].landmarks if found else None

    def embed(self, pictures: Sequence[Image.Image], kind: str = "auto", names: Sequence[str] | None = None) -> np.ndarray:
        """[N,128] embeddings. kind: 'aligned' (FFHQ layout), 'photo' (detected landmarks), or 'auto'
        (a square picture whose face fills it as FFHQ crops do, or where no face is found, is taken as aligned)."""
        if kind not in KINDS:
            raise FaceSpaceError(f"kind: unknown choice {kind!r}; choose one of {', '.join(KINDS)}")
        chips = []
        for i, pic in enumerate(pictures):
            label = names[i] if names else f"image {i}"
            if kind == "aligned":
                chips.append(chip_from_ffhq(pic))
                continue
            landmarks = self.find_landmarks(pic)
            if kind == "auto" and looks_aligned(pic, landmarks):
                chips.append(chip_from_ffhq(pic))
            elif landmarks is None:
                raise NoFaceError(f"{label}: no face found ({pic.width}x{pic.height} px, dlib detector); "
                                  f"for aligned faces choose kind 'aligned'")
            else:
                chips.append(self.chip_from_landmarks(pic, landmarks))
        return self.embed_chips(chips)


KINDS = ("auto", "aligned", "photo")
_BACKENDS: dict = {}


def identity_backend(model_dirs: Sequence[os.PathLike] = ()) -> DlibIdentity:
    """A loaded backend, kept for the process (the network loads in about half a second)."""
    key = tuple(str(d) for d in model_dirs)
    if key not in _BACKENDS:
        _BACKENDS[key] = DlibIdentity(model_dirs)
    return _BACKENDS[key]


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances [N,M] between embeddings a [N,128] and b [M,128]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))
