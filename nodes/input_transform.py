"""Optional translate / rotate inputs of the rendering nodes: StyleGAN3's input transform."""
from facespace.stylegan.stylegan3 import input_transform

TRANSFORM_INPUTS = {
    "translate_x": ("FLOAT", {"default": 0.0, "min": -1.0, "max": 1.0, "step": 0.01, "tooltip":
                    "StyleGAN3 only: pan the image right (negative: left), in image widths."}),
    "translate_y": ("FLOAT", {"default": 0.0, "min": -1.0, "max": 1.0, "step": 0.01, "tooltip":
                    "StyleGAN3 only: pan the image down (negative: up), in image heights."}),
    "rotate": ("FLOAT", {"default": 0.0, "min": -360.0, "max": 360.0, "step": 1.0, "tooltip":
               "StyleGAN3 only: turn the image counter-clockwise by this many degrees."}),
}


def transform_from(translate_x=0.0, translate_y=0.0, rotate=0.0):
    """The transform for these inputs, or None when all are 0 (so other generator families render as before)."""
    if not (translate_x or translate_y or rotate):
        return None
    return input_transform((float(translate_x), float(translate_y)), float(rotate))
