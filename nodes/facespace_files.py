"""Save FaceSpace / Load FaceSpace: FaceSpace files in models/facespace."""
from __future__ import annotations

import re
from pathlib import Path

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


class FaceSpaceSave:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "facespace": ("FACESPACE", {"tooltip": "The FaceSpace to save (from TrainFaceSpaceEncoder)."}),
                "name": ("STRING", {"default": "facespace",
                                    "tooltip": "File name in models/facespace (.safetensors is added)."}),
                "overwrite": ("BOOLEAN", {"default": False,
                                          "tooltip": "Replace an existing file of that name; otherwise saving to "
                                                     "an existing name is an error."}),
            }
        }

    RETURN_TYPES = ()
    OUTPUT_TOOLTIPS = ()
    OUTPUT_NODE = True
    FUNCTION = "save"
    CATEGORY = "FaceSpace"
    DESCRIPTION = "Save a FaceSpace (encoder, per-face W+ and training record) to models/facespace."

    def save(self, facespace, name="facespace", overwrite=False):
        path = facespace_file_path(save_dir("facespace"), name)
        save_facespace(facespace, path, overwrite=bool(overwrite))
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
