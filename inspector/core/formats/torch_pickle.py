"""The restricted unpickler behind the PyTorch checkpoint readers, and the flattening of what it returns.

:class:`_RestrictedUnpickler` knows only the standard tensor-rebuild globals and builds small placeholders for
them; any other global (``posix.system``, a pickled ``nn.Module`` class, ...) is refused by name before
anything is called. :class:`Flattener` turns the unpickled containers into dotted tensor names and metadata.
torch is never imported.
"""

from __future__ import annotations

import _compat_pickle
import collections
import math
import os
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from inspector.core.dtypes import DTYPES, TORCH_NAMES, DType, from_numpy
from inspector.core.errors import InspectorError, MalformedFileError, UnsafeFileError, UnsupportedFormatError
from inspector.core.formats.base import MAX_NDIM, MAX_TENSORS, Threat, clean_text, shape_problem
from inspector.core.formats.pickle_vm import (
    CLASS,
    DANGER,
    FUNCTION,
    OPAQUE,
    BudgetError,
    GlobalRef,
    Machine,
    NeedsCode,
    Opaque,
    PickleError,
    Poison,
    ScriptObject,
)
from inspector.core.formats.values import CONTAINERS, encoded_pieces, value_blob

#: Largest object pickle we read. It holds only structure (names, shapes, keys), never tensor data.
MAX_PICKLE_BYTES = 1 << 30
#: Most elements of a view that repeats stored values (zero or overlapping strides), e.g. ``t.expand(...)``.
MAX_REPEATED_NUMEL = 1 << 24
MAX_DEPTH = 100
MAX_METADATA = 1000
#: Most threats kept per pickle (the first ones; one is enough for the verdict).
MAX_THREATS = 100
#: Classes a whole model's note lists by name.
MAX_CLASS_LISTING = 16
#: Most names one tensor object may be listed under (torch.save writes each tensor once and memoises repeats).
MAX_ALIASES = 256
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
#: Top-level keys whose value is the model's state_dict when nothing else in the file holds tensors.
WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "model_state", "weights")

RESAVE = (
    "If you trust the file, load it in a trusted environment and re-save model.state_dict() as safetensors "
    "(safetensors.torch.save_file)"
)
RECOPY = "The file is damaged or truncated; copy it again from its source or re-save it with torch.save"

_DTYPE_NAMES = {k for k in TORCH_NAMES if not k.endswith("Storage")} | {
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "chalf",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
}


# ---------------------------------------------------------------------------------------------- placeholders
@dataclass(frozen=True, eq=False)
class _Marker:
    """A torch global the pickle may name but never call: a storage class, a dtype, the Tensor type, the function
    a torch.package names to rebuild a scripted module."""

    kind: str  # "storage", "dtype", "type" or "package"
    name: str
    dtype: Optional[DType] = None

    def __repr__(self) -> str:
        return f"torch.{self.name}"


@dataclass(frozen=True, eq=False)
class StorageRef:
    """One storage: ``nbytes`` bytes at ``byte_offset`` of the file record ``key`` (legacy views start later)."""

    key: str
    dtype: DType
    nbytes: int
    root_nbytes: int
    byte_offset: int = 0

    def __repr__(self) -> str:
        return f"<storage {self.key!r} {self.dtype.name} {self.nbytes} bytes>"


@dataclass(frozen=True, eq=False)
class _Tensor:
    storage: StorageRef
    dtype: DType
    offset: int  # bytes from the start of the storage
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    def __repr__(self) -> str:
        return f"<tensor {self.dtype.name} {list(self.shape)}>"


@dataclass(frozen=True, eq=False)
class _Device:
    text: str

    def __repr__(self) -> str:
        return f"device({self.text!r})"


def _is_index(x: Any) -> bool:
    return type(x) is int and 0 <= x < 1 << 62


def _make_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, dtype: Optional[DType] = None) -> _Tensor:
    if not isinstance(storage, StorageRef):
        raise ValueError(f"tensor rebuilt from {type(storage).__name__}, not from a storage")
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))):
        raise ValueError(f"bad tensor layout: shape {brief(size)} with strides {brief(stride)}")
    if len(size) > MAX_NDIM or len(size) != len(stride):
        raise ValueError(f"bad tensor layout: shape {brief(size)} with strides {brief(stride)}")
    size, stride = tuple(size), tuple(stride)
    if not all(map(_is_index, size + stride)) or not _is_index(storage_offset):
        raise ValueError(
            f"bad tensor layout: shape {brief(size)}, strides {brief(stride)}, offset {brief(storage_offset)}"
        )
    dt = dtype or storage.dtype
    bad_shape = shape_problem(size)
    if bad_shape:
        raise ValueError(bad_shape)
    numel = math.prod(size)
    offset = storage_offset * dt.itemsize
    if numel:
        elements = storage_span(size, stride)
        if offset + elements * dt.itemsize > storage.nbytes:
            raise ValueError(
                f"tensor {list(size)} (strides {list(stride)}, offset {storage_offset}) reaches past the end "
                f"of its {storage.nbytes}-byte storage {storage.key!r}"
            )
        # A view with zero or overlapping strides repeats stored values; reading it materialises every element,
        # so its size is not bounded by the file's: cap it (torch.save of an .expand()ed tensor is rare).
        if numel > elements and numel > MAX_REPEATED_NUMEL:
            raise ValueError(
                f"tensor {list(size)} (strides {list(stride)}) repeats {elements:,} stored values as "
                f"{numel:,} elements (over {MAX_REPEATED_NUMEL:,}); re-save it with tensor.contiguous()"
            )
    return _Tensor(storage, dt, offset, size, stride)


def storage_span(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """Elements from the first to one past the last element of a non-empty strided view."""
    return 1 + sum((d - 1) * s for d, s in zip(shape, strides, strict=True))


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> _Tensor:
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False, hooks: Any = None, *_: Any
) -> _Tensor:
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    hooks: Any,
    dtype: Any,
    *_: Any,
) -> _Tensor:
    if not isinstance(dtype, _Marker) or dtype.kind != "dtype":
        raise ValueError(f"tensor dtype is {brief(dtype)}, not a torch dtype")
    if dtype.dtype is None:
        raise _Unsupported(f"tensors of dtype torch.{dtype.name}")
    return _make_tensor(storage, storage_offset, size, stride, dtype.dtype)


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any, *_: Any) -> _Tensor:
    if not isinstance(data, _Tensor):
        raise ValueError(f"parameter wraps {type(data).__name__}, not a tensor")
    return data


_REBUILDERS: tuple[Callable[..., _Tensor], ...] = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3)


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> _Tensor:
    # A plain tensor or Parameter that carried Python attributes; the attributes are dropped.
    if func not in _REBUILDERS + (_rebuild_parameter,) or not isinstance(new_type, _Marker):
        raise ValueError("tensor rebuilt through an unexpected function")
    if not isinstance(args, tuple) or len(args) > 16:
        raise ValueError("tensor rebuilt from unexpected arguments")
    return func(*args)  # type: ignore[no-any-return]


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol-2 pickles spell a bytes object as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise ValueError("unexpected _codecs.encode arguments")
    return text.encode(encoding)


# ------------------------------------------------------------------------------------------- numpy values
class NumpyDType:
    """``numpy.dtype(code, align, copy)`` as a pickle builds it: the type code, and the byte order its state sets
    (once: an array checked against it must not see it change)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.order = "|"
        self.fields = False
        self.built = False

    def pickle_build(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags): plain types have no fields
        if self.built:
            raise ValueError("numpy dtype state set twice")
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "=")):
            raise ValueError("numpy dtype state of an unexpected form")
        self.built = True
        self.order = state[1]
        self.fields = len(state) > 4 and state[4] is not None

    def element(self) -> Optional[DType]:
        """Our element type, or ``None`` for one read as bytes (big-endian, complex, text, records)."""
        return None if self.fields else from_numpy(self.code, self.order)

    def __repr__(self) -> str:
        return f"numpy.dtype({self.code!r})"


class NumpyArray:
    """A numpy array as a pickle rebuilds it (``_reconstruct`` then its state, or ``_frombuffer``): its shape,
    element type and bytes, never a numpy object (an array of Python objects keeps its items as a list). The element
    type is fixed when the state is set; ``axes``: the order of a protocol-5 array stored in its own memory order
    (its bytes are the C-order array of ``shape`` permuted back, as numpy's ``_frombuffer`` transposes them)."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] = ()
        self.dtype: Optional[NumpyDType] = None
        self.fortran = False
        self.axes: Optional[tuple[int, ...]] = None
        self.data: Any = None  # bytes, or the items of an object array
        self.element_type: Optional[DType] = None
        self.built = False

    def pickle_build(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, raw bytes or the items of an object array)
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], NumpyDType)):
            raise ValueError("numpy array state of an unexpected form")
        _version, shape, dtype, fortran, data = state
        self._set(shape, dtype, bool(fortran), data)

    def _set(self, shape: Any, dtype: NumpyDType, fortran: bool, data: Any, axes: Any = None) -> None:
        if self.built:
            raise ValueError("numpy array state set twice")
        if not isinstance(shape, tuple) or not all(_is_index(d) for d in shape) or shape_problem(shape):
            raise ValueError(f"numpy array of a bad shape {brief(shape)}")
        if not isinstance(data, (bytes, bytearray, list)):
            raise ValueError("numpy array without its bytes")
        dt = dtype.element() if isinstance(data, (bytes, bytearray)) else None
        if dt is not None and len(data) != math.prod(shape) * dt.itemsize:
            raise ValueError(f"numpy array of shape {shape} with {len(data)} bytes")
        if axes is not None and sorted(axes) != list(range(len(shape))):
            raise ValueError("numpy array of a bad axis order")
        self.shape, self.dtype, self.fortran, self.data, self.axes = shape, dtype, fortran, data, axes
        self.element_type = dt
        self.built = True

    @property
    def logical_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[i] for i in self.axes) if self.axes is not None else self.shape

    def element(self) -> Optional[DType]:
        return self.element_type

    def c_order(self) -> bytes:
        """The elements in row-major order (a column-major array's, or a permuted one's, rearranged)."""
        dt = self.element_type
        if dt is None or len(self.shape) < 2 or (not self.fortran and self.axes is None):
            return bytes(self.data)
        import numpy as np

        a = np.frombuffer(self.data, dtype=dt.storage)
        a = a.reshape(self.shape, order="F") if self.axes is None else a.reshape(self.shape).transpose(self.axes)
        return np.ascontiguousarray(a).tobytes()

    def __repr__(self) -> str:
        return f"<numpy array {self.dtype!r} {list(self.logical_shape)}>"


class JoblibArray(NumpyArray):
    """joblib's ``NumpyArrayWrapper`` (``joblib.dump``, how scikit-learn models are saved): its state (shape,
    order, dtype, alignment) is set by BUILD and the array's bytes follow in the stream, outside the pickle's own
    opcodes, as joblib's unpickler reads them; read here the same way, never as a numpy object. An array of Python
    objects is a nested pickle stream, run by the same bounded interpreter (its calls recorded, never made)."""

    @classmethod
    def pickle_new(cls) -> JoblibArray:
        return cls()

    def pickle_build_stream(self, state: Any, machine: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError("joblib array state of an unexpected form")
        cls, shape, order, dtype = (state.get(k) for k in ("subclass", "shape", "order", "dtype"))
        if not (isinstance(cls, GlobalRef) and cls.full == "numpy.ndarray" and isinstance(dtype, NumpyDType)):
            raise ValueError("joblib array of an unexpected class or type")
        if order not in ("C", "F") or not isinstance(shape, tuple) or not all(_is_index(d) for d in shape):
            raise ValueError("joblib array of a bad shape or order")
        if shape_problem(shape):
            raise ValueError(f"joblib array of a bad shape {brief(shape)}")
        import numpy as np

        try:
            itemsize = np.dtype(dtype.code).itemsize  # a type code only: numpy parses it, nothing more
        except (TypeError, ValueError):
            raise ValueError(f"joblib array of an unknown type {brief(dtype.code)}") from None
        file = machine.file
        if np.dtype(dtype.code).hasobject:  # its items are a nested pickle, run under the same rules
            inner = machine.nested()
            items = inner.data if isinstance(inner, NumpyArray) and isinstance(inner.data, list) else [inner]
            self._set(shape, dtype, order == "F", items)
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            pad = file.read(1)
            if len(pad) != 1 or pad[0] > 64 or len(file.read(pad[0])) != pad[0]:
                raise ValueError("joblib array padding cut short")
        nbytes = math.prod(shape) * itemsize
        machine.charge(nbytes // 8)
        data = file.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"joblib array cut short ({len(data):,} of {nbytes:,} bytes)")
        self._set(shape, dtype, order == "F", data)


def _np_dtype(code: Any, align: Any = False, copy: Any = True) -> NumpyDType:
    if not isinstance(code, str) or not 0 < len(code) <= 16:
        raise ValueError("numpy.dtype of something other than a type code")
    return NumpyDType(code)


def _np_reconstruct(cls: Any, shape: Any = (0,), code: Any = b"b") -> Any:
    """``numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')``: an empty array whose state follows."""
    if isinstance(cls, GlobalRef) and cls.full == "numpy.ndarray":
        return NumpyArray()
    return Opaque(f"numpy array of class {clean_text(getattr(cls, 'full', '?'))[:100]}")  # a subclass: unread


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any = "C", axis_order: Any = None) -> NumpyArray:
    """``numpy.core.numeric._frombuffer(buffer, dtype, shape, order[, axis_order])``, protocol 5's spelling of an
    array (order ``K``: the buffer in the array's own memory order, transposed by ``axis_order``)."""
    if not isinstance(dtype, NumpyDType) or order not in ("C", "F", "K"):
        raise ValueError("numpy _frombuffer with unexpected arguments")
    axes = None
    if order == "K" and axis_order is not None:
        if not (isinstance(axis_order, tuple) and all(_is_index(i) for i in axis_order)):
            raise ValueError("numpy _frombuffer with a bad axis order")
        axes = axis_order
    a = NumpyArray()
    a._set(shape, dtype, order == "F", buf, axes)
    return a


def _np_scalar(dtype: Any, data: Any = b"") -> Any:
    """``numpy.core.multiarray.scalar(dtype, bytes)``: a number (a loss, a learning rate) as a Python number."""
    dt = dtype.element() if isinstance(dtype, NumpyDType) else None
    if dt is None or not isinstance(data, (bytes, bytearray)) or len(data) != dt.itemsize:
        return Opaque("numpy scalar")
    import numpy as np

    return np.frombuffer(bytes(data), dtype=dt.storage)[0].item()


#: numpy's bit generators, which its pickles name to rebuild a random generator (a scikit-learn model keeps one).
_NUMPY_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_NUMPY_BIT_GENERATOR_CLASSES = {
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
}


def _np_generator(kind: str) -> Callable[..., Any]:
    """``numpy.random._pickle.__bit_generator_ctor(name)`` and its kin: a generator named from numpy's own fixed
    list, rebuilt as an attribute dict (its state, set by BUILD, is data: the state's key array is a tensor)."""

    def ctor(bit_generator: Any = "MT19937", *_: Any) -> NumpyGenerator:
        # numpy < 2 names the bit generator, numpy 2 passes its class, or the bit generator already rebuilt
        known = (
            bit_generator in _NUMPY_BIT_GENERATORS
            or (isinstance(bit_generator, GlobalRef) and bit_generator.full in _NUMPY_BIT_GENERATOR_CLASSES)
            or isinstance(bit_generator, NumpyGenerator)
        )
        if not known:
            raise ValueError(f"numpy {kind} of an unknown bit generator")
        return NumpyGenerator(kind)

    return ctor


class NumpyGenerator:
    """A numpy random generator as its pickle rebuilds it: its state (a dict of plain values and the key array),
    set by BUILD (alone, or beside its seed sequence), kept as data."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.state: dict[Any, Any] = {}

    def pickle_build(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]  # (state, seed sequence): numpy 2's bit generators
        if not isinstance(state, dict) or self.state:
            raise ValueError("numpy generator state of an unexpected form")
        self.state = state

    def __repr__(self) -> str:
        return f"<numpy {self.kind}>"


def _np_seed_sequence(cls: Any, checksum: Any = 0, state: Any = None) -> Opaque:
    """``numpy.random.bit_generator.__pyx_unpickle_SeedSequence(SeedSequence, checksum, state)``: the seed a numpy
    ``Generator`` keeps (Cython's unpickling of its plain state, which it sets itself): a description only."""
    if not (
        isinstance(cls, GlobalRef)
        and cls.full == "numpy.random.bit_generator.SeedSequence"
        and type(checksum) is int
        and (state is None or isinstance(state, tuple))
    ):
        raise ValueError("numpy SeedSequence with unexpected arguments")
    return Opaque("numpy SeedSequence")


def _torch_size(dims: Any = ()) -> tuple[int, ...]:
    if not isinstance(dims, (tuple, list)) or len(dims) > MAX_NDIM:
        raise ValueError("bad torch.Size")
    dims = tuple(dims)
    if not all(_is_index(d) for d in dims):
        raise ValueError("bad torch.Size")
    return dims


def _torch_device(kind: Any, index: Any = None) -> _Device:
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise ValueError("bad torch.device")
    return _Device(kind if index is None else f"{kind}:{index}")


def _checked_set(kind: type) -> Callable[..., Any]:
    def build(items: Any = ()) -> Any:
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise ValueError(f"{kind.__name__}() of a {type(items).__name__}")
        return kind(items)

    return build


def _jit_list(items: Any) -> list[Any]:
    # torch.jit._pickle.build_intlist & co. (TorchScript archives): a typed list, rebuilt as a plain one
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"typed list of a {type(items).__name__}")
    return list(items)


def _jit_type_tag(value: Any, type_str: Any = None) -> Any:
    # torch.jit._pickle.restore_type_tag(value, "Dict[str, Tensor]"): the value, untouched
    return value


def _ordered_dict(items: Any = ()) -> collections.OrderedDict:
    if isinstance(items, (dict, list, tuple)):
        return collections.OrderedDict(items)
    raise ValueError(f"OrderedDict() of a {type(items).__name__}")


#: Factories a ``collections.defaultdict`` in a checkpoint may name: plain builtin types (omegaconf's
#: ``resolver_cache = defaultdict(dict)`` in every Lightning/Hydra config node). They only matter on a missing
#: key, after loading; anything else is refused.
_DEFAULT_FACTORIES = frozenset({"dict", "list", "set", "frozenset", "tuple", "int", "float", "str", "bytes", "bool"})


def _default_dict(factory: Any = None, *rest: Any) -> dict:
    if rest:
        raise ValueError("defaultdict() with more than a factory")
    if (
        factory is None
        or factory is _ordered_dict
        or factory is _empty_bytes  # bytes resolves to its safe constructor too
        or (  # OrderedDict resolves to its safe constructor
            isinstance(factory, GlobalRef)
            and (
                (_PY2_MODULES.get(factory.module, factory.module) == "builtins" and factory.name in _DEFAULT_FACTORIES)
                or factory.full == "collections.OrderedDict"
            )
        )
    ):
        return {}  # its items follow as SETITEMS; the factory is never called on load
    if isinstance(factory, GlobalRef):  # a function of its own (scikit-learn, a lambda's module): needs its code
        raise NeedsCode(factory)
    raise ValueError(f"defaultdict() with factory {clean_text(type(factory).__name__)[:200]!r}, not a global")


def _complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    """``complex(real, imag)`` of plain numbers, or of a short text (a list of them is data: its floats are judged
    as bytes)."""
    ok = (type(real) in (int, float, bool) and type(imag) in (int, float, bool)) or (
        type(real) is str and len(real) <= 100 and imag == 0.0
    )
    if not ok:
        raise ValueError("complex() of something other than numbers")
    try:
        return complex(real, imag) if type(real) is not str else complex(real)
    except (OverflowError, ValueError) as e:
        raise ValueError(f"complex() of {clean_text(repr(real))[:40]}: {e}") from None


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``: how protocol 2 spells an empty bytes object (an empty numpy array's data)."""
    if args:
        raise ValueError("bytes() with arguments")
    return b""


def _re_compile(pattern: Any, flags: Any = 0) -> Any:
    """``re._compile(pattern, flags)``, how a compiled regular expression pickles (a tokenizer's, a text
    normaliser's): its pattern, kept as text (and judged as the checkpoint's other strings), never compiled."""
    if type(pattern) not in (str, bytes) or type(flags) is not int:
        raise ValueError("re._compile() of something other than a pattern and its flags")
    return pattern


class _Unsupported(Exception):
    """A standard but unsupported tensor kind (sparse, quantized, complex...): not hostile, just unreadable."""


_CALLABLES: dict[str, Any] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch._utils._rebuild_from_type_v2": _rebuild_from_type_v2,
    "collections.OrderedDict": _ordered_dict,
    "collections.defaultdict": _default_dict,
    "builtins.set": _checked_set(set),
    "builtins.complex": _complex,
    "builtins.bytes": _empty_bytes,
    "numpy.dtype": _np_dtype,
    "numpy.core.multiarray._reconstruct": _np_reconstruct,
    "numpy._core.multiarray._reconstruct": _np_reconstruct,
    "numpy.core.numeric._frombuffer": _np_frombuffer,
    "numpy._core.numeric._frombuffer": _np_frombuffer,
    "numpy.core.multiarray.scalar": _np_scalar,
    "numpy.random._pickle.__bit_generator_ctor": _np_generator("BitGenerator"),
    "numpy.random._pickle.__randomstate_ctor": _np_generator("RandomState"),
    "numpy.random._pickle.__generator_ctor": _np_generator("Generator"),
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence": _np_seed_sequence,
    "joblib.numpy_pickle.NumpyArrayWrapper": JoblibArray,
    "numpy._core.multiarray.scalar": _np_scalar,
    "re._compile": _re_compile,
    "builtins.frozenset": _checked_set(frozenset),
    "_codecs.encode": _codecs_encode,
    "torch.Size": _torch_size,
    "torch.device": _torch_device,
    "torch.jit._pickle.restore_type_tag": _jit_type_tag,
    "torch.jit._pickle.build_intlist": _jit_list,
    "torch.jit._pickle.build_doublelist": _jit_list,
    "torch.jit._pickle.build_boollist": _jit_list,
    "torch.jit._pickle.build_tensorlist": _jit_list,
}
_TYPES = {"torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter", "torch.nn.Parameter"}


# ---------------------------------------------------------------------------------------------- unpickler
#: Modules (and their submodules) whose globals run processes, code, imports, files or network on call.
_DANGEROUS_MODULES = (
    "os",
    "posix",
    "nt",
    "subprocess",
    "_posixsubprocess",
    "_winapi",
    "sys",
    "socket",
    "_socket",
    "shutil",
    "pty",
    "importlib",
    "imp",
    "runpy",
    "pickle",
    "_pickle",
    "cPickle",
    "marshal",
    "ctypes",
    "_ctypes",
    "code",
    "codeop",
    "webbrowser",
    "multiprocessing",
    "asyncio",
    "signal",
    "urllib",
    "urllib2",
    "http",
    "httplib",
    "ftplib",
    "smtplib",
    "telnetlib",
    "requests",
    "platform",
    "commands",
    "io",
    "_io",
    "tempfile",
    "zipimport",
    "types",
    "functools",
    "operator",
    "_operator",
    "inspect",
    "timeit",
    "pdb",
    "bdb",
    "trace",
    "cProfile",
    "profile",
    "pkgutil",
    "site",
    "posixpath",
    "ntpath",
    "glob",
    "pathlib",
    "threading",
    "_thread",
    "dill",
    "joblib",
    "torch.hub",
    "torch.jit",
    "torch.serialization",
    "torch.package",
    "torch.utils.cpp_extension",
    "torch._C",
    "torch._dynamo",
    "torch.ops",
    "torch.storage",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.lib.npyio",
    "builtins.eval",
)
#: Builtins that evaluate, compile, import, reach attributes, open files or read input.
_DANGEROUS_BUILTINS = {
    "eval",
    "exec",
    "execfile",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "hasattr",
    "open",
    "file",
    "input",
    "raw_input",
    "breakpoint",
    "globals",
    "locals",
    "vars",
    "exit",
    "quit",
    "help",
    "reload",
    "apply",
    "type",
    "memoryview",
    "super",
    "classmethod",
    "staticmethod",
    "property",
    "__build_class__",
}
#: Builtin value types whose objects are kept as a description (never rebuilt, never a threat).
_PLAIN_BUILTIN_TYPES = {
    "complex",
    "slice",
    "range",
    "bytes",
    "bytearray",
    "int",
    "float",
    "str",
    "bool",
    "object",
    # containers: named as a defaultdict's factory (omegaconf's resolver cache); building one runs nothing
    "dict",
    "list",
    "tuple",
}
#: Data objects of well-known libraries that ``pickle.load`` rebuilds without running file-chosen code.
_OPAQUE = {
    "numpy.core.multiarray._reconstruct": "numpy array",
    "numpy._core.multiarray._reconstruct": "numpy array",
    "numpy.core.multiarray.scalar": "numpy scalar",
    "numpy._core.multiarray.scalar": "numpy scalar",
    "numpy.ndarray": "numpy array",
    "numpy.dtype": "numpy dtype",
    **{name: "numpy bit generator" for name in _NUMPY_BIT_GENERATOR_CLASSES},
    "numpy.random.bit_generator.SeedSequence": "numpy seed sequence",
    "torch.layout": "torch layout",
    "torch.memory_format": "torch memory format",
    # a str subclass: checkpoints that record torch.__version__ hold one (torch's own weights-only loader allows it)
    "torch.torch_version.TorchVersion": "torch version string",
}
#: Old module names ``pickle`` maps for protocol 0-2 files written by Python 2.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _classify(ref: GlobalRef) -> str:
    """How a foreign global behaves when ``pickle.load`` calls it: a threat, a class to rebuild, or data."""
    module, name = ref.module, ref.name
    if ref.full in _OPAQUE or module == "typing":  # typing.Any & co.: annotations an omegaconf node carries
        return OPAQUE
    if module == "builtins":
        if name in _DANGEROUS_BUILTINS:
            return DANGER
        return OPAQUE if name in _PLAIN_BUILTIN_TYPES else FUNCTION
    if any(module == m or module.startswith(m + ".") for m in _DANGEROUS_MODULES):
        return DANGER
    if ref.full in ("torch.load", "torch.save", "torch.compile", "numpy.load"):
        return DANGER
    if module == "copyreg" and name in ("_reconstructor", "__newobj__", "__newobj_ex__"):
        return CLASS
    if module == "copyreg":
        return DANGER
    last = name.rpartition(".")[2]
    if "." in name or not name.isidentifier():  # nested attribute lookups: getattr in disguise
        return DANGER
    return CLASS if last[:1].isupper() else FUNCTION


def _rebuildable(ref: GlobalRef) -> bool:
    """A whole model's global that may be rebuilt as data or left unimported: a class or function (never a
    dangerous one) named by an importable dotted path; anything else still needs its code."""
    return _classify(ref) in (CLASS, FUNCTION) and all(p.isidentifier() for p in ref.module.split("."))


#: Modules of training frameworks whose enumerations their argument objects hold (``TrainingArguments``'s
#: ``save_strategy``, ``lr_scheduler_type``, ``optim``, ``debug``...): ``training_args.bin`` beside every Hugging
#: Face Trainer checkpoint pickles them as the class called with the member's value. Calling the real class with
#: another value raises; the file cannot change what the installed class does.
_ENUM_MODULES = frozenset(
    {
        "transformers.trainer_utils",
        "transformers.training_args",
        "transformers.debug_utils",
        "transformers.utils.generic",
        "transformers.trainer_pt_utils",
        "accelerate.utils.dataclasses",
        "trl.trainer.utils",
    }
)


def _is_framework_enum(ref: GlobalRef) -> bool:
    """A class of a training framework's argument enumerations (see :data:`_ENUM_MODULES`)."""
    return ref.module in _ENUM_MODULES and ref.name[:1].isupper() and ref.name.isidentifier()


def _is_script_class(ref: GlobalRef) -> bool:
    """A TorchScript archive's own module classes (``__torch__.*``): rebuilt as plain attribute dicts."""
    return ref.module == "__torch__" or ref.module.startswith("__torch__.")


#: Configuration objects that training frameworks pickle beside the weights (Lightning's and Hydra's omegaconf
#: hyper-parameters, argparse namespaces): plain data, rebuilt here as attribute dicts like TorchScript's module
#: objects. ``torch.load`` would run their library's code (not the file's) to rebuild them. Paths stay a threat
#: (pathlib is among the modules whose calls are never allowed).
_CONFIG_MODULES = ("omegaconf",)
_CONFIG_CLASSES = {
    "argparse.Namespace",
    # Lightning's hyper-parameter dicts (a dict subclass with attribute access)
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning.pytorch.utilities.parsing.AttributeDict",
}


def _is_config_class(ref: GlobalRef) -> bool:
    return ref.full in _CONFIG_CLASSES or any(
        ref.module == m or ref.module.startswith(m + ".") for m in _CONFIG_MODULES
    )


class _Unpickler:
    """Runs one pickle in the bounded :class:`~.pickle_vm.Machine` with the torch allowlist.

    Standard tensor-rebuild globals become small placeholders; a call of anything dangerous is recorded as a
    threat (never made); an ordinary class to rebuild is noted as needing its code.
    """

    def __init__(
        self,
        path: Path,
        *,
        storages: Optional[dict[str, StorageRef]] = None,
        whole: bool = False,
        package: bool = False,
    ) -> None:
        self.path = path
        self.storages = storages  # None: no persistent ids allowed (the legacy format's header pickles)
        self.whole = whole
        self.package = package  # a torch.package pickle: its objects may reduce through the package's importer
        self.package_calls: list[GlobalRef] = []

    def resolve(self, module: str, name: str, offset: int) -> Any:
        # Python 2 names, as pickle's protocol 0-2 writers still emit them (int is '__builtin__ long')
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (_PY2_MODULES.get(module, module), name))
        full = f"{module}.{name}"
        if full in _CALLABLES:
            return _CALLABLES[full]
        if self.package and full == "torch.jit._script.unpackage_script_module":  # see persistent_load
            return _Marker("package", name)
        if full in _TYPES:
            return _Marker("type", name)
        if full in ("torch.storage.UntypedStorage", "torch.UntypedStorage"):
            return _Marker("storage", "UntypedStorage", DTYPES["U8"])
        if module == "torch" and name in TORCH_NAMES and name.endswith("Storage"):
            return _Marker("storage", name, DTYPES[TORCH_NAMES[name]])
        if module == "torch" and name in _DTYPE_NAMES:
            return _Marker("dtype", name, DTYPES.get(TORCH_NAMES.get(name, "")))
        if (module == "torch" and name.endswith("Storage")) or (
            module == "torch._utils" and name.startswith("_rebuild_")
        ):
            raise _Unsupported(f"tensors of a kind it cannot read (global '{clean_text(full)[:200]}')")
        return GlobalRef(module, name, offset)

    def persistent_load(self, pid: Any) -> Any:
        if self.storages is None:
            raise PickleError("unexpected persistent id")
        if isinstance(pid, tuple) and pid and pid[0] == "module":
            cls = pid[1] if len(pid) > 1 and isinstance(pid[1], GlobalRef) else None
            if self.whole and cls is not None and _classify(cls) == CLASS:
                return cls  # a legacy whole model names each module class this way (its source only compared)
            named = f"global '{clean_text(cls.full)[:200]}': " if cls is not None else ""
            raise UnsafeFileError(
                f"holds a pickled model class with its source code ({named}legacy torch.save of a whole model, "
                "it needs its class's code); only plain state_dict checkpoints are opened",
                path=self.path,
                hint=RESAVE,
            )
        if self.package and isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "reduce_package":
            # an object the package's importer rebuilds by calling pid[2](importer, *pid[3]): a scripted module
            # (read from the archive's .data/ts_code/<id>/ on its own), or a call that is recorded, never made
            func, args = pid[2], pid[3]
            if (
                isinstance(func, _Marker)
                and func.kind == "package"
                and isinstance(args, tuple)
                and len(args) == 1
                and isinstance(args[0], str)
                and len(args[0]) <= 64
            ):
                return f"<scripted module ts_code/{clean_text(args[0])}>"
            if isinstance(func, GlobalRef):
                self.package_calls.append(func)
                return None
            raise PickleError(f"unexpected persistent id {brief(pid)}")
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise PickleError(f"unexpected persistent id {brief(pid)}")
        stype, key, _location, numel = pid[1:5]
        if _is_index(key):  # torch.package numbers its storages
            key = str(key)
        if self.package and isinstance(key, str) and key.endswith(".storage"):  # its scripted modules name the file
            key = key[: -len(".storage")]
        view = pid[5] if len(pid) == 6 else None
        if not (isinstance(stype, _Marker) and stype.kind == "storage" and stype.dtype is not None):
            raise PickleError(f"storage of unexpected type {brief(stype)}")
        if not (isinstance(key, str) and 0 < len(key) <= 256 and "/" not in key and _is_index(numel)):
            raise PickleError(f"bad storage record {brief(pid)}")
        dt = stype.dtype
        nbytes = numel * dt.itemsize
        root = self.storages.get(key)
        if root is None:
            if len(self.storages) >= MAX_TENSORS:
                raise PickleError(f"pickle declares more than {MAX_TENSORS:,} storages")
            root = self.storages[key] = StorageRef(key, dt, nbytes, nbytes)
        elif root.dtype != dt or root.root_nbytes != nbytes:
            raise PickleError(f"storage {clean_text(key)!r} is declared twice with different types or sizes")
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise PickleError(f"bad storage view {brief(view)}")
        _view_key, view_offset, view_numel = view  # legacy storage views (torch < 0.4)
        if not (_is_index(view_offset) and _is_index(view_numel)) or (view_offset + view_numel) > numel:
            raise PickleError(f"storage view {brief(view)} reaches past storage {clean_text(key)!r}")
        return StorageRef(key, dt, view_numel * dt.itemsize, nbytes, view_offset * dt.itemsize)


@dataclass
class Unpickled:
    """What one pickle holds: its object (``None`` where only threats could be found), its threats."""

    obj: Any
    threats: list[Threat]
    end: int  # offset just past STOP
    #: ``(offset in the pickle, value)`` of text and bytes literals the object does not hold: dropped from the
    #: stack, or the state of something never rebuilt (a numpy array's data)
    discarded: list[tuple[int, Any]] = field(default_factory=list)
    #: the classes (and other globals) of a pickled whole model that ``torch.load`` would import from their
    #: packages, rebuilt here as attribute dicts (or left unimported)
    rebuilt: list[str] = field(default_factory=list)
    #: the keys of the state_dicts' ``_metadata`` (module names), judged as the checkpoint's strings are
    module_keys: list[str] = field(default_factory=list)


def class_code(rebuilt: list[str], where: str) -> tuple[Threat, ...]:
    """The note a pickled whole model gets: ``torch.load`` imports these classes' packages and rebuilds their
    objects with that code (not code from the file); judged as a warning, as TorchScript's code is."""
    if not rebuilt:
        return ()
    shown = tuple(clean_text(r)[:200] for r in rebuilt[:MAX_CLASS_LISTING])
    module, _, name = shown[0].rpartition(".")
    return (Threat(module, name, "class-code", 0, where, shown),)


def unpickle(
    file: Any,
    size: int,
    path: Path,
    what: str,
    storages: Optional[dict[str, StorageRef]] = None,
    *,
    scripted: bool = False,
    whole: bool = False,
    package: bool = False,
) -> Unpickled:
    """Run one pickle from ``file`` (its first opcode at the current position; ``size`` bytes at most).

    Returns the object with the threats found; raises :class:`UnsafeFileError` for a pickle that needs a class's
    code (and calls nothing dangerous), :class:`MalformedFileError` / :class:`UnsupportedFormatError` otherwise.
    Once a threat is recorded, a later failure only ends the reading: the threats are what the file is about.
    ``whole``: a checkpoint's object pickle, which may be a whole model (``torch.save(model)``): objects its
    classes build without arguments are rebuilt as attribute dicts, and those classes listed in ``rebuilt``.
    ``package``: a pickle of a ``torch.package`` archive, whose objects may be rebuilt by its importer.
    """
    up = _Unpickler(path, storages=storages, whole=whole, package=package)
    machine = Machine(
        file,
        size,
        up.resolve,
        _classify,
        up.persistent_load if storages is not None else None,
        scripted=(lambda ref: _is_script_class(ref) or _is_config_class(ref)) if scripted else _is_config_class,
        rebuildable=_rebuildable if whole else None,
        enums=_is_framework_enum if whole else None,
    )
    obj: Any = None
    failure: Optional[InspectorError] = None
    try:
        obj = machine.run()
        machine.finish()
    except BudgetError as e:
        failure = MalformedFileError(f"{what} {e}", path=path, hint="This is not a checkpoint written by torch.save")
    except PickleError as e:
        failure = MalformedFileError(
            f"{what} is not a valid checkpoint pickle ({clean_text(str(e))[:300]})", path=path, hint=RECOPY
        )
    except _Unsupported as e:
        failure = UnsupportedFormatError(
            f"holds {e}, which Model Inspector cannot read (sparse, quantized, complex or device-specific tensors)",
            path=path,
            hint="Convert them to dense float tensors and save them as safetensors in a trusted environment",
        )
    threats = [Threat(t.module, t.name, t.call, t.offset, what, t.listing) for t in machine.threats[:MAX_THREATS]]
    threats += [
        Threat(g.module, g.name, "call", g.offset, what) for g in up.package_calls[: MAX_THREATS - len(threats)]
    ]
    if threats:
        return Unpickled(None if failure else obj, threats, file.tell())
    if failure is not None:
        raise failure
    if machine.needs_code:
        ref = machine.needs_code[0]
        torchy = ref.module.startswith(("torch.nn.", "__torch__")) or ref.module == "__main__"
        what_it_is = "a pickled whole model, not a state_dict" if torchy else "a pickled object of its own class"
        raise UnsafeFileError(
            f"refuses to load global '{clean_text(ref.full)[:200]}' ({what_it_is}: it needs its class's code to "
            "load); only plain state_dict checkpoints are opened, and nothing from the file was run",
            path=path,
            hint=RESAVE,
        )
    return Unpickled(
        obj, [], file.tell(), _discarded(machine.literals, obj), [r.full for r in machine.rebuilt], machine.module_keys
    )


def _discarded(literals: list[tuple[int, Any]], obj: Any) -> list[tuple[int, Any]]:
    """The literals not reachable from ``obj`` (a bounded walk of its containers; ids, not values, compared)."""
    if not literals:
        return []
    wanted = {id(v) for _, v in literals}
    seen: set[int] = set()
    todo = [obj]
    steps = 0
    while todo and wanted and steps < 10_000_000:
        steps += 1
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        wanted.discard(id(o))
        if isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
        elif isinstance(o, ScriptObject):
            todo.append(o.state)
        elif isinstance(o, NumpyArray):
            todo.append(o.data)
        elif isinstance(o, NumpyGenerator):
            todo.append(o.state)
    return [(pos, v) for pos, v in literals if id(v) in wanted]


class CappedReader:
    """A file view for the unpickler that reads exactly what is asked (so ``tell`` is exact) up to a cap."""

    def __init__(self, f: Any, path: Path, cap: int = MAX_PICKLE_BYTES) -> None:
        self.f, self.path, self.used, self.cap = f, path, 0, cap
        self.capped = False  # set when a read ran into the cap
        self.line_capped = False  # ... and that read was a text opcode's line, still without its newline
        self.line_start = 0  # where the last line read began (bytes from the start)
        self.size = os.fstat(f.fileno()).st_size

    def _clamp(self, n: int) -> int:
        """At most what the file still holds (a corrupt length must not make us allocate it), and the cap."""
        return max(0, min(n, self.size - self.f.tell(), self.cap + 1 - self.used))

    def _take(self, n: int) -> int:
        self.used += n
        if self.used > self.cap:
            self.capped = True
            raise MalformedFileError(
                f"pickle is over {self.cap:,} bytes, too large for checkpoint structure", path=self.path
            )
        return n

    def read(self, n: int = -1) -> bytes:
        if n is not None and 0 <= n <= 65536:  # the opcode reads: a small read allocates at most what is there
            data: bytes = self.f.read(n)
            self.used += len(data)
            if self.used > self.cap:
                self._take(0)
            return data
        data = self.f.read(self._clamp(self.cap + 1 if n is None or n < 0 else n))
        self._take(len(data))
        return data

    def readinto(self, buf: Any) -> int:
        got: int = self.f.readinto(buf)
        return self._take(got)

    def readline(self) -> bytes:
        self.line_start = self.used
        data: bytes = self.f.readline(self.cap + 1 - self.used)
        self.line_capped = not data.endswith(b"\n")
        self._take(len(data))
        return data

    def tell(self) -> int:
        return int(self.f.tell())

    def seek(self, pos: int) -> None:
        """Rewind to ``pos`` (after :func:`_check_opcodes`); the bytes will be read, and counted, again."""
        self.used -= self.f.tell() - pos
        self.f.seek(pos)


# ---------------------------------------------------------------------------------------------- flattening
class _Repr(reprlib.Repr):
    """reprlib with every leaf bounded *before* it is rendered (reprlib renders bytes and ints in full first)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple, self.maxstring, self.maxother = 4, 8, 8, 8, 200, 80
        self.maxset = self.maxfrozenset = 8

    def repr_OrderedDict(self, obj: Any, level: int) -> str:  # noqa: N802 (reprlib's naming)
        return self.repr_dict(obj, level)

    def repr_bytes(self, obj: Any, level: int) -> str:
        head = repr(bytes(obj[: self.maxstring]))
        return head if len(obj) <= self.maxstring else f"{head}...({len(obj):,} bytes)"

    repr_bytearray = repr_bytes

    def repr_int(self, obj: Any, level: int) -> str:
        if obj.bit_length() > 256:
            return f"<int of {obj.bit_length():,} bits>"
        return repr(obj)

    def repr_dict(self, obj: Any, level: int) -> str:  # never sorts: keys may be many, or not comparable
        if not obj:
            return "{}"
        if level <= 0:
            return "{...}"
        parts = []
        for i, (k, v) in enumerate(obj.items()):
            if i >= self.maxdict:
                parts.append("...")
                break
            parts.append(f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}")
        return "{" + ", ".join(parts) + "}"

    def repr_set(self, obj: Any, level: int) -> str:
        return self._items(obj, "{", "}", level)

    def repr_frozenset(self, obj: Any, level: int) -> str:
        return self._items(obj, "frozenset({", "})", level)

    def _items(self, obj: Any, left: str, right: str, level: int) -> str:
        if level <= 0:
            return left + "..." + right
        parts = []
        for i, v in enumerate(obj):
            if i >= self.maxset:
                parts.append("...")
                break
            parts.append(self.repr1(v, level - 1))
        return left + ", ".join(parts) + right


_REPR = _Repr()


def brief(obj: Any, limit: int = 200) -> str:
    """A bounded, printable repr of anything the unpickler built (for messages and metadata)."""
    try:
        text = _REPR.repr(obj)
    except (ValueError, TypeError, RecursionError):
        text = f"<{type(obj).__name__}>"
    return clean_text(text)[:limit]


#: The attributes where an ``nn.Module`` keeps its parameters, buffers and submodules under their own names.
_MODULE_DICTS = ("_parameters", "_buffers", "_modules")


class Flattener:
    """Lists tensors in order of appearance with dotted names; non-tensor leaves become string metadata."""

    def __init__(self, path: Path, max_tensors: int = MAX_TENSORS) -> None:
        self.path = path
        self.max_tensors = max_tensors
        self.tensors: list[tuple[str, _Tensor | NumpyArray]] = []
        self.metadata: dict[str, str] = {}
        self.omitted = 0
        self.refused = 0
        #: non-tensor values big enough to carry data: (name, their bytes up to HIDDEN_SAMPLE, their size)
        self.blobs: list[tuple[str, bytes, int]] = []
        self._holds: dict[int, bool] = {}
        self._seen: set[int] = set()
        self._aliases: dict[int, int] = {}
        self._script = False
        #: strings inside containers that look like pieces of encoded data (see :meth:`gather`)
        self.gathered: list[str] = []
        self.gathered_chars = 0
        self._gathered_from: set[int] = set()  # containers searched for encoded pieces already

    def _too_deep(self) -> MalformedFileError:
        return MalformedFileError(f"checkpoint nests containers deeper than {MAX_DEPTH} levels", path=self.path)

    def holds(self, obj: Any, depth: int = 0) -> bool:
        """Whether ``obj`` holds a tensor or storage anywhere below it (memoised; cycles count as empty)."""
        if isinstance(obj, (_Tensor, StorageRef)):
            return True
        if isinstance(obj, NumpyArray):  # numbers are a tensor; an object array's items may hold one
            return obj.element() is not None or (isinstance(obj.data, list) and self.holds(obj.data, depth + 1))
        if isinstance(obj, NumpyGenerator):
            return self.holds(obj.state, depth + 1)
        if isinstance(obj, ScriptObject):
            return self.holds(obj.state, depth + 1)
        if not isinstance(obj, CONTAINERS):
            return False
        if depth > MAX_DEPTH:
            raise self._too_deep()
        known = self._holds.get(id(obj))
        if known is not None:
            return known
        self._holds[id(obj)] = False
        items = obj.items() if isinstance(obj, dict) else ((None, v) for v in obj)
        found = False
        for k, v in items:
            key_holds = self.holds(k, depth + 1)
            value_holds = self.holds(v, depth + 1)
            found = found or key_holds or value_holds
        self._holds[id(obj)] = found
        return found

    def wrapper(self, top: Any) -> Optional[str]:
        if not isinstance(top, dict):
            return None
        bearing = [k for k, v in top.items() if self.holds(v)]
        if len(bearing) == 1 and bearing[0] in WRAPPERS and isinstance(top[bearing[0]], dict):
            return str(bearing[0])
        return None

    def _add(self, name: str, t: _Tensor | NumpyArray) -> None:
        seen = self._aliases.get(id(t), 0) + 1
        self._aliases[id(t)] = seen
        if seen > MAX_ALIASES:
            raise MalformedFileError(
                f"one tensor is listed under more than {MAX_ALIASES} names (a file built to multiply the work)",
                path=self.path,
                hint="Re-save the state_dict with torch.save",
            )
        if len(self.tensors) >= self.max_tensors:
            raise MalformedFileError(
                f"checkpoint lists more than {self.max_tensors:,} tensors, more than its pickle can describe",
                path=self.path,
                hint="Re-save the state_dict with torch.save",
            )
        self.tensors.append((clean_text(name), t))

    def walk(self, obj: Any, parts: list[str], depth: int = 0, strip: Optional[str] = None) -> None:
        if depth > MAX_DEPTH:
            raise self._too_deep()
        if isinstance(obj, _Tensor):
            self._add(".".join(parts) or "tensor", obj)
        elif isinstance(obj, NumpyArray) and obj.element() is not None:  # a numpy array of numbers: a tensor
            self._add(".".join(parts) or "array", obj)
        elif isinstance(obj, NumpyArray) and isinstance(obj.data, list):  # of Python objects: its items
            self.walk(obj.data, parts, depth + 1)
        elif isinstance(obj, NumpyGenerator):  # its state: the key array, counters
            self.walk(obj.state, parts, depth + 1)
        elif isinstance(obj, NumpyArray) and parts:  # of another type (complex, text, records): its bytes
            self.leaf(".".join(parts), bytes(obj.data) if isinstance(obj.data, (bytes, bytearray)) else obj)
        elif isinstance(obj, StorageRef):  # a bare storage: its bytes are data too
            self._add(".".join(parts) or "storage", _make_tensor(obj, 0, (obj.nbytes // obj.dtype.itemsize,), (1,)))
        elif isinstance(obj, ScriptObject) and obj.whole:  # an object of a pickled whole model
            if id(obj) not in self._seen:
                self._seen.add(id(obj))
                state = obj.state
                for k in _MODULE_DICTS:  # first, named as its state_dict names them
                    v = state.get(k)
                    if isinstance(v, dict):
                        for kk, vv in v.items():
                            self.walk(vv, [*parts, _key(kk)], depth + 2)
                for k, v in state.items():
                    if k in _MODULE_DICTS and isinstance(v, dict):
                        continue
                    if self.holds(v) and not self._listed_already(v):
                        self.walk(v, [*parts, _key(k)], depth + 1)
                    elif not self.holds(v):  # its configuration: not metadata, but a value big enough to carry
                        self.blob(".".join([*parts, _key(k)]), v)  # data is judged
        elif isinstance(obj, ScriptObject):  # a TorchScript module: its attributes, weights among them
            if id(obj) not in self._seen:
                self._seen.add(id(obj))
                self._script = True
                self.walk(obj.state, parts, depth + 1)
        elif isinstance(obj, CONTAINERS) and (self.holds(obj) or (not parts and isinstance(obj, dict))):
            if id(obj) in self._seen:  # shared or cyclic: its tensors are already listed under the first name
                return
            self._seen.add(id(obj))
            if isinstance(obj, dict):
                for i, (k, v) in enumerate(obj.items()):
                    if self.holds(k):  # tensors used as keys are data too
                        self.walk(k, [*parts, f"<key {i}>"], depth + 1)
                    self.walk(v, [] if strip is not None and k == strip else [*parts, _key(k)], depth + 1)
            else:
                for i, v in enumerate(obj):
                    self.walk(v, [*parts, str(i)], depth + 1)
        elif obj is Poison:
            self.refused += 1
            if parts:
                self.leaf(".".join(parts), obj)
        elif parts and not self._script:  # a TorchScript module's other attributes are its configuration
            self.leaf(".".join(parts), obj)

    def _listed_already(self, obj: Any) -> bool:
        """Whether every tensor in a list or tuple is listed already (an LSTM's ``_flat_weights`` repeats its
        parameters: listed once, under their state_dict names)."""
        if isinstance(obj, (list, tuple)) and obj:
            return all(isinstance(v, _Tensor) and id(v) in self._aliases for v in obj)
        return isinstance(obj, _Tensor) and id(obj) in self._aliases

    def blob(self, name: str, obj: Any, depth: int = 0) -> None:
        """Keep a value big enough to carry data (in containers too) as hidden bytes to judge."""
        if depth > MAX_DEPTH:
            raise self._too_deep()
        if isinstance(obj, CONTAINERS):
            if id(obj) in self._seen:
                return
            self._seen.add(id(obj))
            items = obj.items() if isinstance(obj, dict) else enumerate(obj)
            for k, v in items:
                self.blob(f"{name}.{_key(k)}", v, depth + 1)
            return
        found = value_blob(obj)
        if found is not None and len(self.blobs) < MAX_METADATA:
            self.blobs.append((clean_text(name)[:1000], *found))

    def leaf(self, name: str, obj: Any) -> None:
        blob = value_blob(obj)
        if blob is not None and len(self.blobs) < MAX_METADATA:
            self.blobs.append((clean_text(name)[:1000], *blob))
        elif isinstance(obj, CONTAINERS):
            self.gather(obj)
        if len(self.metadata) >= MAX_METADATA:
            self.omitted += 1
            return
        if isinstance(obj, str):
            text = clean_text(obj if len(obj) <= 1000 else obj[:1000] + "...")
        elif isinstance(obj, (bool, float)) or obj is None:
            text = str(obj)
        else:
            text = brief(obj) if not (type(obj) is int and obj.bit_length() > 256) else "<int>"
        self.metadata[f"pytorch.{clean_text(name)[:1000]}"] = text

    def gather(self, obj: Any) -> None:
        """Keep the strings inside a container that look like pieces of encoded data (see
        :func:`~.values.encoded_pieces`); :attr:`gathered` is judged as one region."""
        self.gathered_chars = encoded_pieces(obj, self.gathered, self.gathered_chars, seen=self._gathered_from)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if type(k) is int and k.bit_length() > 256:
        return "<int>"
    return str(k) if isinstance(k, (int, float, bool)) or k is None else brief(k)
