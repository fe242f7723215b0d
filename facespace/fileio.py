"""Atomic, never-silently-overwriting file writes."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import FaceSpaceError, OutputExistsError


# Picture files the commands write (the format follows the ending).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse to replace an existing file unless the user asked for it."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if not overwrite and path.exists():
            raise FaceSpaceError(f"{path} appeared while writing; not overwritten")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_picture(picture, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a PIL picture atomically; the format follows the file ending (.png, .jpg, .webp ...)."""
    with atomic_path(path, overwrite) as tmp:
        picture.save(tmp)  # the temporary name keeps the ending, so PIL picks the same format
    return Path(path)


def save_numbered_pictures(pictures, folder: str | os.PathLike, prefix: str, overwrite: bool = False,
                           start: int = 0, min_digits: int = 5) -> list[Path]:
    """PNGs `prefix_00000.png`, `prefix_00001.png` ... in `folder` (created).

    Every name is checked before the first is written, so a refused run leaves the folder as it was.
    """
    folder = Path(folder)
    digits = max(min_digits, len(str(start + len(pictures) - 1)))
    paths = [folder / f"{prefix}_{start + i:0{digits}d}.png" for i in range(len(pictures))]
    for path in paths:
        check_writable(path, overwrite)
    for path, picture in zip(paths, pictures):
        save_picture(picture, path, overwrite)
    return paths
