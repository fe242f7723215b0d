"""Sample StyleGAN: random faces from seeds -> IMAGE."""
from __future__ import annotations

from .comfy import runtime
from .input_transform import TRANSFORM_INPUTS, transform_from


class FaceSpaceSampleStyleGAN:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "Generator from LoadStyleGAN."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 32 - 1,
                                 "tooltip": "Seed of the first face; the batch uses seed, seed+1, ... "
                                            "(the same faces NVIDIA's scripts draw for these seeds)."}),
                "batch_size": ("INT", {"default": 4, "min": 1, "max": 256,
                                       "tooltip": "How many faces to generate."}),
            },
            "optional": dict(TRANSFORM_INPUTS),
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("Generated faces, one per seed.",)
    FUNCTION = "sample"
    CATEGORY = "FaceSpace"
    DESCRIPTION = "Generate random faces with the loaded StyleGAN (truncation and noise as set on LoadStyleGAN)."

    def sample(self, stylegan, seed=0, batch_size=4, translate_x=0.0, translate_y=0.0, rotate=0.0):
        seeds = [int(seed) + i for i in range(int(batch_size))]
        return (stylegan.sample(seeds, runtime=runtime(previews=False), transform=transform_from(translate_x, translate_y, rotate)),)


NODE_CLASS_MAPPINGS = {"FaceSpaceSampleStyleGAN": FaceSpaceSampleStyleGAN}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceSampleStyleGAN": "Sample StyleGAN"}
