"""FaceSpace: blend and morph faces with StyleGAN, in pure PyTorch.

The path a user walks, one subpackage or module each:
load a generator (`facespace.stylegan`) -> align photos (`facespace.align`) ->
train a FaceSpace (`facespace.train`; the value and its file: `facespace.space`) -> blend (`facespace.blend`) -> morph (`facespace.morph`).
"""
from .errors import FaceSpaceError

__version__ = "0.1.0"

__all__ = ["FaceSpaceError", "__version__"]
