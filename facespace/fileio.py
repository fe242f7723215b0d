"""Atomic, never-silently-overwriting file writes."""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .errors import FaceSpaceError, OutputExistsError


# Picture files the commands write (the format follows the ending).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


OS_REASONS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
              errno.EROFS: "the folder is on a read-only file system", errno.EACCES: "permission denied",
              errno.EPERM: "permission denied", errno.ENAMETOOLONG: "the file name is too long",
              errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EISDIR: "it is a folder",
              errno.EFBIG: "the file grows past what this disk or process may write"}
TEMP_MARK = ".facespace-part-"  # in the names of files being written; a killed save may leave one behind
STALE_AFTER_S = 24 * 3600


def os_error_text(exc: OSError) -> str:
    """An OSError as a short reason (no errno numbers, no second line)."""
    return OS_REASONS.get(exc.errno) or (exc.strerror or str(exc) or type(exc).__name__).splitlines()[0].lower()


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse to replace an existing file unless the user asked for it."""
    path = Path(path)
    try:
        exists = path.exists()
    except OSError as exc:
        raise FaceSpaceError(f"cannot write {path}: {os_error_text(exc)}") from None
    if exists and not overwrite:
        raise OutputExistsError(path)
    return path


def is_temporary(name: str) -> bool:
    """A file being written (or left by a killed save): never offered as a model or picture."""
    name = Path(name).name
    return TEMP_MARK in name or (name.startswith(".") and ".part." in name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove temporary files of saves that were killed: their process is gone, or they are a day old."""
    removed = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".") and is_temporary(p.name)]
    except OSError:
        return removed
    now = time.time()
    for p in candidates:
        head, _, rest = p.name.partition(TEMP_MARK)
        pid = rest.split("-", 1)[0]
        try:
            dead = (pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)))
            if dead or now - p.lstat().st_mtime > STALE_AFTER_S:
                p.unlink()
                removed.append(p)
        except OSError:
            pass
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = check_writable(path, overwrite)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(path.parent)
        # the temporary name keeps the ending (PIL picks the format from it); the pid lets a later save
        # in this folder tell a killed save's leftover from a running one
        fd, name = tempfile.mkstemp(prefix=f".{path.name[:100]}{TEMP_MARK}{os.getpid()}-", suffix=path.suffix[:20],
                                    dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        if not overwrite and path.exists():
            raise FaceSpaceError(f"{path} appeared while writing; not overwritten")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        raise FaceSpaceError(f"cannot write {path}: {os_error_text(exc)}") from None
    except Exception as exc:
        if type(exc).__name__ == "SafetensorError":  # safetensors reports write failures with its own type
            raise FaceSpaceError(f"cannot write {path}: {str(exc).splitlines()[0][:120]}") from None
        raise
    finally:
        if tmp is not None and tmp.exists():
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
