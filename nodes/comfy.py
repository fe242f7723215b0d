"""The only module that touches ComfyUI.

Inside ComfyUI it serves the library's `Runtime` from ComfyUI's model management
(ModelPatcher + load_models_gpu, ProgressBar with previews, the interrupt flag, model
folders). Outside ComfyUI, e.g. in the tests, the same nodes run on `PlainRuntime`.
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path

import torch

from facespace.fileio import is_temporary
from facespace.runtime import MODEL_KINDS, PlainRuntime, Progress, Runtime

try:  # ComfyUI's modules are importable only inside a running ComfyUI.
    import comfy.model_management as model_management
    import comfy.model_patcher
    import comfy.utils
    import folder_paths

    IN_COMFYUI = True
except ImportError:
    IN_COMFYUI = False

# Our model kinds -> ComfyUI folder names (ComfyUI's names are global, so the less common ones are prefixed).
FOLDER_NAMES = {"stylegan": "stylegan", "facespace": "facespace", "landmarks": "facespace_landmarks", "vgg": "facespace_vgg",
                "stylegan_latents": "facespace_latents"}
DEFAULT_SUBDIRS = {"stylegan": "stylegan", "facespace": "facespace", "landmarks": "landmarks", "vgg": "vgg",
                   "stylegan_latents": "stylegan_latents"}
MODEL_EXTENSIONS = {
    "stylegan": {".pkl", ".pt", ".pth", ".safetensors"},
    "facespace": {".safetensors"},
    "landmarks": set(),
    "vgg": {".pth", ".pt", ".safetensors"},
    "stylegan_latents": {".safetensors", ".npy"},
}


def register_model_folders() -> None:
    """Add models/<kind> for each kind, after any folders the user configured (extra_model_paths.yaml)."""
    for kind in MODEL_KINDS:
        name = FOLDER_NAMES[kind]
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, DEFAULT_SUBDIRS[kind]))
        paths, exts = folder_paths.folder_names_and_paths[name]
        if not exts and MODEL_EXTENSIONS[kind]:
            folder_paths.folder_names_and_paths[name] = (paths, set(MODEL_EXTENSIONS[kind]))


class ComfyProgress(Progress):
    def __init__(self, total: int, desc: str = ""):
        super().__init__(total, desc)
        self._bar = comfy.utils.ProgressBar(self.total)

    def update(self, n: int = 1, preview=None, status: str | None = None) -> None:
        super().update(n)
        self._bar.update_absolute(self.n, self.total, ("JPEG", preview, 512) if preview is not None else None)


class ComfyRuntime(Runtime):
    """ComfyUI's device, memory management, progress bar, cancel button and model folders."""

    def __init__(self):
        self._patchers: "weakref.WeakKeyDictionary[torch.nn.Module, object]" = weakref.WeakKeyDictionary()

    def device(self) -> torch.device:
        return model_management.get_torch_device()

    def output_device(self) -> torch.device:
        return model_management.intermediate_device()

    def load(self, module: torch.nn.Module) -> torch.nn.Module:
        patcher = self._patchers.get(module)
        if patcher is None:
            patcher = comfy.model_patcher.ModelPatcher(
                module, load_device=self.device(), offload_device=model_management.unet_offload_device())
            self._patchers[module] = patcher
        # Partial (low-VRAM) loading only understands comfy.ops layers: load our plain modules whole.
        model_management.load_models_gpu([patcher], force_full_load=True)
        return patcher.model

    def progress(self, total: int, desc: str = "") -> Progress:
        return ComfyProgress(total, desc)

    def check_cancel(self) -> None:
        model_management.throw_exception_if_processing_interrupted()

    def model_dirs(self, kind: str) -> list[Path]:
        return [Path(p) for p in folder_paths.get_folder_paths(FOLDER_NAMES[kind])]


class _CountOnly(Progress):
    """Progress that passes the counts on but no preview pictures."""

    def __init__(self, inner: Progress):
        super().__init__(inner.total, inner.desc)
        self._inner = inner

    def update(self, n: int = 1, preview=None, status: str | None = None) -> None:
        super().update(n)
        self._inner.update(n, None, status)

    def close(self) -> None:
        self._inner.close()


class WithoutPreviews(Runtime):
    """The same runtime, but its progress shows no pictures.

    ComfyUI keeps the last progress picture on a node after the run, enlarged. For nodes whose
    results are the pictures (alignment, sampling, blends, morphs) that stale copy only gets in the
    way, so they report progress without pictures; training keeps its previews of the reconstructions.
    """

    def __init__(self, base: Runtime):
        self.base = base

    def device(self):
        return self.base.device()

    def output_device(self):
        return self.base.output_device()

    def load(self, module):
        return self.base.load(module)

    def progress(self, total: int, desc: str = "") -> Progress:
        return _CountOnly(self.base.progress(total, desc))

    def check_cancel(self) -> None:
        self.base.check_cancel()

    def model_dirs(self, kind: str):
        return self.base.model_dirs(kind)

    def grad_enabled(self):
        return self.base.grad_enabled()


_runtime: Runtime | None = None


def runtime(previews: bool = True) -> Runtime:
    """The runtime every node uses: ComfyUI's when running inside it, plain torch otherwise."""
    global _runtime
    if _runtime is None:
        _runtime = ComfyRuntime() if IN_COMFYUI else PlainRuntime(show_progress=False)
    return _runtime if previews else WithoutPreviews(_runtime)


def list_models(kind: str) -> list[str]:
    """File names offered in a node's dropdown for a model kind."""
    if IN_COMFYUI:
        return [n for n in folder_paths.get_filename_list(FOLDER_NAMES[kind]) if not is_temporary(n)]
    names = []
    for d in runtime().model_dirs(kind):
        if d.is_dir():
            exts = MODEL_EXTENSIONS[kind]
            names += sorted(str(p.relative_to(d)) for p in d.rglob("*")
                            if p.is_file() and (not exts or p.suffix.lower() in exts) and not is_temporary(p.name))
    return names


def model_path(kind: str, name: str) -> Path:
    """Full path of a file picked from a dropdown; an absolute path is taken as it is."""
    if os.path.isabs(name):
        return Path(name)
    if IN_COMFYUI:
        return Path(folder_paths.get_full_path_or_raise(FOLDER_NAMES[kind], name))
    for d in runtime().model_dirs(kind):
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(f"model file {name!r} not found in {[str(d) for d in runtime().model_dirs(kind)]}")


def save_dir(kind: str) -> Path:
    """Where a node saves new files of this kind: the first configured folder."""
    return runtime().model_dirs(kind)[0]


def input_path(path: str) -> Path:
    """A path typed into a node: relative paths are read from ComfyUI's input folder (else the working folder)."""
    path = Path(path).expanduser()
    if path.is_absolute() or not IN_COMFYUI:
        return path
    return Path(folder_paths.get_input_directory()) / path


def send_to_browser(event: str, data: dict) -> None:
    """Push a message to the front end (a no-op outside ComfyUI)."""
    if IN_COMFYUI:
        from server import PromptServer

        PromptServer.instance.send_sync(event, data)


if IN_COMFYUI:
    register_model_folders()
