"""Where long work runs: device, model placement, progress, cancel and model folders.

The library never imports ComfyUI. It asks a `Runtime` for these services; `PlainRuntime`
serves them with plain torch (CUDA when available, else CPU), a console progress bar and
folders under $FACESPACE_MODELS (default ./models). The node pack passes a runtime backed
by ComfyUI's model management instead (nodes/comfy.py).
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, Optional

import torch

from .errors import Cancelled

# Model folder kinds: generators, trained FaceSpaces, landmark weights, VGG16 weights, saved W+ latents.
MODEL_KINDS = ("stylegan", "facespace", "landmarks", "vgg",
               "stylegan_latents")


class Progress:
    """Counts steps of one long job; `preview` is an optional PIL image to show the user."""

    def __init__(self, total: int, desc: str = ""):
        self.total = max(int(total), 1)
        self.n = 0
        self.desc = desc

    def update(self, n: int = 1, preview=None, status: str | None = None) -> None:
        self.n = min(self.n + n, self.total)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ConsoleProgress(Progress):
    """tqdm when it is installed, else a plain line on stderr every few percent."""

    def __init__(self, total: int, desc: str = ""):
        super().__init__(total, desc)
        self._bar = None
        self._last_pct = -1
        try:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, leave=False, file=sys.stderr)
        except ImportError:
            pass

    def update(self, n: int = 1, preview=None, status: str | None = None) -> None:
        super().update(n)
        if self._bar is not None:
            if status:
                self._bar.set_postfix_str(status, refresh=False)
            self._bar.update(n)
            return
        pct = 100 * self.n // self.total
        if pct >= self._last_pct + 5 or self.n == self.total:
            self._last_pct = pct
            print(f"{self.desc} {pct}% {status or ''}".rstrip(), file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Runtime:
    """Services the library needs from its host. Subclass to plug into another host."""

    def device(self) -> torch.device:
        raise NotImplementedError

    def output_device(self) -> torch.device:
        """Where finished images go (ComfyUI keeps IMAGE tensors on the CPU)."""
        return torch.device("cpu")

    def load(self, module: torch.nn.Module) -> torch.nn.Module:
        """Make `module` ready for a forward pass on `device()` and return the module to call."""
        raise NotImplementedError

    def progress(self, total: int, desc: str = "") -> Progress:
        return Progress(total, desc)

    def check_cancel(self) -> None:
        """Raise if the user asked to stop. Call it between steps of long work."""

    def model_dirs(self, kind: str) -> list[Path]:
        raise NotImplementedError

    @contextlib.contextmanager
    def grad_enabled(self) -> Iterator[None]:
        """Gradients on, even inside a host that runs everything under inference_mode."""
        with torch.inference_mode(False), torch.enable_grad():
            yield


class PlainRuntime(Runtime):
    """Plain torch: the given device, else CUDA when available, else CPU."""

    def __init__(self, device: Optional[str | torch.device] = None, models_dir: Optional[str | os.PathLike] = None,
                 show_progress: bool = True):
        if device is None or str(device) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        self._models_dir = Path(models_dir or os.environ.get("FACESPACE_MODELS", "models"))
        self._show_progress = show_progress
        self.cancel_requested = False

    def device(self) -> torch.device:
        return self._device

    def load(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(self._device)

    def progress(self, total: int, desc: str = "") -> Progress:
        return ConsoleProgress(total, desc) if self._show_progress else Progress(total, desc)

    def check_cancel(self) -> None:
        if self.cancel_requested:
            raise Cancelled("cancelled by the user")

    def model_dirs(self, kind: str) -> list[Path]:
        return [self._models_dir / kind]


_default: Optional[Runtime] = None


def get_runtime(runtime: Optional[Runtime] = None) -> Runtime:
    """`runtime` if given, else the process-wide default (a PlainRuntime unless set)."""
    global _default
    if runtime is not None:
        return runtime
    if _default is None:
        _default = PlainRuntime()
    return _default


def set_runtime(runtime: Optional[Runtime]) -> None:
    global _default
    _default = runtime
