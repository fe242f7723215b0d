"""StyleGAN generators in pure PyTorch: StyleGAN1 (NVIDIA FFHQ config), StyleGAN2 (config-f, ADA-PyTorch) and
StyleGAN3 (configs T and R).

`load_generator(path)` reads any supported file (NVIDIA TensorFlow pickles, StyleGAN2-ADA-PyTorch and
StyleGAN3 pickles, rosinality .pt, the pack's own .safetensors) chosen by content, never running code from it.
"""
from .generator import Generator, build_generator
from .handle import DTYPES, StyleGAN, z_from_seeds
from .loaders import detect_format, load_generator
from .native import save_generator
from .stylegan3 import input_transform
from .tiny import tiny_generator

__all__ = ["Generator", "StyleGAN", "DTYPES", "build_generator", "load_generator", "save_generator",
           "tiny_generator", "detect_format", "z_from_seeds", "input_transform"]
