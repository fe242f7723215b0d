"""Join Latents: two to four latents of one generator as one batch (e.g. morph keyframes)."""
from __future__ import annotations

from facespace.latent import concat

from .latent_random import LATENT

MAX_INPUTS = 4


class FaceSpaceJoinLatents:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "join"
    DESCRIPTION = "Put latents of one generator into one batch, in input order (e.g. keyframes for MorphSequence)."
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("Every code of latent_1, then of latent_2, ... with their labels.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "latent_1": (LATENT, {"tooltip": "The first codes."}),
                "latent_2": (LATENT, {"tooltip": "Codes that follow."}),
            },
            "optional": {f"latent_{i}": (LATENT, {"tooltip": f"Latent {i} (optional)."})
                         for i in range(3, MAX_INPUTS + 1)},
        }

    def join(self, latent_1, latent_2, **more):
        extra = [more[f"latent_{i}"] for i in range(3, MAX_INPUTS + 1) if more.get(f"latent_{i}") is not None]
        return (concat([latent_1, latent_2] + extra),)


NODE_CLASS_MAPPINGS = {"FaceSpaceJoinLatents": FaceSpaceJoinLatents}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceJoinLatents": "Join Latents"}
