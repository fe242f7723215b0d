"""AlignFaces node: FFHQ-aligned face crops from an IMAGE batch and/or a folder of photos."""
from __future__ import annotations

import hashlib
from pathlib import Path

from facespace.align import BACKENDS, DEFAULT_SCORE_THRESHOLD, FACE_CHOICES, align_faces
from facespace.align.photos import list_photos
from facespace.errors import FaceSpaceError
from facespace.imageops import pil_to_image

from .comfy import IN_COMFYUI, input_path, runtime, save_dir

NAMES_SEPARATOR = ","


class FaceSpaceAlignFaces:
    CATEGORY = "FaceSpace"
    FUNCTION = "align"
    RETURN_TYPES = ("IMAGE", "STRING", "IMAGE", "FACE_CROPS")
    RETURN_NAMES = ("aligned", "names", "preview", "crops")
    OUTPUT_TOOLTIPS = (
        "The aligned faces, size x size each, cropped the way FFHQ was (ready for encoder training).",
        "One unique name per aligned face, comma separated, in batch order (from the file names or the names "
        "input; several faces in one photo get _01, _02 ...).",
        "The source photos with the 68 landmarks, eye centres and crop square drawn on them "
        "(red frame: no face found, skipped).",
        "How each face was cut from its photo (crop square, size, photo, landmarks): connect to Paste Faces to put "
        "generated faces back into the photo.",
    )
    DESCRIPTION = "Find faces in photos and crop each the way StyleGAN's FFHQ training faces were aligned."

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "size": ("INT", {"default": 1024, "min": 16, "max": 4096, "step": 8,
                                 "tooltip": "Output size in pixels. Ignored when a STYLEGAN is connected "
                                            "(its resolution is used)."}),
                "backend": (list(BACKENDS), {"default": "auto",
                                             "tooltip": "Landmark detector. auto: face_alignment when its weights are "
                                                        "in models/landmarks, else dlib. given: your own landmarks "
                                                        "(landmarks_json)."}),
                "faces": (list(FACE_CHOICES), {"default": "largest",
                                               "tooltip": "Faces per photo: the largest, all of them, or the "
                                                          "face_index-th from the left."}),
                "face_index": ("INT", {"default": 0, "min": 0, "max": 99,
                                       "tooltip": "With faces = index: which face, counting from 0 left to right."}),
                "score_threshold": ("FLOAT", {"default": DEFAULT_SCORE_THRESHOLD, "min": -2.0, "max": 10.0,
                                              "step": 0.05,
                                              "tooltip": "Ignore detections scoring lower (filters false faces; dlib "
                                                         "scores about 1 for clear faces, face_alignment 0..1)."}),
                "skip_missing": ("BOOLEAN", {"default": False,
                                             "tooltip": "Skip photos without a face (with a warning) instead of "
                                                        "stopping with an error."}),
                "allow_download": ("BOOLEAN", {"default": False,
                                               "tooltip": "Let the face_alignment backend download its two weight "
                                                          "files into models/landmarks when they are missing."}),
            },
            "optional": {
                "images": ("IMAGE", {"tooltip": "Photos as an IMAGE batch (all one size)."}),
                "folder": ("STRING", {"default": "", "tooltip": "A folder of photos (JPEG, PNG, WebP; mixed sizes); "
                                                                "a relative path is read from ComfyUI's input folder."}),
                "names": ("STRING", {"default": "", "multiline": True,
                                     "tooltip": "One name per photo, comma, semicolon or newline separated "
                                                "(default: file names; face_01... for the IMAGE batch)."}),
                "stylegan": ("STYLEGAN", {"tooltip": "When connected, faces are aligned at the generator's "
                                                     "resolution."}),
                "landmarks_json": ("STRING", {"default": "", "multiline": True,
                                              "tooltip": "For backend 'given': a JSON file (a relative path is "
                                                         "read from ComfyUI's input folder, like folder) or JSON "
                                                         "text mapping each photo's file name to 68 [x, y] "
                                                         "points."}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, folder="", landmarks_json="", **_):
        """Re-run when the photos in the folder or the landmarks file change, not only when the text does."""
        return files_signature(folder, landmarks_json)

    def align(self, size, backend, faces, face_index, score_threshold, skip_missing, allow_download,
              images=None, folder="", names="", stylegan=None, landmarks_json=""):
        if stylegan is not None:
            size = int(stylegan.generator.resolution)
        rt = runtime(previews=False)
        result = align_faces(
            images=images, folder=input_path(folder.strip()) if folder.strip() else None, names=names or None,
            size=size, backend=backend,
            faces=faces, face_index=face_index, score_threshold=score_threshold, skip_missing=skip_missing,
            landmarks=landmarks_spec(landmarks_json), allow_download=allow_download,
            download_dir=save_dir("landmarks") if IN_COMFYUI else None, runtime=rt)
        return {"ui": {"facespace_skipped": [Path(p).name for p in result.skipped]},
                "result": (result.images, NAMES_SEPARATOR.join(result.names), pil_to_image(result.previews),
                           result.crops)}


def landmarks_spec(landmarks_json: str):
    """JSON text as it is; a file name read like the folder input (relative: from ComfyUI's input folder)."""
    text = (landmarks_json or "").strip()
    if not text:
        return None
    return text if text.startswith(("{", "[")) else str(input_path(text))


def files_signature(folder: str = "", landmarks_json: str = "") -> str:
    """A hash of the photo files in `folder` (names, sizes, modification times) and of a landmarks file."""
    h = hashlib.sha256()
    if folder and folder.strip():
        try:
            for p in list_photos(input_path(folder.strip())):
                stat = p.stat()
                h.update(f"{p.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except (FaceSpaceError, OSError) as exc:  # the run itself reports it
            h.update(f"unreadable: {exc}".encode())
    spec = landmarks_spec(landmarks_json)
    if spec and not spec.startswith(("{", "[")):
        try:
            h.update(Path(spec).read_bytes())  # read as the node reads it
        except OSError as exc:
            h.update(f"unreadable: {exc}".encode())
    return h.hexdigest()


NODE_CLASS_MAPPINGS = {"FaceSpaceAlignFaces": FaceSpaceAlignFaces}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceAlignFaces": "AlignFaces"}
