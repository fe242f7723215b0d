"""LoadStyleGAN: a generator file from models/stylegan -> STYLEGAN (generator + rendering settings)."""
from __future__ import annotations

from facespace.stylegan import DTYPES, StyleGAN, load_generator

from .comfy import list_models, model_path
from .file_cache import FileCache

_LOADED = FileCache(load_generator, size=2)


class FaceSpaceLoadStyleGAN:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (list_models("stylegan"), {
                    "tooltip": "Generator file in models/stylegan: NVIDIA .pkl (StyleGAN1/2 TensorFlow, "
                               "StyleGAN2-ADA-PyTorch or StyleGAN3), rosinality .pt, or a FaceSpace .safetensors."}),
                "truncation_psi": ("FLOAT", {
                    "default": 0.7, "min": -2.0, "max": 2.0, "step": 0.05,
                    "tooltip": "Pull sampled faces toward the average face: 1 = no truncation, lower = more "
                               "typical and cleaner faces, 0 = the average face."}),
                "truncation_cutoff": ("INT", {
                    "default": 0, "min": 0, "max": 32,
                    "tooltip": "Truncate only the first N W+ layers (coarse features); 0 truncates all layers. "
                               "NVIDIA's StyleGAN1 default is 8."}),
                "noise_mode": (["const", "random", "none"], {
                    "default": "const",
                    "tooltip": "Per-pixel noise: const = the fixed noise stored in the file (repeatable), "
                               "random = new noise every run, none = no noise (smoother skin and hair)."}),
                "precision": (list(DTYPES), {
                    "default": "fp32",
                    "tooltip": "Number format for rendering on a GPU: fp16/bf16 are faster and use less memory; "
                               "the CPU always renders in fp32."}),
            }
        }

    RETURN_TYPES = ("STYLEGAN",)
    RETURN_NAMES = ("stylegan",)
    OUTPUT_TOOLTIPS = ("The generator with its truncation, noise and precision settings.",)
    FUNCTION = "load"
    CATEGORY = "FaceSpace"
    DESCRIPTION = ("Load a StyleGAN1, StyleGAN2 or StyleGAN3 generator; files are read safely, without running code "
                   "from them.")

    def load(self, model, truncation_psi=0.7, truncation_cutoff=0, noise_mode="const", precision="fp32"):
        G = _LOADED.get(model_path("stylegan", model))
        return (StyleGAN(generator=G, psi=float(truncation_psi), cutoff=int(truncation_cutoff) or None,
                         noise_mode=noise_mode, dtype=DTYPES[precision], name=str(model)),)


NODE_CLASS_MAPPINGS = {"FaceSpaceLoadStyleGAN": FaceSpaceLoadStyleGAN}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceLoadStyleGAN": "LoadStyleGAN"}
