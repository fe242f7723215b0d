"""A pickle reader that builds plain data only, at a cost bounded by the file.

NVIDIA's pickles name classes whose real unpickling runs embedded source code (TensorFlow
networks exec `build_module_src`; StyleGAN2-ADA-PyTorch networks import `module_src`). Here every
global the pickle asks for must be on an allow-list: network classes map to inert holders that
keep their state as data, tensors and arrays are rebuilt from bytes the file holds, and anything
else stops the load with `UnsafeFileError` naming the global.

The reader is Python's own pickle machine with every opcode that builds, hashes or allocates
replaced by a checked one: opcodes, nesting, keys, integers and claimed values are counted against
`LIMITS`; dtypes come only from plain numeric names; state (BUILD) goes only to fresh instances of
our holders, never to a class; a tensor must be a dense view of bytes the file stores.
"""
from __future__ import annotations

import _compat_pickle
import collections
import io
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelFormatError, UnsafeFileError
from ..limits import LIMITS, short


class Budget:
    """What one file may still ask for; nested pickles (storages inside a pickle) share it."""

    def __init__(self, source: str):
        self.source, self.ops, self.values, self.tensors = source, 0, 0, 0

    def claim(self, numel: int, what: str) -> None:
        self.values += numel
        self.tensors += 1
        if self.values > LIMITS.values or self.tensors > LIMITS.tensors:
            raise ModelFormatError(f"{self.source}: {what} takes the file past {LIMITS.values:,} values or "
                                   f"{LIMITS.tensors:,} tensors; far more than any StyleGAN file holds")


# ---------------------------------------------------------------- inert holders

class TFNetwork:
    """State of a `dnnlib.tflib.network.Network`: name, static_kwargs, components, variables (as data)."""

    def __init__(self):
        self.state = {}

    def take_state(self, state):
        if not isinstance(state, dict):
            raise ModelFormatError("TensorFlow network state is not a dict")
        self.state = state
        return self

    def variables(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Own variables and those of all components, named 'component/var' below the top network."""
        out = {}
        for item in self.state.get("variables") or []:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                out[prefix + item[0]] = item[1]
        components = self.state.get("components")
        for cname, comp in (components.items() if isinstance(components, dict) else ()):
            if isinstance(comp, TFNetwork) and isinstance(cname, str):
                out.update(comp.variables(prefix + cname + "/"))
        return out


class PersistentObject:
    """What `torch_utils.persistence._reconstruct_persistent_obj(meta)` would build, kept as `meta` only."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise ModelFormatError("persistent object metadata is not a dict")
        self.meta = meta

    def take_state(self, state):  # real persistent objects carry all their state in `meta`
        raise ModelFormatError("a persistent network is given extra state; expected its metadata only")

    @property
    def class_name(self) -> str:
        name = self.meta.get("class_name", "")
        return name if isinstance(name, str) else ""

    @property
    def state(self) -> dict:
        s = self.meta.get("state")
        return s if isinstance(s, dict) else {}

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The module's state_dict, walked from `_parameters`, `_buffers` and `_modules`."""
        s = self.state
        out = {}
        skip = s.get("_non_persistent_buffers_set")
        skip = skip if isinstance(skip, (set, frozenset)) else ()
        for key in ("_parameters", "_buffers"):
            group = s.get(key)
            for name, t in (group.items() if isinstance(group, dict) else ()):
                if isinstance(t, torch.Tensor) and isinstance(name, str) and name not in skip:
                    out[prefix + name] = t.detach()
        modules = s.get("_modules")
        for name, child in (modules.items() if isinstance(modules, dict) else ()):
            if isinstance(child, PersistentObject) and isinstance(name, str):  # PlainModule included
                out.update(child.tensors(prefix + name + "."))
        return out


class PlainModule(PersistentObject):
    """A torch.nn module pickled by its class path (e.g. torch.nn.Identity): state kept as data."""

    def __init__(self):
        self.meta = {"state": {}}

    def take_state(self, state):
        self.meta = {"state": state if isinstance(state, dict) else {}}
        return self


class EasyDict(dict):
    """dnnlib.util.EasyDict as a plain dict."""

    def take_state(self, state):
        if isinstance(state, dict):
            for k, v in state.items():
                self[k] = v
        return self


class PlainOrderedDict(collections.OrderedDict):
    """collections.OrderedDict without instance attributes (a BUILD could otherwise shadow its methods)."""

    def take_state(self, state):
        # torch state dicts carry their `_metadata` (module versions) as an attribute: read and dropped
        if not (isinstance(state, dict) and set(state) <= {"_metadata"}):
            raise ModelFormatError("an OrderedDict is given attributes; expected items only")
        return self


class Namespace:
    """argparse.Namespace (training checkpoints keep their command-line `args`): its values as a dict."""

    def __init__(self):
        self.values = {}

    def take_state(self, state):
        if not isinstance(state, dict):
            raise ModelFormatError("an argparse.Namespace is given state that is not a dict")
        self.values = dict(state)
        return self

    def get(self, name: str, default=None):
        return self.values.get(name, default)


class TypeName:
    """A class the file names as data only (the type argument of a rebuild function); never built."""

    def __new__(cls, *args, **kwargs):
        raise ModelFormatError(f"the pickle tries to construct {cls.__doc__} directly; expected it only as the "
                               "type argument of a tensor or array rebuild")


def _type_name(qualname: str, **attrs) -> type:
    return type(qualname, (TypeName,), {"__doc__": qualname, **attrs})


TENSOR_TYPE, PARAMETER_TYPE, NDARRAY_TYPE = (_type_name(n) for n in ("torch.Tensor", "torch.nn.Parameter",
                                                                      "numpy.ndarray"))
STORAGE_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
                  "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                  "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                  "BoolStorage": torch.bool}
STORAGE_TYPES = {name: _type_name(f"torch.{name}", dtype=dtype) for name, dtype in STORAGE_DTYPES.items()}

# numpy dtypes a StyleGAN file may hold, by their pickled name; nothing else (no fields, sub-arrays, objects)
NUMPY_DTYPES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}


class DTypeStub:
    """A numpy dtype under construction: becomes `np.dtype(name)` once its (plain) state has been checked."""

    def __init__(self, name: str):
        self.name = name

    def take_state(self, state):
        plain = (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
                 and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
                 and state[5:8] == (-1, -1, 0) and (len(state) == 8 or state[8] is None))
        if not plain:
            raise ModelFormatError(f"the pickle gives numpy dtype '{self.name}' a layout of its own; expected "
                                   "a plain numeric dtype")
        dt = np.dtype(self.name)
        return dt.newbyteorder(state[1]) if state[1] in "<>" and dt.itemsize > 1 else dt


def _plain_dtype(dt) -> np.dtype:
    if (not isinstance(dt, np.dtype) or dt.fields is not None or dt.subdtype is not None
            or dt.base.str[1:] not in NUMPY_DTYPES):
        shown = short(str(dt)) if isinstance(dt, np.dtype) else short(dt)
        raise ModelFormatError(f"the pickle holds an array of dtype {shown}; expected a plain numeric dtype")
    return dt


def _shape(value, what: str) -> tuple[int, ...]:
    if (not isinstance(value, (tuple, list)) or len(value) > LIMITS.ndim
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2 ** 40 for s in value)):
        raise ModelFormatError(f"the pickle gives {what} the shape {short(value)}; expected up to {LIMITS.ndim} "
                               "sizes of 0 or more")
    return tuple(value)


class ArrayStub:
    """A numpy array under construction: numpy pickles an empty start and then its bytes as state."""

    def __init__(self, budget: Budget):
        self.budget = budget

    def take_state(self, state):
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise ModelFormatError("the pickle gives a numpy array state of an unknown form")
        _, shape, dt, fortran, data = state
        shape, dt = _shape(shape, "a numpy array"), _plain_dtype(dt)
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not isinstance(data, (bytes, bytearray)) or len(data) != numel * dt.itemsize:
            size = len(data) if isinstance(data, (bytes, bytearray)) else short(data)
            raise ModelFormatError(f"a numpy array of shape {shape} ({dt}) comes with {size} bytes; expected "
                                   f"{numel * dt.itemsize}")
        self.budget.claim(numel, f"a numpy array of shape {shape}")
        return np.frombuffer(data, dtype=dt).reshape(shape, order="F" if fortran else "C")


class Storage:
    """A torch storage read from the file: its dtype, element count and bytes (filled in once read)."""

    def __init__(self, dtype: torch.dtype, numel: int, data: bytearray):
        self.dtype, self.numel, self.data = dtype, numel, data
        self.flat = torch.frombuffer(data, dtype=dtype) if numel else torch.empty(0, dtype=dtype)


REPLACED_ON_BUILD = (DTypeStub, ArrayStub)  # objects that become something else once given their state
TAKES_STATE = {TFNetwork, PersistentObject, PlainModule, EasyDict, PlainOrderedDict, Namespace, DTypeStub, ArrayStub}
CONSTRUCTIBLE = {TFNetwork, PlainModule, EasyDict, PlainOrderedDict, Namespace}


# ---------------------------------------------------------------- allow-listed callables

def _reconstruct_ndarray(unpickler, subtype, shape, dtype_code=b"b"):
    """numpy's pickled arrays start as an empty `ndarray` of shape (0,); the data arrive with their state."""
    if subtype is not NDARRAY_TYPE or shape != (0,):
        shown = shape if isinstance(shape, tuple) and len(shape) <= LIMITS.ndim and all(
            isinstance(s, int) for s in shape) else short(shape)
        raise ModelFormatError(f"the pickle asks numpy for a {getattr(subtype, '__doc__', None) or short(subtype)} "
                               f"of shape {shown}; expected an array pickled by numpy")
    return ArrayStub(unpickler.budget)


def _numpy_dtype(unpickler, name, align=False, copy=False):
    if not isinstance(name, str) or name not in NUMPY_DTYPES:
        raise ModelFormatError(f"the pickle asks for numpy dtype {short(name)}; expected one of "
                               f"{', '.join(sorted(NUMPY_DTYPES))}")
    return DTypeStub(name)


def _numpy_scalar(unpickler, dt, data=None):
    dt = _plain_dtype(dt)
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise ModelFormatError(f"a numpy {dt} scalar comes with {short(data)}; expected {dt.itemsize} bytes")
    return np.frombuffer(data, dtype=dt)[0]


def _load_storage_from_bytes(unpickler, data):
    """A storage pickled by torch < 1.6 style `torch.save` inside the pickle (StyleGAN2-ADA-PyTorch tensors)."""
    if not isinstance(data, bytes):
        raise ModelFormatError("the pickle gives a torch storage that is not bytes")
    storage = read_legacy_torch(io.BytesIO(data), len(data), unpickler.budget)
    if not isinstance(storage, Storage):
        raise ModelFormatError("the pickle's torch storage bytes hold something other than one storage")
    return storage


def rebuild_tensor(unpickler, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """A tensor as a dense, non-overlapping view of a storage the file holds (no broadcast tricks)."""
    if not isinstance(storage, Storage):
        raise ModelFormatError(f"the pickle rebuilds a tensor from {short(storage)}; expected a stored storage")
    size, stride = _shape(size, "a tensor"), _shape(stride, "a tensor's strides")
    if len(size) != len(stride) or not isinstance(offset, int) or offset < 0:
        raise ModelFormatError(f"the pickle gives a tensor size {size}, strides {stride} and offset {short(offset)} "
                               "that do not fit together")
    numel = 1
    for s in size:
        numel *= s
    if numel:
        reach = 1
        for s, st in sorted((p for p in zip(size, stride) if p[0] > 1), key=lambda p: p[1]):
            if st < reach:
                raise ModelFormatError(f"a tensor of size {size} with strides {stride} reuses its stored values "
                                       "(a broadcast view); expected one stored value per element")
            reach = st * s
        if offset + sum((s - 1) * st for s, st in zip(size, stride)) >= storage.numel:
            raise ModelFormatError(f"a tensor of size {size} reaches past its storage of {storage.numel} values")
    unpickler.budget.claim(numel, f"a tensor of size {size}")
    return storage.flat.as_strided(size, stride, offset) if numel else torch.empty(size, dtype=storage.dtype)


def _rebuild_parameter(unpickler, data, requires_grad=False, hooks=None, state=None):
    if not isinstance(data, torch.Tensor):
        raise ModelFormatError(f"the pickle makes a parameter of {short(data)}; expected a tensor")
    return data


def _rebuild_from_type_v2(unpickler, func, new_type, args, state=None):
    """Tensor subclasses (e.g. Parameter) pickled by newer torch: the plain tensor from a vetted rebuild."""
    if func is not rebuild_tensor or not isinstance(args, tuple):
        raise ModelFormatError("the pickle rebuilds a tensor subclass with something other than a tensor rebuild")
    return rebuild_tensor(unpickler, *args)


def _reconstruct_persistent_obj(unpickler, meta):
    return PersistentObject(meta)


def _ordered_dict(unpickler, *args):
    if args:
        raise ModelFormatError("the pickle builds an OrderedDict from arguments; expected items only")
    return PlainOrderedDict()


def _set(unpickler, items=(), frozen=False):
    if not isinstance(items, (list, tuple)):
        raise ModelFormatError(f"the pickle builds a set from {short(items)}; expected a list of items")
    for item in items:
        unpickler.check_key(item)
    return frozenset(items) if frozen else set(items)


def _frozenset(unpickler, items=()):
    return _set(unpickler, items, frozen=True)


ALLOWED = {
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("argparse", "Namespace"): Namespace,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): TENSOR_TYPE,
    ("torch.nn.parameter", "Parameter"): PARAMETER_TYPE,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _set,
    ("builtins", "frozenset"): _frozenset,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "ndarray"): NDARRAY_TYPE,
    ("numpy", "dtype"): _numpy_dtype,
    **{("torch", name): cls for name, cls in STORAGE_TYPES.items()},
}
CALLABLE = {id(f) for f in (_reconstruct_persistent_obj, rebuild_tensor, _rebuild_parameter, _rebuild_from_type_v2,
                            _load_storage_from_bytes, _ordered_dict, _set, _frozenset, _reconstruct_ndarray,
                            _numpy_scalar, _numpy_dtype)}
# Harmless torch.nn containers that ADA-PyTorch networks may hold as plain (non-persistent) children.
PLAIN_MODULES = {("torch.nn.modules.linear", "Identity"), ("torch.nn.modules.container", "ModuleList"),
                 ("torch.nn.modules.container", "ModuleDict"), ("torch.nn.modules.container", "Sequential")}


# ---------------------------------------------------------------- the reader

class BoundedFile:
    """File access for the unpickler: never past `end`, text lines of bounded length."""

    def __init__(self, f, end: int):
        self.f, self.end = f, end

    def remaining(self) -> int:
        return max(0, self.end - self.f.tell())

    def read(self, n: int = -1) -> bytes:
        left = self.remaining()
        return self.f.read(left if n is None or n < 0 else min(n, left))

    def readline(self) -> bytes:
        line = self.f.readline(min(LIMITS.line_bytes, self.remaining()) + 1)
        if len(line) > LIMITS.line_bytes:
            raise ModelFormatError(f"the pickle holds a text line longer than {LIMITS.line_bytes} bytes")
        return line


class BoundedUnpickler(pickle._Unpickler):
    """Python's pickle machine with every building, hashing or allocating opcode checked."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BoundedFile, budget: Budget, persistent=None):
        super().__init__(file)
        self.bounded, self.budget, self.persistent = file, budget, persistent
        self._key_memo: dict[int, tuple] = {}
        self._depths: dict[int, tuple] = {}
        self._memo_slots: dict[int, list] = {}

    # -- the main loop, counting opcodes
    def load(self):
        self._unframer = pickle._Unframer(self._file_read, self._file_readline)
        self.read, self.readinto, self.readline = (self._unframer.read, self._unframer.readinto,
                                                   self._unframer.readline)
        self.metastack, self.stack = [], []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch, budget = self.read, self.dispatch, self.budget
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                budget.ops += 1
                if budget.ops > LIMITS.pickle_ops:
                    raise ModelFormatError(f"the pickle runs past {LIMITS.pickle_ops:,} operations; far more "
                                           "than any StyleGAN file needs")
                dispatch[key[0]](self)
        except pickle._Stop as stop:
            return stop.value

    # -- globals and construction
    def find_class(self, module: str, name: str):
        if not isinstance(module, str) or not isinstance(name, str):
            raise pickle.UnpicklingError("a global's module and name must be text")
        module, name = python3_name(module, name, self.proto)
        key = (module, name)
        if key in ALLOWED:
            return ALLOWED[key]
        if key in PLAIN_MODULES:
            return PlainModule
        raise UnsafeFileError(f"asks to load '{short(module, 80)[1:-1]}.{short(name, 80)[1:-1]}', which is not on "
                              "the allow-list of a StyleGAN file; refused, nothing from the file was run")

    def persistent_load(self, pid):
        if self.persistent is None:
            raise ModelFormatError("uses pickle persistent ids (a torch.save archive?); expected an NVIDIA "
                                   "StyleGAN pickle")
        return self.persistent(pid)

    def _call(self, func, args, kwargs=None):
        if isinstance(func, type) and issubclass(func, TypeName):
            func()  # raises, naming the type
        if id(func) not in CALLABLE or not isinstance(args, tuple) or kwargs:
            raise ModelFormatError(f"the pickle calls {short(func)} with {short(args)}; expected an allow-listed "
                                   "rebuild function with arguments")
        return func(self, *args)

    def _construct(self, cls, args=(), kwargs=None):
        if isinstance(cls, type) and issubclass(cls, TypeName):
            cls()  # raises, naming the type
        if not (isinstance(cls, type) and cls in CONSTRUCTIBLE) or args or kwargs:
            raise ModelFormatError(f"the pickle constructs {getattr(cls, '__name__', short(cls))} with arguments "
                                   "or outside the allow-list")
        return cls()

    def load_reduce(self):
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._construct(cls, args))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._construct(cls, args, kwargs))

    def load_obj(self):
        args = self.pop_mark()
        cls = args.pop(0)
        self.append(self._construct(cls, tuple(args)))

    def load_inst(self):
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        cls = self.find_class(module, name)
        self.append(self._construct(cls, tuple(self.pop_mark())))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) not in TAKES_STATE:  # classes themselves never take state
            raise ModelFormatError(f"the pickle gives state to {short(inst)}; only network holders take state")
        built = inst.take_state(state)
        if built is not inst:
            self.stack[-1] = built
            for slot in self._memo_slots.pop(id(inst), ()):
                if self.memo.get(slot) is inst:
                    self.memo[slot] = built

    # -- memo: objects replaced on BUILD are replaced in the memo too
    def _put(self, index: int):
        if index < 0:
            raise ValueError("negative memo index")
        obj = self.stack[-1]
        self.memo[index] = obj
        if isinstance(obj, REPLACED_ON_BUILD):
            self._memo_slots.setdefault(id(obj), []).append(index)

    def load_memoize(self):
        self._put(len(self.memo))

    def load_binput(self):
        self._put(self.read(1)[0])

    def load_long_binput(self):
        self._put(struct.unpack("<I", self.read(4))[0])

    def load_put(self):
        self._put(int(self.readline()[:-1]))

    # -- containers: keys are measured before anything hashes them
    def check_key(self, key) -> None:
        size, depth = measure(key, self._key_memo, LIMITS.key_cost, LIMITS.key_depth)
        if size > LIMITS.key_cost or depth > LIMITS.key_depth:
            raise ModelFormatError(f"the pickle uses a key or set item of more than {LIMITS.key_cost:,} parts or "
                                   f"{LIMITS.key_depth} levels; StyleGAN files use names")

    def _target(self, kinds: tuple, what: str):
        target = self.stack[-1]
        if type(target) not in kinds:
            raise ModelFormatError(f"the pickle {what} {short(target)}")
        return target

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self.check_key(key)
        self._target((dict, EasyDict, PlainOrderedDict), "sets items of")[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        target = self._target((dict, EasyDict, PlainOrderedDict), "sets items of")
        for i in range(0, len(items) - 1, 2):
            self.check_key(items[i])
            target[items[i]] = items[i + 1]

    def load_dict(self):
        items = self.pop_mark()
        for key in items[0::2]:
            self.check_key(key)
        self.append({items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)})

    def load_additems(self):
        items = self.pop_mark()
        target = self._target((set,), "adds items to")
        for item in items:
            self.check_key(item)
        target.update(items)

    def load_frozenset(self):
        items = self.pop_mark()
        for item in items:
            self.check_key(item)
        self.append(frozenset(items))
        self._nested()

    # -- tuples are immutable, so their nesting is known when they are made: refuse deep ones at once
    def _nested(self):
        made = self.stack[-1]
        depth = 0
        for item in made:
            known = self._depths.get(id(item))
            if known is not None and known[0] is item and known[1] >= depth:
                depth = known[1] + 1
        if depth > LIMITS.nesting:
            raise ModelFormatError(f"the pickle nests tuples deeper than {LIMITS.nesting} levels; not a StyleGAN file")
        if depth or made:
            self._depths[id(made)] = (made, depth)

    def load_tuple(self):
        super().load_tuple()
        self._nested()

    def load_tuple1(self):
        super().load_tuple1()
        self._nested()

    def load_tuple2(self):
        super().load_tuple2()
        self._nested()

    def load_tuple3(self):
        super().load_tuple3()
        self._nested()

    def load_append(self):
        value = self.stack.pop()
        self._target((list,), "appends to").append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._target((list,), "appends to").extend(items)

    # -- sizes
    def load_long4(self):
        (n,) = struct.unpack("<i", self.read(4))
        if not 0 <= n <= LIMITS.long_bytes:
            raise ModelFormatError(f"the pickle holds an integer of {n} bytes; expected at most {LIMITS.long_bytes}")
        self.append(pickle.decode_long(self.read(n)))

    def load_bytearray8(self):
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self.bounded.remaining():
            raise ModelFormatError("the pickle claims a bytearray longer than the rest of the file")
        self.append(bytearray(self.read(n)))

    def load_next_buffer(self):
        raise ModelFormatError("the pickle refers to out-of-band buffers; expected a self-contained file")

    for _code, _name in ((pickle.REDUCE, "load_reduce"), (pickle.NEWOBJ, "load_newobj"),
                         (pickle.NEWOBJ_EX, "load_newobj_ex"), (pickle.OBJ, "load_obj"), (pickle.INST, "load_inst"),
                         (pickle.BUILD, "load_build"), (pickle.MEMOIZE, "load_memoize"),
                         (pickle.BINPUT, "load_binput"), (pickle.LONG_BINPUT, "load_long_binput"),
                         (pickle.PUT, "load_put"), (pickle.SETITEM, "load_setitem"),
                         (pickle.SETITEMS, "load_setitems"), (pickle.DICT, "load_dict"),
                         (pickle.ADDITEMS, "load_additems"), (pickle.FROZENSET, "load_frozenset"),
                         (pickle.APPEND, "load_append"), (pickle.APPENDS, "load_appends"),
                         (pickle.LONG4, "load_long4"), (pickle.BYTEARRAY8, "load_bytearray8"),
                         (pickle.NEXT_BUFFER, "load_next_buffer"), (pickle.READONLY_BUFFER, "load_next_buffer"),
                         (pickle.TUPLE, "load_tuple"), (pickle.TUPLE1, "load_tuple1"), (pickle.TUPLE2, "load_tuple2"),
                         (pickle.TUPLE3, "load_tuple3")):
        dispatch[_code[0]] = locals()[_name]
    del _code, _name


def _children(obj):
    if isinstance(obj, (tuple, list, set, frozenset)):
        return obj
    if isinstance(obj, dict):
        return [x for kv in obj.items() for x in kv]
    if isinstance(obj, TFNetwork):
        return (obj.state,)
    if isinstance(obj, PersistentObject):
        return (obj.meta,)
    if isinstance(obj, Namespace):
        return (obj.values,)
    return ()


def measure(obj, memo: dict, max_size: int, max_depth: int) -> tuple[int, int]:
    """(objects reached counting every shared reference, deepest nesting) of `obj`, walked without recursion;
    stops early once past the bounds. A structure that contains itself counts as too deep."""
    if not _children(obj):
        return 1, 0
    stack = [(obj, iter(_children(obj)), 1, 0)]
    on_path = {id(obj)}
    while stack:
        node, it, size, depth = stack[-1]
        child = next(it, _END)
        if child is _END:
            stack.pop()
            on_path.discard(id(node))
            memo[id(node)] = (node, size, depth)
            if stack:
                parent, pit, psize, pdepth = stack[-1]
                stack[-1] = (parent, pit, psize + size, max(pdepth, depth + 1))
            continue
        known = memo.get(id(child))
        if known is not None and known[0] is child:
            stack[-1] = (node, it, size + known[1], max(depth, known[2] + 1))
        elif id(child) in on_path or len(stack) > max_depth:
            return max_size + 1, max_depth + 1
        elif _children(child):
            on_path.add(id(child))
            stack.append((child, iter(_children(child)), 1, 0))
        else:
            stack[-1] = (node, it, size + 1, depth)
        if stack[-1][2] > max_size:
            return max_size + 1, 0
    return memo[id(obj)][1], memo[id(obj)][2]


_END = object()


def check_structure(obj, source: str) -> None:
    """After loading: the whole object graph is finite, shallow and of bounded size (str() or copies stay cheap)."""
    size, depth = measure(obj, {}, LIMITS.expanded_size, LIMITS.nesting)
    if size > LIMITS.expanded_size or depth > LIMITS.nesting:
        raise ModelFormatError(f"{source}: its data nest deeper than {LIMITS.nesting} levels, refer to themselves or "
                               f"reach more than {LIMITS.expanded_size:,} objects; not a StyleGAN file")


def python3_name(module: str, name: str, proto: int = 2) -> tuple[str, str]:
    """Protocol 0-2 pickles may name Python 2 modules; map them the way pickle itself would."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


DAMAGED = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
           RuntimeError, UnicodeDecodeError, MemoryError, OverflowError, struct.error)


def _named(exc: Exception, source: str, expected: str) -> ModelFormatError:
    """A loader error as one line naming the file."""
    if isinstance(exc, ModelFormatError):
        text = str(exc)
        if text.startswith(source):
            return exc
        return type(exc)(f"{source} {text}" if text.startswith(("asks ", "is ", "uses ")) else f"{source}: {text}")
    detail = str(exc).splitlines()[0][:120] if str(exc) else ""
    return ModelFormatError(f"{source} is a damaged or truncated file ({type(exc).__name__}: {detail}); "
                            f"expected {expected}")


def safe_load_pickle(path: Path):
    """Unpickle `path` with the allow-list and the bounds. Damaged files raise ModelFormatError naming the file."""
    budget = Budget(path.name)
    try:
        with open(path, "rb") as f:
            obj = BoundedUnpickler(BoundedFile(f, os.fstat(f.fileno()).st_size), budget).load()
        check_structure(obj, path.name)
        return obj
    except (ModelFormatError, *DAMAGED) as exc:
        raise _named(exc, path.name, "an NVIDIA StyleGAN .pkl") from None


# ---------------------------------------------------------------- torch.save files, read without torch.load

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PROTOCOL = 1001


def _storage_id(pid, fields: int):
    if not (isinstance(pid, tuple) and len(pid) == fields and pid[0] == "storage"):
        raise ModelFormatError(f"the torch file refers to {short(pid)}; expected a storage")
    _, kind, key, _location, numel = pid[:5]
    if not (isinstance(kind, type) and issubclass(kind, TypeName) and hasattr(kind, "dtype")):
        raise ModelFormatError(f"the torch file has a storage of type {short(kind)}; expected a numeric storage")
    if not isinstance(key, str) or isinstance(numel, bool) or not isinstance(numel, int) or numel < 0:
        raise ModelFormatError("the torch file names a storage with a bad key or size")
    return kind.dtype, key, numel


def read_legacy_torch(f, end: int, budget: Budget):
    """A torch.save file of the pre-zip format: magic, protocol, system info, the object, its storages' bytes."""
    reader = BoundedFile(f, end)

    def load(persistent=None):
        return BoundedUnpickler(reader, budget, persistent).load()

    magic, protocol = load(), load()
    if type(magic) is not int or magic != TORCH_MAGIC or type(protocol) is not int or protocol != TORCH_LEGACY_PROTOCOL:
        raise ModelFormatError("is not a torch.save file (wrong magic number or protocol)")
    info = load()
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise ModelFormatError("is a torch file written on a big-endian machine; not supported")
    storages: dict[str, Storage] = {}
    declared = [0]

    def persistent(pid):
        dtype, key, numel = _storage_id(pid, 6)
        if pid[5] is not None:
            raise ModelFormatError("the torch file uses storage views (torch < 0.4); not supported")
        if key not in storages:
            nbytes = numel * torch.empty(0, dtype=dtype).element_size()
            declared[0] += nbytes + 8
            if declared[0] > reader.remaining():
                raise ModelFormatError(f"its storages declare {declared[0]} bytes but the file holds only "
                                       f"{reader.remaining()} more")
            storages[key] = Storage(dtype, numel, bytearray(nbytes))
        return storages[key]

    obj = load(persistent)
    keys = load()
    if not isinstance(keys, list) or len(keys) != len(storages) or set(keys) != set(storages):
        raise ModelFormatError("the torch file's storage list does not match its object")
    for key in keys:
        s = storages[key]
        head = reader.read(8)
        if len(head) != 8 or struct.unpack("<q", head)[0] != s.numel:
            raise ModelFormatError(f"storage {short(key)} is truncated or of another size than declared")
        if reader.f.readinto(s.data) != len(s.data):
            raise ModelFormatError(f"storage {short(key)} is truncated")
    return obj


def read_torch_zip(path: Path, budget: Budget):
    """A torch.save zip archive: `<name>/data.pkl` plus one record per storage, each checked against its
    declared size (a deflated record may not claim more than `LIMITS.deflate_ratio` times its bytes)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > LIMITS.zip_entries:
            raise ModelFormatError(f"is a zip of {len(infos)} records; a torch file has far fewer")
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFormatError(f"record {short(info.filename)} is compressed in a way torch files never are")
            limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else (
                info.compress_size * LIMITS.deflate_ratio + (1 << 20))
            if info.file_size > limit:
                raise ModelFormatError(f"record {short(info.filename)} claims {info.file_size} bytes from "
                                       f"{info.compress_size} stored; refused (a compression bomb)")
        pickles = [i.filename for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ModelFormatError("is a zip file but not a torch.save archive (no single data.pkl)")
        prefix = pickles[0][: -len("data.pkl")]
        names = set(z.namelist())
        if prefix + "byteorder" in names and z.read(prefix + "byteorder").strip() not in (b"little", b""):
            raise ModelFormatError("is a torch file written on a big-endian machine; not supported")
        storages: dict[str, Storage] = {}

        def persistent(pid):
            dtype, key, numel = _storage_id(pid, 5)
            if key not in storages:
                name = f"{prefix}data/{key}"
                if name not in names:
                    raise ModelFormatError(f"its pickle refers to storage {short(key)}, which the archive lacks")
                nbytes = numel * torch.empty(0, dtype=dtype).element_size()
                if z.getinfo(name).file_size != nbytes:
                    raise ModelFormatError(f"record {short(name)} holds {z.getinfo(name).file_size} bytes; its "
                                           f"pickle declares {nbytes}")
                storages[key] = Storage(dtype, numel, bytearray(z.read(name)))
            return storages[key]

        data = z.read(pickles[0])
        return BoundedUnpickler(BoundedFile(io.BytesIO(data), len(data)), budget, persistent).load()


def read_torch_file(path: Path):
    """A torch.save file (zip or legacy) as plain data, with the pickle allow-list and the bounds of NVIDIA
    pickles; nothing is handed to torch.load."""
    import zipfile

    budget = Budget(path.name)
    try:
        if zipfile.is_zipfile(path):
            try:
                obj = read_torch_zip(path, budget)
            except (OSError, zlib.error, NotImplementedError) as exc:  # zipfile's reactions to bad offsets
                raise ModelFormatError(f"is a damaged zip archive ({type(exc).__name__}: {str(exc)[:80]})") from None
        else:
            with open(path, "rb") as f:
                obj = read_legacy_torch(f, os.fstat(f.fileno()).st_size, budget)
        check_structure(obj, path.name)
        return obj
    except (ModelFormatError, zipfile.BadZipFile, zipfile.LargeZipFile, *DAMAGED) as exc:
        if isinstance(exc, zipfile.BadZipFile):
            exc = ModelFormatError(f"is a damaged zip archive ({str(exc)[:80]})")
        raise _named(exc, path.name, "a torch checkpoint") from None
