"""Render Latent: W+ codes -> IMAGE."""
from __future__ import annotations

from .comfy import runtime
from .latent_random import LATENT


class FaceSpaceRenderLatent:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "render"
    DESCRIPTION = "Render a latent batch with its generator (in chunks, with a preview; cancellable)."
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("One image per code, [N,H,W,3].",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "The generator the latent was made for."}),
                "latent": (LATENT, {"tooltip": "W+ codes to render."}),
                "allow_mismatch": ("BOOLEAN", {"default": False, "tooltip":
                                   "Render on a generator other than the one the codes were made for "
                                   "(the faces will not be the same)."}),
            },
            "optional": {
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip":
                               "Images rendered at once; lower it if the GPU runs out of memory."}),
            },
        }

    def render(self, stylegan, latent, allow_mismatch=False, batch_size=8):
        images = latent.render(stylegan, runtime=runtime(), batch_size=batch_size, allow_mismatch=bool(allow_mismatch))
        return {"ui": {"latent_labels": list(latent.labels)}, "result": (images,)}


NODE_CLASS_MAPPINGS = {"FaceSpaceRenderLatent": FaceSpaceRenderLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceRenderLatent": "Render Latent"}
