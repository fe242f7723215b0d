"""Save FaceSpace / Load FaceSpace: FaceSpace files in models/facespace."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from facespace.errors import FaceSpaceError
from facespace.space import load_facespace, save_facespace

from .comfy import list_models, model_path, save_dir
from .file_cache import FileCache

_LOADED = FileCache(load_facespace, size=4)


def facespace_file_path(folder: Path, name: str, what: str = "FaceSpace") -> Path:
    """<folder>/<name>.safetensors; the name may hold sub-folders but never leave the folder."""
    name = str(name).strip()
    if not name:
        raise FaceSpaceError(f"give the {what} a file name")
    if not name.lower().endswith(".safetensors"):
        name += ".safetensors"
    parts = re.split(r"[\\/]+", name)
    if any(p in ("", ".", "..") for p in parts) or Path(name).is_absolute():
        raise FaceSpaceError(f"{what} file name {name!r} must be a plain name inside {folder}")
    return Path(folder).joinpath(*parts)


def holds_same_facespace(path: Path, fs) -> bool:
    """The file at `path` is this FaceSpace: same faces, generator, encoder weights and W+ table."""
    try:
        saved = load_facespace(path)
    except (FaceSpaceError, OSError):
        return False
    if (saved.names, saved.generator_fingerprint, saved.encoder_kind) != (
            list(fs.names), fs.generator_fingerprint, fs.encoder_kind):
        return False
    mine, theirs = fs.encoder.state_dict(), saved.encoder.state_dict()
    return (mine.keys() == theirs.keys() and torch.equal(saved.wplus_table, fs.wplus_table.detach().float().cpu())
            and all(torch.equal(theirs[k], mine[k].detach().float().cpu()) for k in mine))


def save_to_models(fs, name: str, overwrite: bool) -> Path:
    """Save `fs` as models/facespace/<name>.safetensors for a node with an `overwrite` toggle.

    Saving the same FaceSpace again (a re-run after ComfyUI dropped its cache) leaves the file as it is;
    a different FaceSpace under a name in use is refused unless `overwrite` is on.
    """
    path = facespace_file_path(save_dir("facespace"), name)
    return save_unless_same(path, fs, holds_same_facespace, save_facespace, overwrite, "a different FaceSpace")


def save_unless_same(path: Path, value, holds_same, save, overwrite: bool, other: str) -> Path:
    """A node's save: the same value already in the file is left as it is (a re-run after ComfyUI dropped its
    cache); `other` (what else the file holds) is replaced only with the node's `overwrite` on."""
    if path.exists() and holds_same(path, value):
        return path
    if path.exists() and not overwrite:
        raise FaceSpaceError(f"{path} already exists and holds {other}; choose another name, or switch on this "
                             f"node's `overwrite` to replace it")
    return save(value, path, overwrite=bool(overwrite))


class FaceSpaceSave:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "facespace": ("FACESPACE", {"tooltip": "The FaceSpace to save (from TrainFaceSpaceEncoder)."}),
                "name": ("STRING", {"default": "facespace",
                                    "tooltip": "File name in models/facespace (.safetensors is added)."}),
                "overwrite": ("BOOLEAN", {"default": False,
                                          "tooltip": "Replace an existing file of that name that holds another "
                                                     "FaceSpace (saving the same FaceSpace again is always fine)."}),
            }
        }

    RETURN_TYPES = ()
    OUTPUT_TOOLTIPS = ()
    OUTPUT_NODE = True
    FUNCTION = "save"
    CATEGORY = "FaceSpace"
    DESCRIPTION = "Save a FaceSpace (encoder, per-face W+ and training record) to models/facespace."

    def save(self, facespace, name="facespace", overwrite=False):
        path = save_to_models(facespace, name, bool(overwrite))
        return {"ui": {"facespace_names": list(facespace.names), "facespace_file": [path.name]}}


class FaceSpaceLoad:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "The generator the FaceSpace was trained with."}),
                "file": (list_models("facespace"), {"tooltip": "A FaceSpace file in models/facespace."}),
                "allow_mismatch": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Use the FaceSpace with a generator other than the one it was trained for "
                               "(the faces will not match)."}),
            }
        }

    RETURN_TYPES = ("FACESPACE",)
    RETURN_NAMES = ("facespace",)
    OUTPUT_TOOLTIPS = ("The loaded FaceSpace, bound to the generator.",)
    FUNCTION = "load"
    CATEGORY = "FaceSpace"
    DESCRIPTION = "Load a saved FaceSpace, bound to the generator it renders with."

    def load(self, stylegan, file, allow_mismatch=False):
        path = model_path("facespace", file)
        fs = _LOADED.get(path).bound_to(stylegan, allow_mismatch=bool(allow_mismatch), source=str(path))
        return {"ui": {"facespace_names": list(fs.names)}, "result": (fs,)}


NODE_CLASS_MAPPINGS = {"FaceSpaceSave": FaceSpaceSave, "FaceSpaceLoad": FaceSpaceLoad}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceSave": "Save FaceSpace", "FaceSpaceLoad": "Load FaceSpace"}
