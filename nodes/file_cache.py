"""Objects read from model files, kept per (path, modification time, size): a re-queued workflow does not
read the file again, and a file replaced on disk is read afresh."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """The `size` most recently used objects made by `read(path)`."""

    def __init__(self, read: Callable[[Path], T], size: int):
        self.read, self.size = read, size
        self.entries: "OrderedDict[tuple, T]" = OrderedDict()

    def get(self, path: Path) -> T:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
        if key not in self.entries:
            self.entries[key] = self.read(path)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        self.entries.move_to_end(key)
        return self.entries[key]
