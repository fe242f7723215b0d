"""Face Similarity: identity distances of images to reference faces (dlib), as numbers and a heat map."""
from __future__ import annotations

import json

from facespace.identity import KINDS, face_similarity, identity_backend, missing_reason
from facespace.identity.dlib_recognition import runtime_model_dirs
from facespace.imageops import image_to_pil, pil_to_image
from facespace.names import names_for

from .comfy import runtime


class FaceSpaceFaceSimilarity:
    CATEGORY = "FaceSpace"
    FUNCTION = "compare"
    DESCRIPTION = ("How much each image looks like each reference face, measured with dlib's face-recognition "
                   "network (distances below 0.6 are usually the same person).")
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("heatmap", "distances")
    OUTPUT_TOOLTIPS = (
        "A grid of distances, one row per image and one column per reference face, with the faces and names "
        "(green: same person, red: different people).",
        "The distances as JSON: {images, references, distances (rows of numbers)}.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        reason = missing_reason(_model_dirs())
        unavailable = f" Unavailable here: {reason}." if reason else ""
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The faces to measure (blends, reconstructions, photos)." + unavailable}),
                "kind": (list(KINDS), {"default": "auto", "tooltip":
                         "aligned: FFHQ-aligned faces (the chip comes from the known layout); photo: find the face "
                         "and its landmarks; auto: aligned when a square picture's face fills it like an FFHQ crop "
                         "(or no face is found), else photo."}),
            },
            "optional": {
                "reference": ("IMAGE", {"tooltip": "Reference faces, e.g. AlignFaces' aligned output. Not "
                                                   "connected: the images are compared with each other."}),
                "names": ("STRING", {"default": "", "multiline": False, "tooltip":
                          "Names of the images, comma separated (default image_01, ...)."}),
                "reference_names": ("STRING", {"default": "", "multiline": False, "tooltip":
                                    "Names of the reference faces, comma separated (connect AlignFaces' names)."}),
            },
        }

    def compare(self, images, kind, reference=None, names="", reference_names=""):
        backend = identity_backend(_model_dirs())
        pictures = image_to_pil(images)
        row_names = names_for(names, len(pictures), "names", "image")
        refs = ref_names = None
        if reference is not None:
            refs = image_to_pil(reference)
            ref_names = names_for(reference_names, len(refs), "reference_names", "reference")
        result = face_similarity(pictures, row_names, refs, ref_names, kind=kind, backend=backend)
        return {"ui": {"text": [result.table()]},
                "result": (pil_to_image(result.heatmap()), json.dumps(result.to_dict()))}


def _model_dirs():
    return runtime_model_dirs(runtime())


NODE_CLASS_MAPPINGS = {"FaceSpaceFaceSimilarity": FaceSpaceFaceSimilarity}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceFaceSimilarity": "Face Similarity"}
