"""Reading the photos users have: files and folders of JPEG/PNG/WebP, or an IMAGE batch.

Every photo becomes an 8-bit RGB PIL image the right way up (EXIF orientation applied); transparent
pixels are put on white, greyscale and 16-bit pictures are widened to RGB.
"""
from __future__ import annotations

import os
import struct
import warnings
import weakref
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import FaceSpaceError
from ..imageops import image_to_pil
from ..limits import LIMITS, one_line
from ..names import clean_name, split_list

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
BACKGROUND = (255, 255, 255)


class Photo:
    """One input photo. Photos from files are decoded when their `image` is first used, and only one
    such photo is held decoded at a time (a folder of large photos never sits in memory at once)."""

    _last: "weakref.ref[Photo] | None" = None  # the file photo decoded most recently

    def __init__(self, image: Image.Image | None, name: str, source: str, path: Path | None = None):
        self._image, self.name, self.source, self.path = image, name, source, path
        self._decoded: Image.Image | None = None

    @property
    def image(self) -> Image.Image:
        """RGB, upright."""
        if self._image is not None or self.path is None:
            return self._image
        if self._decoded is None:
            previous = Photo._last() if Photo._last is not None else None
            if previous is not None:
                previous._decoded = None  # let the previous photo go before decoding the next
            self._decoded = load_photo(self.path)
            Photo._last = weakref.ref(self)
        return self._decoded


# Errors PIL raises for damaged or hostile files, besides OSError (some plugins raise SyntaxError).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError,
                  ZeroDivisionError, Image.DecompressionBombError)


def photo_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height from the file's header (nothing decoded); refuses more than LIMITS.photo_pixels."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(path) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise FaceSpaceError(f"{path} has more pixels than PIL will open; photos of up to "
                             f"{LIMITS.photo_pixels / 1e6:.0f} MP are read: scale it down first") from None
    except _DECODE_ERRORS as exc:
        raise FaceSpaceError(f"{path} is not a picture that can be read ({one_line(exc)[:120]}); "
                             f"expected a JPEG, PNG or WebP photo") from None
    if width * height > LIMITS.photo_pixels:
        raise FaceSpaceError(f"{path} is {width}x{height} pixels ({width * height / 1e6:.0f} MP); photos of up to "
                             f"{LIMITS.photo_pixels / 1e6:.0f} MP are read: scale it down first")
    return width, height


def load_photo(path: str | os.PathLike) -> Image.Image:
    """An upright 8-bit RGB picture from any file PIL reads (its pixel count checked before decoding)."""
    path = Path(path)
    photo_size(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                return to_rgb(img)
    except MemoryError:
        raise FaceSpaceError(f"{path}: out of memory while decoding it; scale the photo down") from None
    except _DECODE_ERRORS as exc:
        raise FaceSpaceError(f"{path} is not a picture that can be read ({one_line(exc)[:120]}); "
                             f"expected a JPEG, PNG or WebP photo") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode: alpha composited over white, 16-bit and float greyscale scaled to 8 bits."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.uint8(np.clip(np.rint(arr / top * 255.0), 0, 255)), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


def list_photos(folder: str | os.PathLike) -> list[Path]:
    """Photo files directly in a folder, sorted by name (hidden files skipped)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FaceSpaceError(f"photo folder {folder} does not exist or is not a folder")
    files = sorted((p for p in folder.iterdir()
                    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PHOTO_EXTENSIONS),
                   key=lambda p: p.name.lower())
    if not files:
        raise FaceSpaceError(f"photo folder {folder} holds no photos ({', '.join(PHOTO_EXTENSIONS)})")
    return files


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders replaced by the photos in them."""
    out: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            out += list_photos(p)
        elif p.is_file():
            out.append(p)
        else:
            raise FaceSpaceError(f"input {p} does not exist; expected a photo file or a folder of photos")
    return out


def batch_photos(images: torch.Tensor) -> list[Image.Image]:
    """IMAGE [N,H,W,C] (C = 1, 3 or 4; alpha composited over white) -> RGB pictures."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise FaceSpaceError(f"images: expected an IMAGE batch [N,H,W,3], got shape {tuple(images.shape)}")
    images = images.detach().float().cpu()
    if images.shape[-1] == 4:
        alpha = images[..., 3:4].clamp(0, 1)
        images = images[..., :3] * alpha + (1 - alpha)
    elif images.shape[-1] == 1:
        images = images.expand(*images.shape[:3], 3)
    return image_to_pil(images)


def gather_photos(images: torch.Tensor | None = None, folder: str | os.PathLike | None = None,
                  files: Sequence[str | os.PathLike] = (), names: str | Sequence[str] | None = None) -> list[Photo]:
    """All input photos in order: the IMAGE batch, then the folder's photos, then the files.

    Names come from `names` when given (one per photo; comma, semicolon or newline separated),
    else from file names ('face_01'... for an IMAGE batch), cleaned by `clean_name`.
    """
    photos: list[Photo] = []
    if images is not None:
        pics = batch_photos(images)
        photos += [Photo(p, f"face_{i + 1:02d}", f"images[{i}]") for i, p in enumerate(pics)]
    paths: list[Path] = []
    if folder:
        paths += list_photos(folder)
    paths += expand_inputs(files)
    for p in paths:
        photo_size(p)  # every file is checked before the first is decoded
    photos += [Photo(None, p.stem, str(p), path=p) for p in paths]
    if not photos:
        raise FaceSpaceError("no photos given: connect an IMAGE batch or give a folder of photos")
    given = split_list(names)
    if given:
        if len(given) != len(photos):
            raise FaceSpaceError(f"names: got {len(given)} name(s) for {len(photos)} photo(s); give one name per photo "
                                 f"(comma, semicolon or newline separated) or leave names empty to use file names")
        for photo, name in zip(photos, given):
            photo.name = name
    for photo in photos:
        photo.name = clean_name(photo.name)
    return photos
