"""BlendWeights: new faces mixed from the training faces, with a bar chart of each mix."""
from facespace.blend import GROUPS, plan_blends
from facespace.chart import charts_over_faces
from facespace.identity import missing_reason
from facespace.identity.dlib_recognition import runtime_model_dirs
from facespace.identity.blend_report import with_identity_series
from facespace.latent import blend_latent

from .comfy import runtime
from .input_transform import TRANSFORM_INPUTS, transform_from

WEIGHTS_HELP = ("Weight of each face: by name 'anna=0.6, bea=0.4' (faces not named get 0) or by position "
                "'0.6, 0.4, 0, ...' (one value per face, training order). Empty = an equal share for every face. "
                "The sliders on the node edit this text.")
IDENTITY_HELP = ("Chart, beside each face's weight, the blend's measured identity closeness to that face "
                 "(1 - dlib face-recognition distance; below 0.4 usually someone else).")


class FaceSpaceBlendWeights:
    CATEGORY = "FaceSpace"
    FUNCTION = "blend"
    DESCRIPTION = "Blend the training faces with chosen or random weights and chart how much of each face went in."
    RETURN_TYPES = ("IMAGE", "FACESPACE_WEIGHTS", "IMAGE", "STYLEGAN_LATENT")
    RETURN_NAMES = ("images", "weights", "chart", "latent")
    OUTPUT_TOOLTIPS = (
        "The blended faces, one per blend.",
        "The weights used: {'names', 'weights' (one row per blend), 'groups' (per-layer-group weights, if any)}.",
        "Each blend with a bar chart of its weights above it (one bar per training face), ready to save.",
        "The blends' W+ codes (labelled, with the weights that made them), for Mix / Edit / Render Latent.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        missing = missing_reason(runtime_model_dirs(runtime()))  # where the run itself looks
        group_tip = ("Weights for the {} W+ layers ({}), same form as weights. Empty = use weights; "
                     "'random' = random weights of their own.")
        return {
            "required": {
                "facespace": ("FACESPACE", {"tooltip": "The trained FaceSpace (bound to its generator)."}),
                "weights": ("STRING", {"multiline": True, "default": "", "tooltip": WEIGHTS_HELP}),
                "mode": (["weights", "random"], {"default": "weights", "tooltip":
                         "weights: blend by the weights text. random: `count` random blends from `seed` "
                         "(each face gets |N(0,1)|, then normalised if asked)."}),
                "count": ("INT", {"default": 1, "min": 1, "max": 64, "tooltip":
                          "How many blends to make. Used only in random mode or when a layer group is "
                          "'random'; in weights mode without random groups one blend is made."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "tooltip":
                         "Seed of the random weights; the same seed gives the same blends on any device."}),
                "normalize": ("BOOLEAN", {"default": True, "tooltip":
                              "Divide the weights by their sum (blends of faces). Off: use them as given "
                              "(with a linear encoder, sums above 1 push past the faces)."}),
            },
            "optional": {
                "coarse_weights": ("STRING", {"default": "", "tooltip": group_tip.format(
                    "coarse", "pose, face shape; layers 0-3 of 18")}),
                "middle_weights": ("STRING", {"default": "", "tooltip": group_tip.format(
                    "middle", "features, hair; layers 4-7 of 18")}),
                "fine_weights": ("STRING", {"default": "", "tooltip": group_tip.format(
                    "fine", "colours, skin; layers 8-17 of 18")}),
                "identity_chart": ("BOOLEAN", {"default": False, "tooltip": IDENTITY_HELP + (
                    f" Off here: {missing}." if missing else "")}),
                **TRANSFORM_INPUTS,
            },
        }

    def blend(self, facespace, weights, mode, count, seed, normalize,
              coarse_weights="", middle_weights="", fine_weights="", identity_chart=False,
              translate_x=0.0, translate_y=0.0, rotate=0.0):
        groups = dict(zip(GROUPS, (coarse_weights, middle_weights, fine_weights)))
        plan = plan_blends(facespace.names, weights, mode=mode, count=count, seed=seed, normalize=normalize,
                           group_weights=groups, num_ws=facespace.num_ws)
        latent = blend_latent(facespace, plan)
        transform = transform_from(translate_x, translate_y, rotate)
        images = facespace.render(latent.wplus, runtime=runtime(previews=False), transform=transform)
        chart_rows, series = plan.chart_data()
        if identity_chart:  # measured on the faces where the FFHQ layout puts them, not panned or turned
            faces = images if transform is None else facespace.render(latent.wplus, runtime=runtime(previews=False))
            chart_rows, series = with_identity_series(facespace, faces, chart_rows, series, runtime=runtime())
        charts = charts_over_faces(images, facespace.names, chart_rows, series=series)
        return {"ui": {"facespace_names": list(facespace.names), "facespace_weights": plan.chart_rows()},
                "result": (images, plan.info(), charts, latent)}


NODE_CLASS_MAPPINGS = {"FaceSpaceBlendWeights": FaceSpaceBlendWeights}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceBlendWeights": "BlendWeights"}
