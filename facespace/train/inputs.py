"""What training starts from: the faces as 0..1 targets and one usable name per face."""
from __future__ import annotations

import torch

from ..errors import FaceSpaceError
from ..imageops import image_to_native, pil_to_image
from ..names import names_for


def training_names(names, count: int) -> list[str]:
    """One name per face from a list or a comma/semicolon/newline separated text; none -> face_01, face_02, ...

    Names follow the rules of alignment and weights text: cleaned by `clean_name`, made unique ignoring
    case by `unique_names` ('anna, Anna' -> 'anna, Anna_2').
    """
    return names_for(names, count, "face_names", "face")


def unit_targets(images) -> torch.Tensor:
    """IMAGE [N,H,W,C] 0..1 (or a list of PIL images of one size) -> [N,3,H,W] 0..1 float32 on the CPU.

    A fresh, ordinary tensor even when the input was made under inference mode, so training can use it.
    """
    if isinstance(images, (list, tuple)) and images and not torch.is_tensor(images[0]):
        images = pil_to_image(images)
    if not torch.is_tensor(images):
        raise FaceSpaceError(f"images: expected an IMAGE batch [N,H,W,3] of aligned faces, got {type(images).__name__}")
    if images.ndim not in (3, 4) or images.shape[-1] not in (1, 3, 4):
        raise FaceSpaceError(f"images: expected an IMAGE batch [N,H,W,3] of aligned faces, got shape "
                             f"{tuple(images.shape)}")
    if images.ndim == 4 and images.shape[0] == 0:
        raise FaceSpaceError("images: no faces given to train on; connect an IMAGE batch of aligned faces")
    if images.ndim == 3 or images.shape[0] < 2:
        raise FaceSpaceError("images: one face given; a FaceSpace needs at least two faces (blends and morphs "
                             "mix faces), and 6-10 work best")
    height, width = images.shape[-3], images.shape[-2]
    if height != width:
        raise FaceSpaceError(f"images: the faces are {width}x{height} pixels; aligned faces are square "
                             f"(run the photos through AlignFaces first)")
    with torch.inference_mode(False):
        x = image_to_native(images.detach().float().cpu().clone())
        return ((x + 1) * 0.5).clamp(0, 1)
