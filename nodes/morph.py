"""MorphSequence: a walk through the training faces as one IMAGE batch for video and upscaler nodes."""
from facespace.morph import EASINGS, SPACES, MorphPlan, parse_order, render_morph

from .comfy import runtime
from .input_transform import TRANSFORM_INPUTS, transform_from


class FaceSpaceMorphSequence:
    CATEGORY = "FaceSpace"
    FUNCTION = "morph"
    DESCRIPTION = ("Morph from face to face; the frames go straight into Video Combine, frame interpolation "
                   "or an upscaler.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("All frames as one image batch [frames,H,W,3]; each face's own frame is its reconstruction.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "facespace": ("FACESPACE", {"tooltip": "The trained FaceSpace (its generator attached)."}),
                "order": ("STRING", {"multiline": False, "default": "", "tooltip":
                          "Faces to visit, by name: 'anna, bea, carla'. Empty = every face in training order."}),
                "frames_per_transition": ("INT", {"default": 12, "min": 1, "max": 600, "tooltip":
                                          "Steps from one face to the next (frames - 1 in between)."}),
                "hold_frames": ("INT", {"default": 0, "min": 0, "max": 600, "tooltip":
                                "Extra frames that stay on each face."}),
                "easing": (list(EASINGS), {"default": "linear", "tooltip":
                           "Pace within each transition: linear (constant speed), smoothstep or cosine "
                           "(slow near the faces)."}),
                "space": (list(SPACES), {"default": "wplus", "tooltip":
                          "wplus: straight lines between the faces' W+ codes. code: through the encoder, "
                          "like blends (re-timed so the motion stays even)."}),
                "loop": ("BOOLEAN", {"default": False, "tooltip":
                         "Walk back to the first face at the end, for a seamless looping video."}),
            },
            "optional": {
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip":
                               "Frames rendered at once; lower it if the GPU runs out of memory."}),
                **TRANSFORM_INPUTS,
            },
        }

    def morph(self, facespace, order, frames_per_transition, hold_frames, easing, space, loop, batch_size=8,
              translate_x=0.0, translate_y=0.0, rotate=0.0):
        plan = MorphPlan(parse_order(order, facespace.names), frames=frames_per_transition, hold=hold_frames,
                         easing=easing, space=space, loop=loop)
        return (render_morph(facespace, plan, runtime=runtime(), batch_size=batch_size,
                             transform=transform_from(translate_x, translate_y, rotate)),)


NODE_CLASS_MAPPINGS = {"FaceSpaceMorphSequence": FaceSpaceMorphSequence}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceMorphSequence": "MorphSequence"}
