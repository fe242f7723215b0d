"""FFHQ alignment of real photos: find faces, measure 68 landmarks, crop the way FFHQ was cropped.

    result = align_faces(folder="photos/", size=1024, backend="auto", faces="largest")
    result.images      # IMAGE [N,size,size,3] float32 0..1
    result.names       # one unique name per aligned face
    result.records     # per face: source, landmarks, crop square, score (JSON-able)
    result.crops       # FaceCrops: how each face was cut, to paste faces back (crops.py)
    result.previews    # the source photos with landmarks and crop squares drawn on them
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import FaceSpaceError, NoFaceError
from ..imageops import pil_to_image
from ..names import unique_names
from ..runtime import Runtime, get_runtime
from .crops import FaceCrop, FaceCrops
from .ffhq import align_ffhq, face_geometry, points_in_crop
from .landmarks import BACKENDS, Face, GivenLandmarks, LandmarkBackend, load_given_landmarks, make_backend
from .overlay import draw_overlay
from .photos import Photo, gather_photos

FACE_CHOICES = ("largest", "all", "index")
DEFAULT_SCORE_THRESHOLD = 0.5

__all__ = ["align_faces", "AlignedFace", "AlignResult", "align_ffhq", "face_geometry", "points_in_crop",
           "make_backend", "load_given_landmarks", "LandmarkBackend", "Face", "BACKENDS", "FACE_CHOICES",
           "select_faces", "DEFAULT_SCORE_THRESHOLD", "FaceCrop", "FaceCrops"]


@dataclass
class AlignedFace:
    name: str
    image: Image.Image          # size x size RGB crop
    source: str                 # file path or 'images[i]'
    face_index: int             # position among the photo's kept faces, left to right
    landmarks: np.ndarray       # [68,2] in the (upright) source photo
    quad: np.ndarray            # [4,2] crop square in the source photo
    score: float
    photo_index: int = 0                  # position of the photo among the input photos, from 0
    photo_size: tuple[int, int] = (0, 0)  # (width, height) of the upright photo

    def crop(self) -> FaceCrop:
        return FaceCrop(self.name, self.source, self.photo_index, self.photo_size, self.face_index,
                        self.image.width, self.quad, self.landmarks)

    def record(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "face_index": self.face_index,
            "score": None if not np.isfinite(self.score) else round(float(self.score), 4),
            "size": self.image.width,
            "landmarks": np.round(self.landmarks, 3).tolist(),
            "quad": np.round(self.quad, 3).tolist(),
        }


@dataclass
class AlignResult:
    faces: list[AlignedFace] = field(default_factory=list)
    previews: list[Image.Image] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # sources without a usable face (when skipping)
    photos: dict = field(default_factory=dict, repr=False)  # photo index -> upright photo, for pasting back

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.faces]

    @property
    def images(self) -> torch.Tensor:
        return pil_to_image([f.image for f in self.faces])

    @property
    def records(self) -> list[dict]:
        return [f.record() for f in self.faces]

    @property
    def crops(self) -> FaceCrops:
        return FaceCrops([f.crop() for f in self.faces], dict(self.photos))


def select_faces(faces: Sequence[Face], mode: str = "largest", index: int = 0,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> list[Face]:
    """Faces above the score threshold, left to right; then the largest, all, or the index-th (from 0)."""
    return [face for _, face in _select_positioned(faces, mode, index, score_threshold)]


def _select_positioned(faces: Sequence[Face], mode: str, index: int, score_threshold: float) -> list[tuple[int, Face]]:
    """`select_faces` with each face's position among the kept faces, left to right."""
    if mode not in FACE_CHOICES:
        raise FaceSpaceError(f"faces: unknown choice {mode!r}; choose one of {', '.join(FACE_CHOICES)}")
    kept = sorted((f for f in faces if f.score >= score_threshold), key=lambda f: (f.box[0] + f.box[2]) / 2)
    if not kept:
        return []
    if mode == "largest":
        position = max(range(len(kept)), key=lambda i: kept[i].area)
        return [(position, kept[position])]
    if mode == "index":
        return [(index, kept[index])] if 0 <= index < len(kept) else []
    return list(enumerate(kept))


def align_faces(images: torch.Tensor | None = None, folder: str | os.PathLike | None = None,
                files: Sequence[str | os.PathLike] = (), names: str | Sequence[str] | None = None,
                size: int = 1024, backend: str | LandmarkBackend = "auto", faces: str = "largest",
                face_index: int = 0, score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                skip_missing: bool = False, landmarks=None, allow_download: bool = False,
                download_dir: os.PathLike | None = None, preview: bool = True,
                runtime: Runtime | None = None) -> AlignResult:
    """Align every face asked for in the input photos to FFHQ's crop at size x size.

    images / folder / files: the photos (an IMAGE batch, a folder, file paths), in that order.
    names: one name per photo (comma, semicolon or newline separated); default the file names ('face_01'... for images).
    backend: 'auto', 'face_alignment', 'dlib', 'given' (with `landmarks`: JSON path/text/dict), or a backend.
    faces: 'largest' (default), 'all', or 'index' (the face_index-th face from the left, from 0).
    score_threshold: detections scoring lower are ignored (given landmarks always pass).
    skip_missing: a photo without a face is skipped with a warning instead of raising NoFaceError.
    allow_download: let the face_alignment backend fetch missing weights into download_dir
    (default: the torch hub cache).
    """
    rt = get_runtime(runtime)
    size = int(size)
    if not 16 <= size <= 8192:
        raise FaceSpaceError(f"size: expected an output size between 16 and 8192 pixels, got {size}")
    if faces not in FACE_CHOICES:
        raise FaceSpaceError(f"faces: unknown choice {faces!r}; choose one of {', '.join(FACE_CHOICES)}")
    photos = gather_photos(images, folder, files, names)
    detector = backend if isinstance(backend, LandmarkBackend) else _build_backend(
        backend, landmarks, rt, allow_download, download_dir)

    result = AlignResult()
    taken: set[str] = set()
    bar = rt.progress(len(photos), "aligning faces")
    try:
        for photo_index, photo in enumerate(photos):
            rt.check_cancel()
            chosen = _faces_in(photo, detector, faces, face_index, score_threshold)
            if not chosen:
                msg = _no_face_message(photo, detector, faces, face_index, score_threshold)
                if not skip_missing:
                    raise NoFaceError(msg)
                warnings.warn(msg + "; skipped")
                result.skipped.append(photo.source)
                if preview:
                    result.previews.append(draw_overlay(photo.image, [], rejected=True))
                bar.update(1, status=f"{photo.name}: no face")
                continue
            wanted = [photo.name] if len(chosen) == 1 else [f"{photo.name}_{i + 1:02d}" for i in range(len(chosen))]
            drawn = []
            for (position, face), name in zip(chosen, unique_names(wanted, taken)):
                rt.check_cancel()
                try:
                    crop = align_ffhq(photo.image, face.landmarks, size)
                except ValueError as exc:
                    raise FaceSpaceError(f"{photo.source}: cannot align face {position} ({exc})") from None
                quad = face_geometry(face.landmarks).quad
                result.faces.append(AlignedFace(name, crop, photo.source, position, face.landmarks, quad, face.score,
                                                photo_index, photo.image.size))
                result.photos[photo_index] = photo.image
                drawn.append((face.landmarks, quad))
            if preview:
                result.previews.append(draw_overlay(photo.image, drawn))
            bar.update(1, preview=result.faces[-1].image, status=result.faces[-1].name)
    finally:
        bar.close()
    if not result.faces:
        raise NoFaceError("no face found in any of the photos: " + ", ".join(result.skipped))
    return result


def _build_backend(name: str, landmarks, rt: Runtime, allow_download: bool, download_dir) -> LandmarkBackend:
    if name not in BACKENDS:
        raise FaceSpaceError(f"backend: unknown choice {name!r}; choose one of {', '.join(BACKENDS)}")
    try:
        model_dirs = list(rt.model_dirs("landmarks"))
    except NotImplementedError:
        model_dirs = []
    if download_dir is None:
        from .fan_backend import hub_checkpoints

        download_dir = hub_checkpoints()
    return make_backend(name, landmarks=landmarks, model_dirs=model_dirs, download_dir=download_dir,
                        allow_download=allow_download, device=rt.device())


def _faces_in(photo: Photo, detector: LandmarkBackend, mode: str, index: int,
              threshold: float) -> list[tuple[int, Face]]:
    """The chosen faces of one photo, each with its position among the photo's kept faces."""
    found = detector.detect(np.asarray(photo.image), photo.source)
    return _select_positioned(found, mode, index, threshold)


def _no_face_message(photo: Photo, detector: LandmarkBackend, mode: str, index: int, threshold: float) -> str:
    if isinstance(detector, GivenLandmarks):
        known = sorted(detector.table)
        where = "the given landmarks have no entry for it; they hold " + (
            ", ".join(known[:10]) + (" ..." if len(known) > 10 else "") if known else "none")
    else:
        where = f"{detector.name} detector, score >= {threshold}, photo {photo.image.width}x{photo.image.height} px"
    if mode == "index":
        return f"{photo.source}: face number {index} (counting from 0, left to right) not found ({where})"
    return f"{photo.source}: no face found ({where})"
