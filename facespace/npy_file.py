"""The one .npy reader of the library (latents, directions): the header is checked against the file first."""
from __future__ import annotations

import os
import tokenize
from pathlib import Path

import numpy as np

from .errors import FaceSpaceError
from .limits import one_line

# numpy parses the header with Python's tokenizer and literal_eval, which raise these for damaged headers
_HEADER_ERRORS = (OSError, ValueError, MemoryError, SyntaxError, TypeError, KeyError, IndexError, RuntimeError,
                  tokenize.TokenError)


def read_npy(path: str | os.PathLike, what: str = "an array") -> np.ndarray:
    """A plain numeric array from a .npy file (no pickles); its header's shape must fit the file's bytes
    before numpy allocates anything, and every error is one line naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            held = os.fstat(f.fileno()).st_size - f.tell()
        if int(np.prod(shape, dtype=object)) * dtype.itemsize > held:
            raise FaceSpaceError(f"cannot read {what} from {path}: its header declares shape {shape} of {dtype}, "
                                 f"more than the file's {held} bytes hold")
        return np.load(path, allow_pickle=False)
    except FaceSpaceError:
        raise
    except _HEADER_ERRORS as exc:
        raise FaceSpaceError(f"cannot read {what} from {path}: {type(exc).__name__}: {one_line(exc)[:160]}") from None
