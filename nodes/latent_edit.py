"""Edit Latent: move codes along a SeFa, GANSpace or user direction; a sweep gives a filmstrip batch."""
from __future__ import annotations

from facespace.errors import FaceSpaceError
from facespace.latent import compute_directions, parse_layers, pick_direction, read_directions, sweep_latent, \
    sweep_strengths

from .comfy import input_path, runtime
from .latent_random import LATENT

SOURCES = ("sefa", "ganspace", "file")


class FaceSpaceEditLatent:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "edit"
    DESCRIPTION = ("Move W+ codes along an editing direction found in the generator itself (SeFa, GANSpace) or "
                   "brought as a .npy file (e.g. InterFaceGAN); sweep for a filmstrip of strengths.")
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("The edited codes; with a sweep, each input item at every strength in turn.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "The generator the latent belongs to (SeFa and GANSpace "
                                                     "read their directions from it)."}),
                "latent": (LATENT, {"tooltip": "W+ codes to edit."}),
                "method": (list(SOURCES), {"default": "sefa", "tooltip":
                           "sefa: closed form from the style layers' weights. ganspace: principal components "
                           "of sampled W. file: the .npy in direction_file."}),
                "component": ("INT", {"default": 0, "min": 0, "max": 4095, "tooltip":
                              "Which direction: 0 = the strongest (file: the row index)."}),
                "strength": ("FLOAT", {"default": 3.0, "min": -100.0, "max": 100.0, "step": 0.1, "tooltip":
                             "How far to move along the (unit) direction; 0 leaves the codes as they are. "
                             "With a sweep: the strip runs from -|strength| to +|strength|."}),
                "layers": ("STRING", {"default": "all", "tooltip":
                           "W+ layers to move: 'all', 'A-B' (inclusive), one index, or coarse / middle / fine. "
                           "SeFa also finds its directions in these layers' style weights only."}),
                "sweep_steps": ("INT", {"default": 1, "min": 1, "max": 64, "tooltip":
                                "1 = one edit. More = a filmstrip of that many strengths per input code."}),
            },
            "optional": {
                "direction_file": ("STRING", {"default": "", "tooltip":
                                   "For method 'file': a .npy of [w_dim], [K,w_dim] rows or [K,num_ws,w_dim] "
                                   "(relative paths are read from ComfyUI's input folder)."}),
                "per_layer": ("BOOLEAN", {"default": False, "tooltip":
                              "Read a 2-D direction file as one per-layer direction [num_ws,w_dim] instead of "
                              "rows [K,w_dim]."}),
            },
        }

    def edit(self, stylegan, latent, method="sefa", component=0, strength=3.0, layers="all", sweep_steps=1,
             direction_file="", per_layer=False):
        latent.check_generator(stylegan)
        G = stylegan.generator
        span = parse_layers(layers, latent.num_ws)
        if method == "file":
            if not str(direction_file).strip():
                raise FaceSpaceError("method 'file' needs direction_file: a .npy of directions")
            directions = read_directions(input_path(direction_file.strip()), G.num_ws, G.w_dim, bool(per_layer))
        else:
            directions = compute_directions(G, method, int(component) + 1, runtime=runtime(), layers=span)
        direction = pick_direction(directions, component)
        out = sweep_latent(latent, direction, sweep_strengths(strength, sweep_steps), span,
                           name=f"{method}{component}")
        return (out,)


NODE_CLASS_MAPPINGS = {"FaceSpaceEditLatent": FaceSpaceEditLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceEditLatent": "Edit Latent"}
