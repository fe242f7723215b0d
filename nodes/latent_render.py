"""Render Latent: W+ codes -> IMAGE, and the same images tiled into one contact sheet (e.g. edit filmstrips)."""
from __future__ import annotations

from facespace.imageops import grid, image_to_pil, pil_to_image

from .comfy import runtime
from .latent_random import LATENT


class FaceSpaceRenderLatent:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "render"
    DESCRIPTION = "Render a latent batch with its generator (in chunks, with a preview; cancellable)."
    RETURN_TYPES = ("IMAGE", "IMAGE")
    RETURN_NAMES = ("images", "sheet")
    OUTPUT_TOOLTIPS = ("One image per code, [N,H,W,3].",
                       "All images tiled row by row into one picture (columns per row: see columns).")

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
                "columns": ("INT", {"default": 0, "min": 0, "max": 256, "tooltip":
                            "Images per row of the sheet; 0 = all in one row. Set it to Edit Latent's "
                            "sweep_steps for one filmstrip per face."}),
            },
        }

    def render(self, stylegan, latent, allow_mismatch=False, batch_size=8, columns=0):
        images = latent.render(stylegan, runtime=runtime(), batch_size=batch_size, allow_mismatch=bool(allow_mismatch))
        sheet = pil_to_image(grid(image_to_pil(images), cols=int(columns) or len(latent)))
        return {"ui": {"latent_labels": list(latent.labels)}, "result": (images, sheet)}


NODE_CLASS_MAPPINGS = {"FaceSpaceRenderLatent": FaceSpaceRenderLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceRenderLatent": "Render Latent"}
