"""Project Image: pictures -> latent, with progress, a live preview and cancel."""
from __future__ import annotations

from facespace.latent import FITS, project_latent
from facespace.projection import ProjectionSettings

from .comfy import runtime
from .latent_random import LATENT

_DEFAULTS = ProjectionSettings()


class FaceSpaceProjectImage:
    CATEGORY = "FaceSpace/latent"
    FUNCTION = "project"
    DESCRIPTION = ("Find the W+ code that makes the generator reproduce each picture: an aligned face, or any "
                   "picture (a painting, a sketch, a poster) whose style Mix Latents can then lend to a face.")
    RETURN_TYPES = (LATENT, "IMAGE")
    RETURN_NAMES = ("latent", "reconstructions")
    OUTPUT_TOOLTIPS = ("One W+ code per picture, labelled.",
                       "What the generator makes of each code (compare with the pictures).")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "The generator to project onto."}),
                "images": ("IMAGE", {"tooltip": "Pictures to project; resized to the generator (see fit)."}),
                "fit": (list(FITS), {"default": "crop", "tooltip":
                        "How a picture that is not square is made square: crop the middle, pad with white, "
                        "or stretch."}),
                "steps": ("INT", {"default": _DEFAULTS.steps, "min": 1, "max": 100000, "tooltip":
                          "Most optimisation steps (a picture that reaches the target stops earlier)."}),
                "target_psnr": ("FLOAT", {"default": _DEFAULTS.target_psnr, "min": 0.0, "max": 100.0, "step": 0.5,
                                "tooltip": "Stop a picture once its reconstruction is this close (dB); "
                                           "0 = use every step."}),
                "seconds": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 86400.0, "step": 1.0, "tooltip":
                            "Time limit in seconds; 0 = none."}),
                "resolution": ("INT", {"default": _DEFAULTS.resolution, "min": 0, "max": 4096, "step": 8, "tooltip":
                               "Compare pictures at most at this size (cheaper); 0 = the generator's size."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1, "tooltip":
                         "Seed of the sampled restarts (the same seed gives the same codes on the CPU)."}),
            },
            "optional": {
                "labels": ("STRING", {"default": "", "tooltip":
                           "One label per picture (comma separated), e.g. 'van_gogh'. Empty = picture 1, 2, ..."}),
            },
        }

    def project(self, stylegan, images, fit="crop", steps=300, target_psnr=45.0, seconds=0.0, resolution=256,
                seed=0, labels=""):
        settings = _DEFAULTS.replace(steps=int(steps), target_psnr=float(target_psnr), seconds=float(seconds),
                                     resolution=int(resolution), seed=int(seed))
        rt = runtime()
        latent, result = project_latent(stylegan, images, settings, labels=labels, fit=fit, runtime=rt)
        summary = result.summary(latent.labels)
        reconstructions = latent.render(stylegan, runtime=rt)
        return {"ui": {"text": [summary], "latent_labels": list(latent.labels)},
                "result": (latent, reconstructions)}


NODE_CLASS_MAPPINGS = {"FaceSpaceProjectImage": FaceSpaceProjectImage}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceProjectImage": "Project Image"}
