"""The FaceSpace value: named faces, the encoder from face codes to W+, and its file format."""
from .encoders import ENCODER_KINDS, LinearEncoder, MLPEncoder, build_encoder, make_encoder
from .file import load_facespace, read_facespace_info, save_facespace
from .model import FaceSpace

__all__ = [
    "ENCODER_KINDS", "FaceSpace", "LinearEncoder", "MLPEncoder", "build_encoder",
    "load_facespace", "make_encoder", "read_facespace_info", "save_facespace",
]
