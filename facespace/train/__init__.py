"""Learn a FaceSpace from a few aligned faces: losses, schedules and the trainer."""
from ..space import (ENCODER_KINDS, FaceSpace, LinearEncoder, MLPEncoder, build_encoder,
                     load_facespace, make_encoder, read_facespace_info, save_facespace)
from .settings import SCHEDULES, TrainSettings
from .trainer import train_facespace

__all__ = [
    "ENCODER_KINDS", "FaceSpace", "LinearEncoder", "MLPEncoder", "SCHEDULES", "TrainSettings",
    "build_encoder", "load_facespace", "make_encoder", "read_facespace_info", "save_facespace", "train_facespace",
]
