"""A plain CPU runtime for tests: records every progress update and can be told to cancel after some."""
from typing import NamedTuple

from facespace.errors import Cancelled
from facespace.runtime import PlainRuntime, Progress


class Update(NamedTuple):
    done: int      # the bar's count after this update
    total: int
    preview: object  # a PIL image or None
    status: str | None


class RecordingRuntime(PlainRuntime):
    def __init__(self, cancel_after: int | None = None):
        super().__init__("cpu", show_progress=False)
        self.updates: list[Update] = []
        self.cancel_after = cancel_after

    @property
    def previews(self) -> list:
        return [u.preview for u in self.updates if u.preview is not None]

    def progress(self, total, desc=""):
        runtime = self

        class Recorded(Progress):
            def update(self, n=1, preview=None, status=None):
                super().update(n)
                runtime.updates.append(Update(self.n, self.total, preview, status))

        return Recorded(total, desc)

    def check_cancel(self):
        if self.cancel_after is not None and len(self.updates) >= self.cancel_after:
            raise Cancelled("cancelled by the user")
