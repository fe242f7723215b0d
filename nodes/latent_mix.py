"""Mix Latents: per-layer mixes of two to four latents (style mixing)."""
from __future__ import annotations

from facespace.blend import GROUPS
from facespace.latent import group_mixes, mix_latents, parse_layer_mixes

from .latent_random import LATENT

MAX_INPUTS = 4


class FaceSpaceMixLatents:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "mix"
    DESCRIPTION = ("Mix latents layer by layer: e.g. coarse and middle layers (pose, features) from a face, fine "
                   "layers (colours, texture) from a painting.")
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("The mixed codes: N items when an input holds N (inputs of 1 are used for every item).",)

    @classmethod
    def INPUT_TYPES(cls):
        group_tip = ("Weights of the {} W+ layers ({}), one per connected latent in input order, e.g. '1, 0'; "
                     "divided by their sum. Empty = these layers stay as latent_1's.")
        optional = {f"latent_{i}": (LATENT, {"tooltip": f"Latent {i} (optional)."}) for i in range(3, MAX_INPUTS + 1)}
        optional["layers"] = ("STRING", {"multiline": True, "default": "", "tooltip":
                              "Explicit W+ layer ranges, one per line: 'A-B: w1, w2, ...' (A-B inclusive). "
                              "Applied after the groups; a later range wins where ranges overlap."})
        return {
            "required": {
                "latent_1": (LATENT, {"tooltip": "The first latent: every layer no weights cover comes from it."}),
                "latent_2": (LATENT, {"tooltip": "The second latent."}),
                "coarse_weights": ("STRING", {"default": "1, 0", "tooltip": group_tip.format(
                    "coarse", "pose, face shape; layers 0-3 of 18")}),
                "middle_weights": ("STRING", {"default": "1, 0", "tooltip": group_tip.format(
                    "middle", "features, hair; layers 4-7 of 18")}),
                "fine_weights": ("STRING", {"default": "0, 1", "tooltip": group_tip.format(
                    "fine", "colours, texture; layers 8-17 of 18")}),
                "normalize": ("BOOLEAN", {"default": True, "tooltip":
                              "Divide each range's weights by their sum. Off: use them as given."}),
            },
            "optional": optional,
        }

    def mix(self, latent_1, latent_2, coarse_weights="1, 0", middle_weights="1, 0", fine_weights="0, 1",
            normalize=True, layers="", **more):
        latents = [latent_1, latent_2] + [more[f"latent_{i}"] for i in range(3, MAX_INPUTS + 1)
                                          if more.get(f"latent_{i}") is not None]
        groups = dict(zip(GROUPS, (coarse_weights, middle_weights, fine_weights)))
        mixes = group_mixes(latent_1.num_ws, groups, len(latents))
        mixes += parse_layer_mixes(layers, latent_1.num_ws, len(latents))
        return (mix_latents(latents, mixes, normalize=bool(normalize)),)


NODE_CLASS_MAPPINGS = {"FaceSpaceMixLatents": FaceSpaceMixLatents}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceMixLatents": "Mix Latents"}
