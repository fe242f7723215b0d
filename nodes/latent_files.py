"""Save Latent / Load Latent: latent files in models/stylegan_latents."""
from __future__ import annotations

import torch

from facespace.errors import FaceSpaceError
from facespace.latent import load_latent, save_latent

from .comfy import list_models, model_path, save_dir
from .facespace_files import facespace_file_path, save_unless_same
from .latent_random import LATENT


class FaceSpaceSaveLatent:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "save"
    DESCRIPTION = "Save a latent batch (W+ codes, generator fingerprint, labels, blend weights) as .safetensors."
    RETURN_TYPES = ()
    OUTPUT_TOOLTIPS = ()
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "latent": (LATENT, {"tooltip": "The codes to keep."}),
                "name": ("STRING", {"default": "latent", "tooltip":
                         "File name in models/stylegan_latents (.safetensors is added)."}),
                "overwrite": ("BOOLEAN", {"default": False, "tooltip":
                              "Replace an existing file of that name that holds other codes (saving the same "
                              "codes again is always fine)."}),
            }
        }

    def save(self, latent, name="latent", overwrite=False):
        path = facespace_file_path(save_dir("stylegan_latents"), name, what="latent")
        save_unless_same(path, latent, holds_same_latent, save_latent, overwrite, "other codes")
        return {"ui": {"latent_labels": list(latent.labels), "latent_file": [path.name]}}


def holds_same_latent(path, latent) -> bool:
    """The latent file at `path` holds these codes: same generator, labels and W+."""
    try:
        saved = load_latent(path)
    except (FaceSpaceError, OSError):
        return False
    same = (saved.generator_fingerprint, list(saved.labels)) == (latent.generator_fingerprint, list(latent.labels))
    return same and torch.equal(saved.wplus, latent.wplus.detach().float().cpu())


class FaceSpaceLoadLatent:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "load"
    DESCRIPTION = "Load a latent file (.safetensors from Save Latent, or a .npy of W+ codes [N,num_ws,w_dim])."
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("The loaded codes, checked against the generator.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "The generator the codes belong to (a .npy takes its "
                                                     "fingerprint; its shape is checked against it)."}),
                "file": (list_models("stylegan_latents"), {"tooltip": "A latent file in models/stylegan_latents."}),
                "allow_mismatch": ("BOOLEAN", {"default": False, "tooltip":
                                   "Use codes made for another generator of the same W+ shape with this one "
                                   "(they take its fingerprint; the faces will not be the same)."}),
            }
        }

    def load(self, stylegan, file, allow_mismatch=False):
        path = model_path("stylegan_latents", file)
        latent = load_latent(path, stylegan, allow_mismatch=bool(allow_mismatch))
        return {"ui": {"latent_labels": list(latent.labels)}, "result": (latent,)}


NODE_CLASS_MAPPINGS = {"FaceSpaceSaveLatent": FaceSpaceSaveLatent, "FaceSpaceLoadLatent": FaceSpaceLoadLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceSaveLatent": "Save Latent", "FaceSpaceLoadLatent": "Load Latent"}
