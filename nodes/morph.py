"""MorphSequence: a walk through the training faces, or through a latent batch, as one IMAGE batch."""
from facespace.errors import FaceSpaceError
from facespace.latent import latent_order, morph_latent
from facespace.morph import EASINGS, SPACES, MorphPlan, parse_order, render_morph

from .comfy import runtime


class FaceSpaceMorphSequence:
    CATEGORY = "FaceSpace"
    FUNCTION = "morph"
    DESCRIPTION = ("Morph from face to face (a FaceSpace's faces, or the codes of a latent batch); the frames go "
                   "straight into Video Combine, frame interpolation or an upscaler.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("All frames as one image batch [frames,H,W,3]; each face's own frame is its reconstruction "
                       "(or its keyframe).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "order": ("STRING", {"multiline": False, "default": "", "tooltip":
                          "Faces to visit, by name: 'anna, bea, carla' (keyframes: by label). Empty = every face "
                          "in training order (every keyframe in batch order)."}),
                "frames_per_transition": ("INT", {"default": 12, "min": 1, "max": 600, "tooltip":
                                          "Steps from one face to the next (frames - 1 in between)."}),
                "hold_frames": ("INT", {"default": 0, "min": 0, "max": 600, "tooltip":
                                "Extra frames that stay on each face."}),
                "easing": (list(EASINGS), {"default": "linear", "tooltip":
                           "Pace within each transition: linear (constant speed), smoothstep or cosine "
                           "(slow near the faces)."}),
                "space": (list(SPACES), {"default": "wplus", "tooltip":
                          "wplus: straight lines between the faces' W+ codes. code: through the encoder, "
                          "like blends (re-timed so the motion stays even; FaceSpace faces only)."}),
                "loop": ("BOOLEAN", {"default": False, "tooltip":
                         "Walk back to the first face at the end, for a seamless looping video."}),
            },
            "optional": {
                "facespace": ("FACESPACE", {"tooltip": "The trained FaceSpace (bound to its generator): morph "
                                                       "through its faces."}),
                "keyframes": ("STYLEGAN_LATENT", {"tooltip": "A latent batch to morph through instead (e.g. a face "
                                                             "and the same face styled), rendered with stylegan "
                                                             "or the FaceSpace's generator."}),
                "stylegan": ("STYLEGAN", {"tooltip": "The generator that renders the keyframes."}),
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip":
                               "Frames rendered at once; lower it if the GPU runs out of memory."}),
            },
        }

    def morph(self, order, frames_per_transition, hold_frames, easing, space, loop, facespace=None,
              keyframes=None, stylegan=None, batch_size=8):
        if keyframes is None:
            if facespace is None:
                raise FaceSpaceError("MorphSequence needs a facespace (its faces) or keyframes (a latent batch)")
            plan = MorphPlan(parse_order(order, facespace.names), frames=frames_per_transition, hold=hold_frames,
                             easing=easing, space=space, loop=loop)
            return (render_morph(facespace, plan, runtime=runtime(), batch_size=batch_size),)
        stylegan = stylegan if stylegan is not None else getattr(facespace, "stylegan", None)
        if stylegan is None:
            raise FaceSpaceError("connect a stylegan (or a facespace) to render the keyframes")
        if len(keyframes) < 2 and not order.strip():
            raise FaceSpaceError(f"keyframes hold {len(keyframes)} code; a morph needs at least two")
        plan = MorphPlan(latent_order(order, keyframes), frames=frames_per_transition, hold=hold_frames,
                         easing=easing, space=space, loop=loop)
        frames = morph_latent(keyframes, plan)
        return (frames.render(stylegan, runtime=runtime(), batch_size=batch_size, desc="morph"),)


NODE_CLASS_MAPPINGS = {"FaceSpaceMorphSequence": FaceSpaceMorphSequence}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceMorphSequence": "MorphSequence"}
