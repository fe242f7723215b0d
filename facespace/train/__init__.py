"""Learn a FaceSpace from a few aligned faces: encoders, losses, schedules, the trainer and the file format."""
from .encoders import ENCODER_KINDS, LinearEncoder, MLPEncoder, build_encoder, make_encoder
from .facespace_file import attach_stylegan, load_facespace, read_facespace_info, save_facespace
from .facespace_model import FaceSpace
from .settings import SCHEDULES, TrainSettings
from .trainer import train_facespace

__all__ = [
    "ENCODER_KINDS", "FaceSpace", "LinearEncoder", "MLPEncoder", "SCHEDULES", "TrainSettings", "attach_stylegan",
    "build_encoder", "load_facespace", "make_encoder", "read_facespace_info", "save_facespace", "train_facespace",
]

