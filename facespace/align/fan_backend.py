"""FAN 2D landmarks from the face-alignment package, with its S3FD face detector.

The package holds no weights. Its two files are looked up by name in the 'landmarks' model folders
(and the torch hub cache) and loaded from there; nothing is downloaded unless the caller allows it,
and then only into `download_dir`. The network is built without torch.compile (compile=False): the
compile step costs minutes on a CPU and nothing is gained for a few photos.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import MissingWeightsFileError
from .landmarks import Face, LandmarkBackend, detection_copy

FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
S3FD_FILE = "s3fd-619a316812.pth"
URLS = {
    FAN_FILE: "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar",
    S3FD_FILE: "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth",
}
REQUIRED = (FAN_FILE, S3FD_FILE)
DETECT_MAX_SIDE = 800    # face boxes are found on a copy this size at most (landmarks use the full photo)


def available() -> bool:
    return importlib.util.find_spec("face_alignment") is not None


def hub_checkpoints() -> Path:
    """torch's hub cache, where face-alignment itself keeps these files."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(model_dirs: Sequence[os.PathLike] = ()) -> list[Path]:
    dirs = [Path(d) for d in model_dirs]
    hub = hub_checkpoints()
    if hub not in dirs:
        dirs.append(hub)
    return dirs


def find_file(name: str, model_dirs: Sequence[os.PathLike] = ()) -> Path | None:
    for d in search_dirs(model_dirs):
        if (d / name).is_file():
            return d / name
    return None


def missing_files(model_dirs: Sequence[os.PathLike] = ()) -> list[str]:
    return [name for name in REQUIRED if find_file(name, model_dirs) is None]


def place_hint(model_dirs: Sequence[os.PathLike] = (), download_dir: os.PathLike | None = None) -> str:
    target = Path(download_dir) if download_dir else (Path(model_dirs[0]) if model_dirs else hub_checkpoints())
    return str(target)


def resolve_weights(model_dirs: Sequence[os.PathLike] = (), download_dir: os.PathLike | None = None,
                    allow_download: bool = False) -> dict[str, Path]:
    """Paths of both weight files; missing ones are downloaded only when allowed, else a clear error."""
    found = {name: find_file(name, model_dirs) for name in REQUIRED}
    missing = [name for name, path in found.items() if path is None]
    if missing and not allow_download:
        target = place_hint(model_dirs, download_dir)
        files = "; ".join(f"{name} (from {URLS[name]})" for name in missing)
        raise MissingWeightsFileError(
            f"face_alignment landmarks need {files}; "
            f"not found in {', '.join(str(d) for d in search_dirs(model_dirs))}. "
            f"Place the file(s) in {target}, allow downloading (allow_download / --allow-download), "
            f"or choose the 'dlib' backend")
    for name in missing:
        target = Path(place_hint(model_dirs, download_dir)) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.part")
        try:
            torch.hub.download_url_to_file(URLS[name], str(tmp), progress=False)
            os.replace(tmp, target)
        except Exception as exc:
            raise MissingWeightsFileError(
                f"could not download {name} from {URLS[name]} into {target.parent} ({exc}); "
                f"place the file there by hand or choose the 'dlib' backend") from None
        finally:
            if tmp.exists():
                tmp.unlink()
        found[name] = target
    return found


class FanBackend(LandmarkBackend):
    name = "face_alignment"

    def __init__(self, model_dirs: Sequence[os.PathLike] = (), download_dir: os.PathLike | None = None,
                 allow_download: bool = False, device=None, compile: bool = False,
                 detector_threshold: float = 0.5):
        if not available():
            raise MissingWeightsFileError("the face_alignment backend needs the face-alignment package: "
                                          "pip install face-alignment")
        self.weights = resolve_weights(model_dirs, download_dir, allow_download)
        self.device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.compile = compile
        self.detector_threshold = detector_threshold
        self._fa = None

    def _build(self):
        import face_alignment

        fan_path = self.weights[FAN_FILE]

        class _LocalWeights(face_alignment.FaceAlignment):
            # The package fetches FAN weights by URL; read them from the file found above instead.
            def _load_native(self, network_name, network_size, device, dtype):
                net = face_alignment.models.FAN(network_size)
                net.load_state_dict(torch.load(fan_path, map_location=device, weights_only=True))
                return net.to(device, dtype=dtype).eval()

        return _LocalWeights(
            face_alignment.LandmarksType.TWO_D, device=self.device, compile=self.compile, face_detector="sfd",
            face_detector_kwargs={"path_to_detector": str(self.weights[S3FD_FILE]),
                                  "filter_threshold": self.detector_threshold})

    def boxes(self, image: np.ndarray) -> list[np.ndarray]:
        """S3FD face boxes [left, top, right, bottom, score] in `image` pixels.

        The detector runs on a copy at most DETECT_MAX_SIDE px on its long side: S3FD on a full
        phone photo costs tens of seconds and gigabytes on a CPU, and finds the same faces.
        """
        if self._fa is None:
            self._fa = self._build()
        small, scale = detection_copy(image, DETECT_MAX_SIDE)
        with torch.inference_mode():
            found = self._fa.face_detector.detect_from_image(small.copy())
        out = []
        for b in found:
            b = np.asarray(b, dtype=np.float64).ravel()
            out.append(np.concatenate([b[:4] / scale, b[4:5] if b.size > 4 else [1.0]]))
        return out

    def detect(self, image: np.ndarray, source: str = "") -> list[Face]:
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        boxes = self.boxes(image)
        if not boxes:
            return []
        with torch.inference_mode():
            landmarks = self._fa.get_landmarks_from_image(image, detected_faces=boxes)
        if landmarks is None:
            return []
        return [Face(np.asarray(pts, dtype=np.float64)[:, :2], float(box[4]), tuple(float(v) for v in box[:4]))
                for pts, box in zip(landmarks, boxes)]
