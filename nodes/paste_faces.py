"""Paste Faces: generated faces back into the photo they were aligned from."""
from __future__ import annotations

from facespace.errors import FaceSpaceError
from facespace.paste import COLOUR_MATCH, DEFAULT_FEATHER, DEFAULT_GROW, paste_back

from .comfy import runtime


class FaceSpacePasteFaces:
    CATEGORY = "FaceSpace"
    FUNCTION = "paste"
    DESCRIPTION = ("Put faces (a blend, every frame of a morph) back into an aligned photo: the inverse of the "
                   "alignment, a feathered mask from the photo's landmarks, optional colour matching.")
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "mask")
    OUTPUT_TOOLTIPS = (
        "The photo with the faces in place: one photo per face when pasting into one face (a morph becomes a "
        "video of photos), or one photo with every face in place.",
        "Where each output came from a face (1) or the photo (0), for touching up the seam downstream.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "crops": ("FACE_CROPS", {"tooltip": "How the faces were cut: AlignFaces' crops output."}),
                "faces": ("IMAGE", {"tooltip": "Aligned faces to paste (BlendWeights, MorphSequence, any square "
                                               "face in FFHQ layout), at any resolution."}),
                "photo_index": ("INT", {"default": 0, "min": 0, "max": 9999, "tooltip":
                                "Which aligned photo to paste into, from 0 in AlignFaces' input order."}),
                "face_index": ("INT", {"default": -1, "min": -1, "max": 99, "tooltip":
                               "Which face of that photo to replace, from 0 left to right; -1 = each of its faces "
                               "(one face per place, or the same face in every place)."}),
                "grow": ("FLOAT", {"default": DEFAULT_GROW, "min": -0.5, "max": 0.5, "step": 0.005, "tooltip":
                         "Grow (or, negative, shrink) the mask around the landmarks, as a fraction of the crop's side "
                         "(0.02 = 2%)."}),
                "feather": ("FLOAT", {"default": DEFAULT_FEATHER, "min": 0.0, "max": 0.5, "step": 0.005,
                            "tooltip": "Width of the mask's soft edge, as a fraction of the crop's side; 0 = hard."}),
                "colour_match": (list(COLOUR_MATCH), {"default": "lab", "tooltip":
                                 "lab: match the face's colour mean and spread (CIE Lab) to the photo's face under "
                                 "the mask. none: paste the colours as they are."}),
            },
            "optional": {
                "photo": ("IMAGE", {"tooltip": "The photo to paste into (may be resized, same shape); of a batch "
                                               "(the one AlignFaces read) its entry photo_index. Default: the "
                                               "photo AlignFaces read."}),
            },
        }

    def paste(self, crops, faces, photo_index, face_index, grow, feather, colour_match, photo=None):
        if photo is not None and photo.shape[0] > 1:
            if photo_index >= photo.shape[0]:
                raise FaceSpaceError(f"photo_index {photo_index}: the photo input holds {photo.shape[0]} photos")
            photo = photo[photo_index:photo_index + 1]
        result = paste_back(crops, faces, photo=photo, photo_index=photo_index, face_index=face_index, grow=grow,
                            feather=feather, colour=colour_match, runtime=runtime())
        return (result.images, result.masks)


NODE_CLASS_MAPPINGS = {"FaceSpacePasteFaces": FaceSpacePasteFaces}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpacePasteFaces": "Paste Faces"}
