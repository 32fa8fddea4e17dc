"""The restricted unpickler behind the PyTorch checkpoint readers, and the flattening of what it returns.

:class:`_RestrictedUnpickler` knows only the standard tensor-rebuild globals and builds small placeholders for
them; any other global (``posix.system``, a pickled ``nn.Module`` class, ...) is refused by name before
anything is called. :class:`_Flattener` turns the unpickled containers into dotted tensor names and metadata.
torch is never imported.
"""

from __future__ import annotations

import collections
import math
import os
import pickle
import pickletools
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from inspector.core.dtypes import DTYPES, TORCH_NAMES, DType
from inspector.core.errors import InspectorError, MalformedFileError, UnsafeFileError, UnsupportedFormatError
from inspector.core.formats.base import MAX_NDIM, shape_problem

#: Largest object pickle we read. It holds only structure (names, shapes, keys), never tensor data.
MAX_PICKLE_BYTES = 1 << 30
#: Most elements of a view that repeats stored values (zero or overlapping strides), e.g. ``t.expand(...)``.
MAX_REPEATED_NUMEL = 1 << 24
MAX_DEPTH = 100
MAX_METADATA = 1000
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
#: Top-level keys whose value is the model's state_dict when nothing else in the file holds tensors.
WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "model_state", "weights")

_RESAVE = (
    "If you trust the file, load it in a trusted environment and re-save model.state_dict() as safetensors "
    "(safetensors.torch.save_file)"
)
_RECOPY = "The file is damaged or truncated; copy it again from its source or re-save it with torch.save"

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
    """A torch global the pickle may name but never call: a storage class, a dtype, the Tensor type."""

    kind: str  # "storage", "dtype" or "type"
    name: str
    dtype: Optional[DType] = None

    def __repr__(self) -> str:
        return f"torch.{self.name}"


@dataclass(frozen=True, eq=False)
class _Storage:
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
    storage: _Storage
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
    if not isinstance(storage, _Storage):
        raise ValueError(f"tensor rebuilt from {type(storage).__name__}, not from a storage")
    size, stride = tuple(size), tuple(stride)
    if len(size) > MAX_NDIM or len(size) != len(stride):
        raise ValueError(f"bad tensor layout: shape {size[:8]} with strides {stride[:8]}")
    if not all(map(_is_index, size + stride)) or not _is_index(storage_offset):
        raise ValueError(f"bad tensor layout: shape {size}, strides {stride}, offset {storage_offset!r}")
    dt = dtype or storage.dtype
    bad_shape = shape_problem(size)
    if bad_shape:
        raise ValueError(bad_shape)
    numel = math.prod(size)
    offset = storage_offset * dt.itemsize
    if numel:
        elements = _span(size, stride)
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


def _span(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
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
        raise ValueError(f"tensor dtype is {dtype!r}, not a torch dtype")
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
    return func(*args)  # type: ignore[no-any-return]


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol-2 pickles spell a bytes object as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise ValueError("unexpected _codecs.encode arguments")
    return text.encode(encoding)


def _torch_size(dims: Any = ()) -> tuple[int, ...]:
    dims = tuple(dims)
    if not all(_is_index(d) for d in dims):
        raise ValueError("bad torch.Size")
    return dims


def _torch_device(kind: Any, index: Any = None) -> _Device:
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise ValueError("bad torch.device")
    return _Device(kind if index is None else f"{kind}:{index}")


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
    "collections.OrderedDict": collections.OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "_codecs.encode": _codecs_encode,
    "torch.Size": _torch_size,
    "torch.device": _torch_device,
}
_TYPES = {"torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter", "torch.nn.Parameter"}


# ---------------------------------------------------------------------------------------------- unpickler
class _RestrictedUnpickler(pickle.Unpickler):
    """Builds placeholders for the standard tensor globals and refuses every other global by name."""

    def __init__(self, file: Any, path: Path, *, storages: Optional[dict[str, _Storage]] = None) -> None:
        super().__init__(file, encoding="utf-8")
        self.path = path
        self.storages = storages  # None: no persistent ids allowed (the legacy format's header pickles)

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in _CALLABLES:
            return _CALLABLES[full]
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
            raise UnsupportedFormatError(
                f"holds a kind of tensor Model Inspector cannot read (global '{full}': sparse, quantized, complex "
                "or device-specific tensors)",
                path=self.path,
                hint="Convert it to dense float tensors and save it as safetensors in a trusted environment",
            )
        if module.startswith("torch.nn.") or module == "__main__" or module.startswith("__torch__"):
            what = "a pickled whole model, not a state_dict: it needs its class"
        else:
            what = "this file asks to run code"
        raise UnsafeFileError(
            f"refuses to load global '{full}' ({what}); only plain state_dict checkpoints are opened, and "
            "nothing from the file was run",
            path=self.path,
            hint=_RESAVE,
        )

    def persistent_load(self, pid: Any) -> Any:
        if self.storages is None:
            raise ValueError("unexpected persistent id")
        if isinstance(pid, tuple) and pid and pid[0] == "module":
            raise UnsafeFileError(
                "holds a pickled model class with its source code (legacy torch.save of a whole model); "
                "only plain state_dict checkpoints are opened",
                path=self.path,
                hint=_RESAVE,
            )
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise ValueError(f"unexpected persistent id {reprlib.repr(pid)}")
        stype, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not (isinstance(stype, _Marker) and stype.kind == "storage" and stype.dtype is not None):
            raise ValueError(f"storage of unexpected type {reprlib.repr(stype)}")
        if not (isinstance(key, str) and 0 < len(key) <= 256 and "/" not in key and _is_index(numel)):
            raise ValueError(f"bad storage record {reprlib.repr(pid)}")
        dt = stype.dtype
        nbytes = numel * dt.itemsize
        root = self.storages.get(key)
        if root is None:
            root = self.storages[key] = _Storage(key, dt, nbytes, nbytes)
        elif root.dtype != dt or root.root_nbytes != nbytes:
            raise ValueError(f"storage {key!r} is declared twice with different types or sizes")
        if view is None:
            return root
        view_key, view_offset, view_numel = view  # legacy storage views (torch < 0.4)
        if not (_is_index(view_offset) and _is_index(view_numel)) or (view_offset + view_numel) > numel:
            raise ValueError(f"storage view {reprlib.repr(view)} reaches past storage {key!r}")
        return _Storage(key, dt, view_numel * dt.itemsize, nbytes, view_offset * dt.itemsize)


def _check_opcodes(file: Any) -> None:
    """Walk the pickle's opcodes once without building anything, then rewind.

    The C unpickler allocates a length-prefixed object (``BYTEARRAY8``, ``BINBYTES8``...) at its claimed size
    before reading it, so one corrupt length field asks for exabytes (and CPython 3.11 may then print a stray
    ``SystemError`` on stderr). :func:`pickletools.genops` reads the same lengths but only ever asks the file for
    the bytes that are there, and fails with "expected N bytes ... but only M remain".
    """
    start = file.tell()
    for _ in pickletools.genops(file):
        pass
    file.seek(start)


def _unpickle(file: Any, path: Path, what: str, storages: Optional[dict[str, _Storage]] = None) -> Any:
    try:
        _check_opcodes(file)
        return _RestrictedUnpickler(file, path, storages=storages).load()
    except InspectorError:
        raise
    except MemoryError:
        raise MalformedFileError(
            f"{what} claims an object larger than memory (a corrupt length field)", path=path, hint=_RECOPY
        ) from None
    except _Unsupported as e:
        raise UnsupportedFormatError(
            f"holds {e}, which Model Inspector cannot read", path=path, hint="Convert them to a supported dtype"
        ) from None
    except Exception as e:  # any failure of a hostile or broken pickle becomes one clear error
        detail = f"{type(e).__name__}: {e}"
        raise MalformedFileError(
            f"{what} is not a valid checkpoint pickle ({detail[:300]})", path=path, hint=_RECOPY
        ) from None


class _CappedReader:
    """A file view for the unpickler that reads exactly what is asked (so ``tell`` is exact) up to a cap."""

    def __init__(self, f: Any, path: Path) -> None:
        self.f, self.path, self.used = f, path, 0
        self.size = os.fstat(f.fileno()).st_size

    def _clamp(self, n: int) -> int:
        """At most what the file still holds (a corrupt length must not make us allocate it), and the cap."""
        return max(0, min(n, self.size - self.f.tell(), MAX_PICKLE_BYTES + 1 - self.used))

    def _take(self, n: int) -> int:
        self.used += n
        if self.used > MAX_PICKLE_BYTES:
            raise MalformedFileError(
                f"pickle is over {MAX_PICKLE_BYTES:,} bytes, too large for checkpoint structure", path=self.path
            )
        return n

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.f.read(self._clamp(MAX_PICKLE_BYTES + 1 if n is None or n < 0 else n))
        self._take(len(data))
        return data

    def readinto(self, buf: Any) -> int:
        got: int = self.f.readinto(buf)
        return self._take(got)

    def readline(self) -> bytes:
        data: bytes = self.f.readline(MAX_PICKLE_BYTES + 1 - self.used)
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
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple, self.maxstring, self.maxother = 4, 8, 8, 8, 200, 80

    def repr_OrderedDict(self, obj: Any, level: int) -> str:  # noqa: N802 (reprlib's naming)
        return self.repr_dict(obj, level)


_CONTAINERS = (dict, list, tuple, set, frozenset)


class _Flattener:
    """Lists tensors in order of appearance with dotted names; non-tensor leaves become string metadata."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tensors: list[tuple[str, _Tensor]] = []
        self.metadata: dict[str, str] = {}
        self.omitted = 0
        self._holds: dict[int, bool] = {}
        self._seen: set[int] = set()
        self._repr = _Repr()

    def _too_deep(self) -> MalformedFileError:
        return MalformedFileError(f"checkpoint nests containers deeper than {MAX_DEPTH} levels", path=self.path)

    def holds(self, obj: Any, depth: int = 0) -> bool:
        """Whether ``obj`` holds a tensor or storage anywhere below it (memoised; cycles count as empty)."""
        if isinstance(obj, (_Tensor, _Storage)):
            return True
        if not isinstance(obj, _CONTAINERS):
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

    def walk(self, obj: Any, parts: list[str], depth: int = 0, strip: Optional[str] = None) -> None:
        if depth > MAX_DEPTH:
            raise self._too_deep()
        if isinstance(obj, _Tensor):
            self.tensors.append((".".join(parts) or "tensor", obj))
        elif isinstance(obj, _Storage):  # a bare storage: its bytes are data too
            self.tensors.append(
                (".".join(parts) or "storage", _make_tensor(obj, 0, (obj.nbytes // obj.dtype.itemsize,), (1,)))
            )
        elif isinstance(obj, _CONTAINERS) and (self.holds(obj) or (not parts and isinstance(obj, dict))):
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
        elif parts:
            self.leaf(".".join(parts), obj)

    def leaf(self, name: str, obj: Any) -> None:
        if len(self.metadata) >= MAX_METADATA:
            self.omitted += 1
            return
        try:
            if isinstance(obj, str):
                text = obj if len(obj) <= 1000 else obj[:1000] + "..."
            elif isinstance(obj, (bool, int, float)) or obj is None:
                text = str(obj)
            else:
                text = self._repr.repr(obj)
        except ValueError:  # e.g. an int too long to print
            text = f"<{type(obj).__name__}>"
        self.metadata[f"pytorch.{name}"] = text


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    try:
        return str(k) if isinstance(k, (int, float, bool)) or k is None else reprlib.repr(k)
    except ValueError:
        return f"<{type(k).__name__}>"
