"""A pickle reader that builds plain data only.

NVIDIA's pickles name classes whose real unpickling runs embedded source code (TensorFlow
networks exec `build_module_src`; StyleGAN2-ADA-PyTorch networks import `module_src`). Here every
global the pickle asks for must be on an allow-list: network classes map to inert holders that
keep their state as data, tensors and arrays are rebuilt by torch/numpy's own data-only
constructors, and anything else stops the load with `UnsafeFileError` naming the global.
"""
from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelFormatError, UnsafeFileError


class TFNetwork:
    """State of a `dnnlib.tflib.network.Network`: name, static_kwargs, components, variables (as data)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise ModelFormatError("TensorFlow network state is not a dict")
        self.state = state

    def variables(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Own variables and those of all components, named 'component/var' below the top network."""
        out = {prefix + name: value for name, value in self.state.get("variables", [])}
        for cname, comp in (self.state.get("components") or {}).items():
            if isinstance(comp, TFNetwork):
                out.update(comp.variables(prefix + cname + "/"))
        return out


class PersistentObject:
    """What `torch_utils.persistence._reconstruct_persistent_obj(meta)` would build, kept as `meta` only."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise ModelFormatError("persistent object metadata is not a dict")
        self.meta = meta

    def __setstate__(self, state):  # real persistent objects carry all their state in `meta`
        raise ModelFormatError("a persistent network is given extra state; expected its metadata only")

    @property
    def class_name(self) -> str:
        return str(self.meta.get("class_name", ""))

    @property
    def state(self) -> dict:
        s = self.meta.get("state")
        return s if isinstance(s, dict) else {}

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The module's state_dict, walked from `_parameters`, `_buffers` and `_modules`."""
        s = self.state
        out = {}
        for key in ("_parameters", "_buffers"):
            for name, t in (s.get(key) or {}).items():
                if isinstance(t, torch.Tensor) and name not in (s.get("_non_persistent_buffers_set") or ()):
                    out[prefix + name] = t.detach()
        for name, child in (s.get("_modules") or {}).items():
            if isinstance(child, PersistentObject):  # PlainModule included
                out.update(child.tensors(prefix + name + "."))
        return out


class PlainModule(PersistentObject):
    """A torch.nn module pickled by its class path (e.g. torch.nn.Identity): state kept as data."""

    def __init__(self, *args):
        self.meta = {"state": {}}

    def __setstate__(self, state):
        self.meta = {"state": state if isinstance(state, dict) else {}}


class EasyDict(dict):
    """dnnlib.util.EasyDict as a plain dict."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


class TypeName:
    """A class the file names as data only (the type argument of a rebuild function); never built."""

    def __new__(cls, *args, **kwargs):
        raise ModelFormatError(f"the pickle tries to construct {cls.__doc__} directly; expected it only as the "
                               "type argument of a tensor or array rebuild")


def _type_name(qualname: str) -> type:
    return type(qualname, (TypeName,), {"__doc__": qualname})


TENSOR_TYPE, PARAMETER_TYPE, NDARRAY_TYPE = (_type_name(n) for n in ("torch.Tensor", "torch.nn.Parameter",
                                                                      "numpy.ndarray"))


def _reconstruct_ndarray(subtype, shape, dtype):
    """numpy's pickled arrays start as an empty `ndarray` of shape (0,); the data arrive with their state,
    whose size numpy checks against the bytes given. Any other start could allocate at will."""
    if subtype is not NDARRAY_TYPE or tuple(shape) != (0,):
        raise ModelFormatError(f"the pickle asks numpy for a {getattr(subtype, '__name__', subtype)} of shape "
                               f"{shape!r}; expected an array pickled by numpy")
    return _MA._reconstruct(np.ndarray, (0,), dtype)


class PlainOrderedDict(collections.OrderedDict):
    """collections.OrderedDict without instance attributes (a BUILD could otherwise shadow its methods)."""

    def __setstate__(self, state):
        raise ModelFormatError("an OrderedDict is given attributes; expected items only")


def _load_storage_from_bytes(b: bytes):
    return torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")


def _rebuild_parameter(data, requires_grad, backward_hooks, *args):
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    """Tensor subclasses (e.g. Parameter) pickled by newer torch: rebuild the plain tensor with `func`,
    which the allow-list has already vetted."""
    return func(*args)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, False, collections.OrderedDict())


def _reconstruct_persistent_obj(meta):
    return PersistentObject(meta)


def _numpy_reconstruct():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray


_MA = _numpy_reconstruct()
ALLOWED = {
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): TENSOR_TYPE,
    ("torch.nn.parameter", "Parameter"): PARAMETER_TYPE,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("collections", "OrderedDict"): PlainOrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy.core.multiarray", "scalar"): _MA.scalar,
    ("numpy._core.multiarray", "scalar"): _MA.scalar,
    ("numpy", "ndarray"): NDARRAY_TYPE,
    ("numpy", "dtype"): np.dtype,
}
# Harmless torch.nn containers that ADA-PyTorch networks may hold as plain (non-persistent) children.
PLAIN_MODULES = {("torch.nn.modules.linear", "Identity"), ("torch.nn.modules.container", "ModuleList"),
                 ("torch.nn.modules.container", "ModuleDict"), ("torch.nn.modules.container", "Sequential")}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source_name: str):
        super().__init__(file)
        self.source_name = source_name

    def find_class(self, module: str, name: str):
        module, name = python3_name(module, name)
        key = (module, name)
        if key in ALLOWED:
            return ALLOWED[key]
        if key in PLAIN_MODULES:
            return PlainModule
        raise UnsafeFileError(
            f"{self.source_name} asks to load '{module}.{name}', which is not on the allow-list of a StyleGAN "
            "file; refused, nothing from the file was run")

    def persistent_load(self, pid):
        raise ModelFormatError(f"{self.source_name} uses pickle persistent ids (a torch.save archive?); "
                               "expected an NVIDIA StyleGAN pickle")


def python3_name(module: str, name: str, proto: int = 2) -> tuple[str, str]:
    """Protocol 0-2 pickles may name Python 2 modules; map them the way pickle itself would."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


def pickle_globals(data: bytes) -> list[str]:
    """'module.name' of every global a pickle stream asks for, read from its opcodes without loading it."""
    found, memo, pushed, proto = [], {}, [], 2
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "PROTO":
                proto = arg
            elif op.name == "GLOBAL":
                module, name = arg.split(" ", 1)
                found.append(".".join(python3_name(module, name, proto)))
            elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                pushed.append(arg)
            elif op.name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = pushed[-1] if pushed else None
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                pushed.append(memo.get(int(arg)))
            elif op.name == "STACK_GLOBAL" and len(pushed) >= 2:
                found.append(".".join(python3_name(str(pushed[-2]), str(pushed[-1]), proto)))
    except Exception:  # a damaged stream: report what was read so far
        pass
    return found


def torch_archive_globals(path: Path) -> list[str]:
    """Globals named by the pickle inside a torch.save zip archive."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("data.pkl"))
            return pickle_globals(z.read(name))
    except (zipfile.BadZipFile, StopIteration, OSError, KeyError):
        return []


def safe_load_pickle(path: Path):
    """Unpickle `path` with the allow-list. Damaged files raise ModelFormatError naming the file."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, path.name).load()
    except ModelFormatError as exc:
        if path.name in str(exc):
            raise
        raise type(exc)(f"{path.name}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, UnicodeDecodeError, MemoryError, OverflowError) as exc:
        raise ModelFormatError(f"{path.name} is a damaged or truncated pickle ({type(exc).__name__}: {exc}); "
                               "expected an NVIDIA StyleGAN .pkl") from None
