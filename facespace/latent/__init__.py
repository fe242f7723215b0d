"""The W+ latent value: a batch of codes for one generator, with labels and, from a FaceSpace, the weights
that made it. Random latents, per-layer mixes, editing directions and edits, rendering and files."""
from .directions import (METHODS, compute_directions, ganspace_directions, read_directions, save_directions,
                         sefa_directions)
from .edit import edit_latent, pick_direction, sweep_latent, sweep_strengths
from .file import is_latent_file, load_latent, save_latent
from .layers import parse_layers
from .mix import LayerMix, group_mixes, mix_latents, parse_layer_mix, parse_layer_mixes
from .morph import keyframe_names, latent_order, morph_latent
from .project import FITS, project_latent, square_pictures
from .sample import blend_latent, random_latent
from .value import Latent, check_same_generator, concat

__all__ = [
    "FITS", "METHODS", "LayerMix", "Latent", "blend_latent", "check_same_generator", "compute_directions", "concat",
    "edit_latent", "ganspace_directions", "group_mixes", "is_latent_file", "keyframe_names", "latent_order", "morph_latent", "load_latent", "mix_latents",
    "parse_layer_mix", "parse_layer_mixes", "parse_layers", "pick_direction", "project_latent", "random_latent", "read_directions",
    "save_directions", "save_latent", "sefa_directions", "square_pictures", "sweep_latent", "sweep_strengths",
]
