"""Random Latent: W+ codes from seeds, the faces Sample StyleGAN draws."""
from __future__ import annotations

from facespace.latent import random_latent

from .comfy import runtime

LATENT = "STYLEGAN_LATENT"


class FaceSpaceRandomLatent:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "sample"
    DESCRIPTION = "W+ codes of random faces from seeds (the same faces Sample StyleGAN draws for these seeds)."
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("One W+ code per seed, labelled 'seed N', for this generator.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "Generator from LoadStyleGAN."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 32 - 1, "tooltip":
                         "Seed of the first code; the batch uses seed, seed+1, ... (NVIDIA's z for each seed)."}),
                "count": ("INT", {"default": 1, "min": 1, "max": 256, "tooltip": "How many codes to make."}),
                "truncation_psi": ("FLOAT", {"default": 0.7, "min": -2.0, "max": 2.0, "step": 0.05, "tooltip":
                                   "Pull toward the average face: 1 = none, 0 = the average face. Set it as on "
                                   "LoadStyleGAN to get exactly Sample StyleGAN's faces."}),
            }
        }

    def sample(self, stylegan, seed=0, count=1, truncation_psi=0.7):
        return (random_latent(stylegan, seed, count, psi=truncation_psi, runtime=runtime()),)


NODE_CLASS_MAPPINGS = {"FaceSpaceRandomLatent": FaceSpaceRandomLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceRandomLatent": "Random Latent"}
