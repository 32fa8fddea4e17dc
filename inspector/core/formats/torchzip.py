"""Safe readers of PyTorch checkpoints written by ``torch.save``: the zip format and the legacy pickle stream.

Neither reader imports torch or runs code from the file. The pickle is read by :class:`_RestrictedUnpickler`,
which knows only the standard tensor-rebuild globals and builds small placeholders for them; any other global
(``posix.system``, a pickled ``nn.Module`` class, ...) is refused by name before anything is called. Tensors
become :class:`~.base.TensorRef` s pointing at the raw bytes of their storage inside the file, so reads go
through the shared :func:`~.base.read_tensor` / :func:`~.base.iter_chunks`.

Zip layout: ``<prefix>/data.pkl`` (the object pickle), ``<prefix>/data/<key>`` (one uncompressed member per
storage, little-endian), ``<prefix>/byteorder``. Legacy layout: five pickles in a row (magic number, protocol
version, system info, the object, the storage keys), then for each key an 8-byte element count and the bytes.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from inspector.core.errors import InspectorError, MalformedFileError, UnsafeFileError, UnsupportedFormatError
from inspector.core.formats.base import (
    HIDDEN_SAMPLE,
    MAX_TENSORS,
    Hidden,
    ModelFile,
    TensorRef,
    Threat,
    clean_text,
    file_identity,
    open_regular,
    zip_member_offset,
    zip_sidecars,
)
from inspector.core.formats.torch_pickle import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    MAX_ALIASES,
    MAX_PICKLE_BYTES,
    RECOPY,
    RESAVE,
    CappedReader,
    Flattener,
    NumpyArray,
    StorageRef,
    brief,
    class_code,
    storage_span,
    unpickle,
)
from inspector.core.formats.values import GATHER_CHARS


def _build(
    obj: Any,
    path: Path,
    fmt: str,
    storages: dict[str, StorageRef],
    offsets: dict[str, int],
    notes: dict[str, str],
    extra: Sequence[Hidden] = (),
    *,
    threats: tuple[Threat, ...] = (),
    max_tensors: int = MAX_TENSORS,
    file_id: Optional[tuple[int, int, int, int]] = None,
    discarded: Sequence[tuple[int, Any]] = (),
    pickle_name: str = "data.pkl",
    module_keys: Sequence[str] = (),
    pickle_bytes: int = 0,
) -> ModelFile:
    """Flatten the unpickled object and turn its tensors into refs at the storages' file ``offsets``.

    ``extra`` lists file bytes outside every storage the pickle uses (unreferenced zip members, legacy trailing
    bytes); with the storage bytes no tensor views they become the model's :class:`Hidden` bytes, read and judged
    as carriers no float test sees.
    Every tensor's layout is checked again here, where its file range is computed.
    """
    flat = Flattener(path, max_tensors)
    wrapper = flat.wrapper(obj)
    flat.walk(obj, [], strip=wrapper)
    if module_keys:  # module names: a part that looks like a piece of base64 is one (400 names "blocks.<64>")
        flat.gather([part for key in module_keys for part in key.split(".")])
    refs: list[TensorRef] = []
    names: set[str] = set()
    next_suffix: dict[str, int] = {}
    covered: dict[str, list[tuple[int, int]]] = {}
    holes: dict[str, list[tuple[str, int, tuple[int, ...], tuple[int, ...], int]]] = {}
    # numpy arrays' elements are in the pickle itself: held as read, one copy for arrays that share their bytes and
    # layout; arrays sharing one buffer count as aliases, and all of them together hold at most what the pickle
    # can justify (distinct arrays over one buffer, each rearranged, would multiply memory)
    copies: dict[tuple[int, bool, Any, tuple[int, ...]], bytes] = {}
    uses: dict[int, int] = {}
    array_bytes = 0
    held_arrays: set[tuple[int, bytes]] = set()
    for name, t in flat.tensors:
        if name in names:  # keep every tensor visible when two paths flatten to the same name (linear time)
            base, n = name, next_suffix.get(name, 1)
            while name in names:
                n += 1
                name = f"{base}#{n}"
            next_suffix[base] = n
        names.add(name)
        if isinstance(t, NumpyArray):
            dt = t.element()
            assert dt is not None  # only arrays of numbers are listed as tensors
            uses[id(t.data)] = uses.get(id(t.data), 0) + 1
            if uses[id(t.data)] > MAX_ALIASES:
                raise MalformedFileError(
                    f"one numpy buffer is listed as more than {MAX_ALIASES} arrays (a file built to multiply the work)",
                    path=path,
                    hint=RECOPY,
                )
            key = (id(t.data), t.fortran, t.axes, t.shape)
            data = copies.get(key)
            if data is None:
                array_bytes += len(t.data)
                if array_bytes > 2 * pickle_bytes + (16 << 20):
                    raise MalformedFileError(
                        f"numpy arrays hold more than {array_bytes:,} bytes, more than the pickle holds (arrays "
                        "sharing one buffer, built to multiply memory)",
                        path=path,
                        hint=RECOPY,
                    )
                data = copies[key] = t.c_order()
                held_arrays.add((len(t.data), bytes(t.data[:4096])))
            refs.append(
                TensorRef(
                    name=name,
                    dtype=dt,
                    shape=t.logical_shape,
                    path=path,
                    offset=0,
                    nbytes=len(data),
                    file_id=file_id,
                    inline=data,
                )
            )
            continue
        itemsize = t.dtype.itemsize
        start = t.storage.byte_offset + t.offset
        numel = math.prod(t.shape)
        contiguous = numel == 0 or _row_major(t.shape, t.strides)
        span = numel * itemsize if contiguous else storage_span(t.shape, t.strides) * itemsize
        st = storages.get(t.storage.key)
        if (
            st is None
            or t.offset < 0
            or t.storage.byte_offset < 0
            or start + span > t.storage.byte_offset + t.storage.nbytes
            or start + span > st.root_nbytes
            or any(s < 0 for s in t.strides)
            or len(t.strides) != len(t.shape)
        ):
            raise MalformedFileError(f"tensor {name[:200]!r} reaches outside its storage", path=path, hint=RECOPY)
        refs.append(
            TensorRef(
                name=name,
                dtype=t.dtype,
                shape=t.shape,
                path=path,
                offset=offsets[t.storage.key] + start,
                nbytes=span,
                strides=None if contiguous else t.strides,
                file_id=file_id,
            )
        )
        covered.setdefault(t.storage.key, []).append((start, start + span))
        if not contiguous and numel * itemsize < span:  # a strided view skips elements: bytes between them
            holes.setdefault(t.storage.key, []).append((name, start, t.shape, t.strides, itemsize))
    metadata = {**flat.metadata, **notes}
    if flat.omitted:
        metadata["pytorch.metadata_omitted"] = str(flat.omitted)
    if wrapper is not None:
        metadata["pytorch.wrapper"] = clean_text(wrapper)
    # a whole model's classes and a torch.package's source are notes, not calls
    refused = [t for t in threats if t.call not in ("class-code", "package", "package-unused")]
    if refused:
        metadata["pytorch.refused_calls"] = str(len(refused))
    hidden = [*_unviewed(storages, offsets, covered, holes, path, file_id), *extra]
    hidden += [Hidden("pickle", f"checkpoint entry {name!r}", size, path, -1, data) for name, data, size in flat.blobs]
    if flat.gathered_chars >= GATHER_CHARS:  # pieces of a blob cut into short strings (list items, dict keys)
        data = "".join(flat.gathered).encode("ascii")[:HIDDEN_SAMPLE]
        what = f"{len(flat.gathered):,} strings inside the checkpoint's lists and dicts that look encoded, joined"
        hidden.append(Hidden("pickle", what, flat.gathered_chars, path, -1, data))
    held = {(size, data[:4096]) for _, data, size in flat.blobs} | held_arrays
    for pos, value in discarded:  # built by the pickle, held by nothing the checkpoint loads as data
        if isinstance(value, str):  # numpy's array data arrives as latin-1 text (_codecs.encode)
            data = (
                value.encode("latin-1")
                if value.isascii() or max(value) <= "\xff"
                else value.encode("utf-8", "surrogatepass")
            )
        else:
            data = bytes(value)
        if (len(data), data[:4096]) in held:  # the text a bytes entry was rebuilt from (protocol 2's _codecs)
            continue
        where = f"a {len(data):,}-byte value at byte {pos:,} of {pickle_name} that no entry holds as data"
        hidden.append(Hidden("pickle", where, len(data), path, -1, data[:HIDDEN_SAMPLE]))
    if hidden:  # torch.save writes whole storages: bytes no tensor views are still in the file
        metadata["pytorch.unreferenced_storage_bytes"] = str(sum(h.nbytes for h in hidden))
    return ModelFile(
        path=path,
        format=fmt,
        tensors=tuple(refs),
        metadata=metadata,
        files=(path,),
        threats=tuple(threats),
        hidden=tuple(hidden),
    )


#: A strided view's skipped elements are counted exactly (a mask) in storages of up to this many elements.
_HOLE_MASK_ELEMENTS = 64 << 20


def _unviewed(
    storages: dict[str, StorageRef],
    offsets: dict[str, int],
    covered: dict[str, list[tuple[int, int]]],
    holes: dict[str, list[tuple[str, int, tuple[int, ...], tuple[int, ...], int]]],
    path: Path,
    file_id: Optional[tuple[int, int, int, int]],
) -> Iterator[Hidden]:
    """The bytes of each storage that no tensor view covers: gaps between views (a saved slice of a bigger
    tensor keeps the rest), and the elements a strided view steps over."""
    for key, st in storages.items():
        where = f"storage {clean_text(key)[:100]!r}"
        for a, b in _gaps(covered.get(key, []), st.root_nbytes):
            yield Hidden("storage", f"{where}, bytes {a:,}–{b:,}", b - a, path, offsets[key] + a, None, file_id)
        if key not in holes:
            continue
        size = st.dtype.itemsize
        n_el = st.root_nbytes // size
        if n_el <= _HOLE_MASK_ELEMENTS and all(
            h[4] == size and h[1] % size == 0 for h in holes[key]
        ):  # exact: mark every element some view shows
            seen = np.zeros(n_el, dtype=bool)
            strided = {h[1]: h for h in holes[key]}
            for a, b in covered[key]:
                if a in strided:
                    _, start, shape, strides, _ = strided[a]
                    as_strided(seen[start // size :], shape=shape, strides=strides, writeable=True)[...] = True
                else:
                    seen[a // size : -(-b // size)] = True
            gap_bytes = sum(b - a for a, b in _gaps(covered[key], st.root_nbytes))
            skipped = (n_el - int(np.count_nonzero(seen))) * size - gap_bytes
        else:  # too big to mask (or mixed element sizes): count the elements each strided view steps over
            skipped = sum((storage_span(sh, sd) - math.prod(sh)) * item for _, _, sh, sd, item in holes[key])
        if skipped > 0:
            names = ", ".join(repr(clean_text(h[0])[:100]) for h in holes[key][:3])
            yield Hidden("storage", f"{where}, between the elements of the strided view {names}", skipped, path)


def _gaps(ranges: list[tuple[int, int]], total: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each byte range in ``[0, total)`` that no range of ``ranges`` covers."""
    end = 0
    for a, b in sorted(ranges) + [(total, total)]:
        if a > end:
            yield end, a
        end = max(end, b)


def _row_major(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    expected = 1
    for d, s in zip(reversed(shape), reversed(strides), strict=True):
        if d != 1 and s != expected:
            return False
        expected *= d
    return True


def _union(ranges: list[tuple[int, int]]) -> int:
    total, end = 0, 0
    for a, b in sorted(ranges):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


# ---------------------------------------------------------------------------------------------- zip format
#: Members torch.save writes besides data.pkl and the storages.
_BOOKKEEPING = {
    "byteorder",
    "version",
    ".format_version",
    ".storage_alignment",
    ".data/version",
    ".data/serialization_id",
}


def _storage_offsets(
    f: Any,
    members: dict[str, zipfile.ZipInfo],
    storages: dict[str, StorageRef],
    member_of: Callable[[str], str],
    path: Path,
    size: int,
) -> dict[str, int]:
    """Where each storage's bytes start in the file: its member (named by ``member_of``) must be there, stored raw,
    and exactly as long as the pickle declares."""
    offsets: dict[str, int] = {}
    for key, st in storages.items():
        where = f"storage {clean_text(key)[:100]!r}"
        member = members.get(member_of(key))
        if member is None:
            raise MalformedFileError(f"{where} is missing from the archive", path=path, hint=RECOPY)
        if member.compress_type != zipfile.ZIP_STORED or member.flag_bits & 1:
            raise MalformedFileError(
                f"{where} is compressed or encrypted; tensors must be stored as raw bytes",
                path=path,
                hint="Re-save it with torch.save, or unzip and re-zip it without compression (zip -0)",
            )
        if member.file_size != st.root_nbytes:
            raise MalformedFileError(
                f"{where} holds {member.file_size:,} bytes but the pickle declares {st.root_nbytes:,}",
                path=path,
                hint=RECOPY,
            )
        offsets[key] = zip_member_offset(f, member, path, size)
    return offsets


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    try:
        return zf.read(info)
    except Exception as e:  # CRC errors, bad compression, encryption, truncation
        raise MalformedFileError(
            f"cannot read {clean_text(info.filename)[:200]!r} ({clean_text(str(e))[:200]})", path=path, hint=RECOPY
        ) from None


def _pickle_limit(info: zipfile.ZipInfo, path: Path) -> None:
    """data.pkl must be something torch's zip reader can read, and not expand beyond what its file justifies."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
        raise MalformedFileError(
            "data.pkl is encrypted or compressed with a method torch cannot read", path=path, hint=RECOPY
        )
    if info.file_size > MAX_PICKLE_BYTES:
        raise MalformedFileError(
            f"data.pkl is {info.file_size:,} bytes, over the {MAX_PICKLE_BYTES:,}-byte limit", path=path
        )
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > 64 * info.compress_size + (16 << 20):
        raise MalformedFileError(
            f"data.pkl expands from {info.compress_size:,} to {info.file_size:,} bytes (torch.save stores it "
            "uncompressed): a file built to exhaust memory",
            path=path,
            hint=RECOPY,
        )


def _zip_starts_at_zero(f: Any, zf: zipfile.ZipFile, path: Path) -> None:
    """torch reads a file as a zip only when it starts with a local header; bytes in front of the archive would
    let Python's zipfile (which tolerates them) see a different archive than torch. Refuse that."""
    end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # stable since Python 2
    if end is None:
        raise MalformedFileError("not a readable zip archive (no end record)", path=path, hint=RECOPY)
    concat = end[zipfile._ECD_LOCATION] - end[zipfile._ECD_SIZE] - end[zipfile._ECD_OFFSET]  # type: ignore[attr-defined]
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:  # type: ignore[attr-defined]
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]
    first = min((i.header_offset for i in zf.infolist()), default=0)
    if concat != 0 or first != 0:
        raise MalformedFileError(
            "zip archive does not start at the beginning of the file (bytes are prepended or hidden in front)",
            path=path,
            hint="A checkpoint written by torch.save starts with its archive; copy it again from its source",
        )


def open_torch_zip(path: Path) -> ModelFile:
    """Open a zip checkpoint written by ``torch.save`` (``.pt``/``.pth``/``.bin``) without importing torch.

    A pickle that would run code on load yields a ModelFile whose ``threats`` name it (with the tensors that
    could be read without it); :class:`UnsafeFileError` for one that needs a class's code,
    :class:`UnsupportedFormatError` for zips that are not checkpoints, :class:`MalformedFileError` otherwise.
    """
    path = Path(path)
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        file_id = file_identity(f)
        try:
            zf = zipfile.ZipFile(f)
        except Exception as e:  # BadZipFile, but hostile directories raise all sorts
            raise MalformedFileError(
                f"not a readable zip archive ({clean_text(str(e))[:200]})", path=path, hint=RECOPY
            ) from None
        with zf:
            return _open_zip(zf, f, path, size, file_id)


def _open_zip(zf: zipfile.ZipFile, f: Any, path: Path, size: int, file_id: tuple[int, int, int, int]) -> ModelFile:
    infos = zf.infolist()
    if len(infos) > 4 * MAX_TENSORS:
        raise MalformedFileError(f"zip archive lists {len(infos):,} members", path=path, hint=RECOPY)
    members = {i.filename: i for i in infos}
    if len(members) != len(infos):
        raise MalformedFileError("zip archive lists a member name twice", path=path, hint=RECOPY)
    _zip_starts_at_zero(f, zf, path)
    pkls = [n for n in members if re.fullmatch(r"[^/]+/data\.pkl", n)]
    if not pkls:
        if (root := _package_root(members)) is not None:
            return _open_package(zf, f, path, size, file_id, members, root)
        from inspector.core.formats.npz import is_npz, open_npz_model  # np.savez's arrays, a member each

        if is_npz(infos):
            return open_npz_model(zf, f, path, size, file_id)
        raise UnsupportedFormatError(
            "zip archive without a data.pkl: not a PyTorch checkpoint",
            path=path,
            hint="Open a file written by torch.save, or a .safetensors file",
        )
    if len(pkls) > 1:
        raise MalformedFileError(f"zip archive holds {len(pkls)} data.pkl files", path=path, hint=RECOPY)
    prefix = pkls[0][: -len("data.pkl")]
    # A TorchScript archive (torch.jit.save): its code runs when the model is called, never on load and never
    # here. Its weights are read from data.pkl like a checkpoint's; the code is reported, not analysed.
    code = sorted(n for n in members if n.startswith(prefix + "code/") and not n.endswith("/"))
    order = members.get(prefix + "byteorder")
    if order is not None:
        if order.file_size > 16 or _read_member(zf, order, path).strip() != b"little":
            raise UnsupportedFormatError(
                "checkpoint was saved on a big-endian machine", path=path, hint="Re-save it on a little-endian one"
            )
    info = members[pkls[0]]
    _pickle_limit(info, path)
    raw = _read_member(zf, info, path)
    storages: dict[str, StorageRef] = {}
    got = unpickle(io.BytesIO(raw), len(raw), path, "data.pkl", storages, scripted=bool(code), whole=not code)
    if not got.threats and got.end != len(raw):
        raise MalformedFileError(
            f"data.pkl has {len(raw) - got.end:,} bytes after its STOP opcode", path=path, hint=RECOPY
        )
    threats = tuple(got.threats) + class_code(got.rebuilt, "data.pkl")
    fmt = "torchscript" if code else "pytorch-zip"
    script = (
        (
            Threat(
                "__torch__",
                code[0][len(prefix) :],
                "torchscript",
                0,
                "code/",
                tuple(c[len(prefix) :] for c in code[:10]),
            ),
        )
        if code
        else ()
    )
    try:
        offsets = _storage_offsets(f, members, storages, lambda key: f"{prefix}data/{key}", path, size)
        used = {pkls[0], *(f"{prefix}data/{k}" for k in storages)}
        extra = [i for n, i in members.items() if n not in used and not i.is_dir()]
        notes = {}
        unexpected = sorted(
            i.filename
            for i in extra
            if i.filename[len(prefix) :] not in _BOOKKEEPING and not (code and i.filename.startswith(prefix + "code/"))
        )
        if unexpected:
            notes["pytorch.unexpected_members"] = brief(unexpected, 1000)
        known = _BOOKKEEPING | {"constants.pkl"}  # TorchScript constants: part of the scripted module
        hidden = [
            _member_hidden(f, i, path, size, file_id)
            for i in extra
            if i.file_size
            and i.filename[len(prefix) :] not in known
            and not (code and i.filename.startswith((prefix + "code/", prefix + "constants/")))
        ]
        hidden += zip_sidecars(zf, f, path)
        if code:
            notes["torchscript.code_files"] = str(len(code))
        model = _build(
            got.obj,
            path,
            fmt,
            storages,
            offsets,
            notes,
            hidden,
            threats=threats,
            max_tensors=_tensor_cap(len(raw)),
            pickle_bytes=len(raw),
            file_id=file_id,
            discarded=got.discarded,
            module_keys=got.module_keys,
        )
        return dataclasses.replace(model, threats=model.threats + script) if script else model
    except InspectorError:
        if not got.threats:  # a dangerous call is what the file is about; a whole model's classes are not
            raise
        return _threats_only(path, fmt, threats + script)


#: Members a torch.package archive writes under ``.data/`` besides its storages and TorchScript modules.
_PACKAGE_BOOKKEEPING = {".data/version", ".data/extern_modules", ".data/python_version", ".data/serialization_id"}


def _package_root(members: dict[str, zipfile.ZipInfo]) -> Optional[str]:
    """The root folder (with its slash) of a ``torch.package`` archive: ``<root>/.data/version`` beside
    ``<root>/.data/extern_modules``; ``None`` for any other zip."""
    roots = [n[: -len(".data/version")] for n in members if re.fullmatch(r"[^/]+/\.data/version", n)]
    if len(roots) == 1 and roots[0] + ".data/extern_modules" in members:
        return roots[0]
    return None


def _module_of(source: str) -> str:
    """The module a packaged source file defines (``models/accentor.py`` -> ``models.accentor``)."""
    stem = source.rsplit(".", 1)[0]
    return stem[: -len("/__init__")].replace("/", ".") if stem.endswith("/__init__") else stem.replace("/", ".")


def _open_package(
    zf: zipfile.ZipFile,
    f: Any,
    path: Path,
    size: int,
    file_id: tuple[int, int, int, int],
    members: dict[str, zipfile.ZipInfo],
    prefix: str,
) -> ModelFile:
    """Open a ``torch.package`` archive (``PackageExporter``: silero's speech models) without running it.

    Its objects are pickles anywhere outside ``.data/`` (``save_pickle``), its scripted modules pickles under
    ``.data/ts_code/<n>/``, all of them naming storages ``.data/<key>.storage``; beside them it ships Python
    source, which ``PackageImporter`` imports, and so runs, for every class of it a pickle names. Every pickle is
    read like a checkpoint's (threats recorded, classes rebuilt as attribute dicts); the tensors are named after
    the pickle that holds them; the source is reported as code on load, not analysed."""
    sources = sorted(n for n in members if n.endswith((".py", ".pyi")) and not n[len(prefix) :].startswith(".data/"))
    # every member outside .data/ that is no source may be a pickle (save_pickle writes any protocol, and
    # load_pickle reads any): each is read as one, and one that does not read as a pickle is bytes no tensor shows
    candidates: list[tuple[str, bool]] = []  # (member, a scripted module's)
    for n, info in sorted(members.items()):
        rel = n[len(prefix) :]
        if not n.startswith(prefix) or info.is_dir() or n in sources or rel in _BOOKKEEPING | _PACKAGE_BOOKKEEPING:
            continue
        if rel.startswith(".data/"):
            if re.fullmatch(r"\.data/ts_code/[^/]+/(data|constants)\.pkl", rel):
                candidates.append((n, True))
            continue
        candidates.append((n, False))
    if len(candidates) > MAX_PACKAGE_PICKLES:
        raise MalformedFileError(f"torch.package archive holds {len(candidates):,} members", path=path, hint=RECOPY)
    storages: dict[str, StorageRef] = {}
    objects: dict[str, Any] = {}
    threats: list[Threat] = []
    rebuilt: list[str] = []
    named: set[str] = set()  # modules the pickles name in their threats (the classes rebuilt are listed apart)
    discarded: list[tuple[int, Any]] = []
    pickles: list[str] = []
    after: list[Hidden] = []
    budget = MAX_PICKLE_BYTES
    for n, scripted in candidates:
        info = members[n]
        rel = n[len(prefix) :]
        if not scripted and (info.file_size < 2 or info.file_size > MAX_RESOURCE_PICKLE_BYTES):
            continue  # no pickle to read: its bytes are judged as a member no tensor shows
        try:
            _pickle_limit(info, path)
        except MalformedFileError:
            if scripted:
                raise
            continue  # a resource compressed beyond what a pickle is: its bytes are judged as they are
        budget -= info.file_size
        if budget < 0:
            raise MalformedFileError(
                f"torch.package pickles over {MAX_PICKLE_BYTES:,} bytes in all", path=path, hint=RECOPY
            )
        raw = _read_member(zf, info, path)
        try:
            got = unpickle(
                io.BytesIO(raw), len(raw), path, rel, storages, scripted=scripted, whole=not scripted, package=True
            )
        except (MalformedFileError, UnsupportedFormatError):
            if scripted:
                raise
            continue  # a resource that is no pickle (text, a binary blob): bytes no tensor shows
        pickles.append(n)
        # a scripted module is named as the main pickle names it (ts_code/<id>)
        objects[rel[len(".data/") :].removesuffix("/data.pkl") if scripted else rel] = got.obj
        threats += got.threats
        named |= {t.module for t in got.threats}
        rebuilt += got.rebuilt
        discarded += got.discarded
        if got.end < len(raw):  # bytes after STOP: load_pickle never reads them
            tail = raw[got.end :]
            after.append(
                Hidden(
                    "pickle",
                    f"bytes after the pickle {clean_text(rel)[:200]!r}",
                    len(tail),
                    path,
                    -1,
                    tail[:HIDDEN_SAMPLE],
                )
            )
    packaged = {_module_of(s[len(prefix) :]) for s in sources}
    imported = sorted(({r.rpartition(".")[0] for r in rebuilt} | named) & packaged)
    if sources:
        listing = tuple(s[len(prefix) :] for s in sources[:10])
        # a class of the package's own source named by a pickle: PackageImporter imports (runs) that source as it
        # loads; source no pickle names runs only if the model's own code imports it
        call = "package" if imported else "package-unused"
        threats.append(Threat(imported[0] if imported else "", "", call, 0, listing[0], listing))
    threats += list(class_code([r for r in rebuilt if r.rpartition(".")[0] not in packaged], "its pickles"))
    offsets = _storage_offsets(f, members, storages, lambda key: f"{prefix}.data/{key}.storage", path, size)
    used = {*pickles, *sources, *(f"{prefix}.data/{k}.storage" for k in storages)}
    # the source is code, read as a companion file is: only an encoded blob in it (a string literal of base64)
    # is a finding
    hidden = [
        _member_hidden(
            f, i, path, size, file_id, f"packaged source {clean_text(n[len(prefix) :])[:200]!r}", "companion"
        )
        for n in sources
        if (i := members[n]).file_size
    ]
    hidden += [
        _member_hidden(f, i, path, size, file_id)
        for n, i in members.items()
        if n not in used
        and i.file_size
        and not i.is_dir()
        and n[len(prefix) :] not in _BOOKKEEPING | _PACKAGE_BOOKKEEPING
        # a scripted module's TorchScript code and its debug tables are the module's (as in a TorchScript archive)
        and not (n[len(prefix) :].startswith(".data/ts_code/code/") and n.endswith((".py", ".debug_pkl")))
    ]
    hidden += after
    hidden += zip_sidecars(zf, f, path)
    notes = {"torch_package.pickles": brief([p[len(prefix) :] for p in pickles], 1000)}
    if sources:
        notes["torch_package.source_files"] = str(len(sources))
    return _build(
        objects,
        path,
        "torch-package",
        storages,
        offsets,
        notes,
        hidden,
        threats=tuple(threats),
        max_tensors=_tensor_cap(MAX_PICKLE_BYTES - budget),
        pickle_bytes=MAX_PICKLE_BYTES - budget,
        file_id=file_id,
        discarded=discarded,
        pickle_name="its pickles",
    )


#: Most members read as pickles from one torch.package archive, and the biggest read so (a pickle that runs code
#: is small; a bigger resource is judged as bytes).
MAX_PACKAGE_PICKLES = 4096
MAX_RESOURCE_PICKLE_BYTES = 64 << 20


def _member_hidden(
    f: Any,
    info: zipfile.ZipInfo,
    path: Path,
    size: int,
    file_id: tuple[int, int, int, int],
    where: str = "",
    role: str = "",
) -> Hidden:
    """An archive member as bytes no tensor shows: read in place where it is stored, else only counted."""
    stored = info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 1
    return Hidden(
        "member",
        where or f"archive member {clean_text(info.filename)[:200]!r}",
        info.file_size,
        path,
        zip_member_offset(f, info, path, size) if stored else -1,
        None,
        file_id,
        role=role,
    )


def _tensor_cap(pickle_bytes: int) -> int:
    """Most tensors a pickle of this size can sensibly describe (each needs a rebuild call of 30+ bytes)."""
    return min(MAX_TENSORS, pickle_bytes // 8 + 16)


def _threats_only(path: Path, fmt: str, threats: tuple[Threat, ...]) -> ModelFile:
    return ModelFile(
        path=path,
        format=fmt,
        tensors=(),
        metadata={"pytorch.refused_calls": str(len(threats))},
        files=(path,),
        threats=threats,
    )


def leading_pickle_threats(path: Path, cap: int = 64 << 20) -> tuple[Threat, ...]:
    """The dangerous calls of a pickle at the start of a file that is read as something else (safetensors).

    ``torch.load(weights_only=False)`` unpickles any non-zip file from its first byte; a file can be a valid
    safetensors file and a pickle that runs code (a text opcode in the JSON header whose length field is four
    spaces skips 538 MB into the tensor data, where any opcodes fit). Nearly every real file fails to parse
    within a few bytes; the parse reads lazily and at most ``cap`` bytes, so it costs nothing for them. A file
    still parsing as a pickle after ``cap`` bytes is built to be read two ways: refused.
    """
    try:
        with open_regular(path) as f:
            reader = CappedReader(f, path, cap)
            try:
                got = unpickle(reader, min(cap, os.fstat(f.fileno()).st_size), path, "the file")
            except InspectorError:
                if reader.capped and reader.line_capped and reader.line_start <= 1 and not _newline_after(f):
                    # the file's first opcode (the header's length read as PERSID, INT, GLOBAL...) reads a line that
                    # never ends: a loader reads to the end of the file and fails there, having run nothing. One big
                    # tensor of zeros or 0/1 bytes holds no newline byte, whatever the header's length. A line that
                    # comes after other opcodes is not excused: the calls before it run.
                    return ()
                raise
    except (InspectorError, OSError):
        if "reader" in locals() and reader.capped:
            raise MalformedFileError(
                f"reads both as safetensors and as a pickle over {cap:,} bytes long: a file built to be loaded "
                "two ways (torch.load would run the pickle)",
                path=path,
                hint="Do not load it; get the model from a trusted source",
            ) from None
        return ()
    return tuple(dataclasses.replace(t, where="a pickle at the start of the file") for t in got.threats)


def _newline_after(f: Any) -> bool:
    """Whether a newline byte lies anywhere from the file's position to its end (read in bounded blocks)."""
    while True:
        block = f.read(8 << 20)
        if not block:
            return False
        if b"\n" in block:
            return True


# ---------------------------------------------------------------------------------------------- legacy format
class NotAPickle(Exception):
    """The file does not start with anything a pickle loader could read."""


def open_torch_legacy(path: Path, *, sniffed: bool = True) -> ModelFile:
    """Open a legacy (non-zip) checkpoint: ``torch.save(..., _use_new_zipfile_serialization=False)``.

    This is also what ``torch.load`` does with any file that does not start with a zip header: whatever its
    first pickle holds (with or without a PROTO opcode) is what torch would load, so that is what is judged.
    With ``sniffed=False`` a file whose first bytes are no pickle at all raises :class:`NotAPickle`.
    """
    path = Path(path)
    storages: dict[str, StorageRef] = {}
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        reader = CappedReader(f, path)
        try:
            first = unpickle(reader, size, path, "the first pickle")
        except MalformedFileError:
            if not sniffed:
                raise NotAPickle() from None
            raise
        except UnsafeFileError:  # objects of classes: no legacy checkpoint starts so, a pickled model may
            if not sniffed:
                raise
            return _open_plain_pickle(f, path, size)
        if first.threats:
            return _threats_only(path, "pickle", tuple(first.threats))
        magic = first.obj
        if type(magic) is not int or magic != LEGACY_MAGIC:
            if not sniffed:  # bytes that merely parse as a short protocol-0 pickle are no pickled model
                raise UnsupportedFormatError(
                    "a Python pickle that is not a PyTorch checkpoint",
                    path=path,
                    hint="Open a file written by torch.save or pickle.dump",
                )
            return _open_plain_pickle(f, path, size)
        version = _plain(unpickle(reader, size, path, "the protocol version"), path)
        if version != LEGACY_PROTOCOL:
            raise UnsupportedFormatError(f"legacy checkpoint of unknown protocol {brief(version)}", path=path)
        info = _plain(unpickle(reader, size, path, "the system info"), path)
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise UnsupportedFormatError(
                "checkpoint was saved on a big-endian machine", path=path, hint="Re-save it on a little-endian one"
            )
        start = reader.tell()
        got = unpickle(reader, size, path, "the object pickle", storages, whole=True)
        threats = tuple(got.threats) + class_code(got.rebuilt, "the object pickle")
        if got.threats and got.obj is None:
            return _threats_only(path, "pytorch-legacy", threats)
        obj_bytes = reader.tell() - start
        try:
            keys = _plain(unpickle(reader, size, path, "the storage list"), path)
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
                raise MalformedFileError("storage list is not a list of distinct names", path=path, hint=RECOPY)
            if set(keys) != set(storages):
                raise MalformedFileError(
                    f"storage list names {len(keys)} storages but the pickle uses {len(storages)}",
                    path=path,
                    hint=RECOPY,
                )
            pos = reader.tell()
            offsets: dict[str, int] = {}
            for key in keys:
                st = storages[key]
                f.seek(pos)
                head = f.read(8)
                where = f"storage {clean_text(key)[:100]!r}"
                if len(head) != 8:
                    raise MalformedFileError(f"file ends before {where} (truncated?)", path=path, hint=RECOPY)
                (count,) = struct.unpack("<q", head)
                if count * st.dtype.itemsize != st.root_nbytes:
                    raise MalformedFileError(
                        f"{where} holds {count:,} elements but the pickle declares "
                        f"{st.root_nbytes // st.dtype.itemsize:,}",
                        path=path,
                        hint=RECOPY,
                    )
                offsets[key] = pos + 8
                pos += 8 + st.root_nbytes
                if pos > size:
                    raise MalformedFileError(f"{where} is cut short (truncated file?)", path=path, hint=RECOPY)
            return _build(
                got.obj,
                path,
                "pytorch-legacy",
                storages,
                offsets,
                {},
                [Hidden("member", "bytes after the last storage", size - pos, path, pos, None, file_identity(f))]
                if size > pos
                else [],
                threats=threats,
                max_tensors=_tensor_cap(obj_bytes),
                pickle_bytes=obj_bytes,
                file_id=file_identity(f),
                discarded=got.discarded,
                module_keys=got.module_keys,
                pickle_name="the object pickle",
            )
        except InspectorError:
            if not got.threats:
                raise
            return _threats_only(path, "pytorch-legacy", threats)


def _open_plain_pickle(f: Any, path: Path, size: int) -> ModelFile:
    """A pickle that is no torch checkpoint (``pickle.dump`` of arrays, a scikit-learn model), read as
    ``pickle.load`` would build it: its numpy arrays of numbers are its tensors, its classes rebuilt as attribute
    dicts and listed (their code is the installed packages'), any other value judged as the checkpoints' are.
    Bytes after its STOP opcode, which ``pickle.load`` never reads, are bytes no tensor shows."""
    f.seek(0)
    reader = CappedReader(f, path)
    got = unpickle(reader, size, path, "the pickle", whole=True)
    threats = tuple(got.threats) + class_code(got.rebuilt, "the pickle")
    if got.threats and got.obj is None:
        return _threats_only(path, "pickle", threats)
    end = got.end
    obj = got.obj if isinstance(got.obj, dict) else {"value": got.obj}  # a list, a set, an object: named "value"
    ident = file_identity(f)
    after = [Hidden("member", "bytes after the pickle's STOP opcode", size - end, path, end, None, ident)]
    try:
        return _build(
            obj,
            path,
            "pickle",
            {},
            {},
            {},
            after if size > end else [],
            threats=threats,
            max_tensors=_tensor_cap(end),
            pickle_bytes=end,
            file_id=ident,
            discarded=got.discarded,
            module_keys=got.module_keys,
            pickle_name="the pickle",
        )
    except InspectorError:
        if not got.threats:
            raise
        return _threats_only(path, "pickle", threats)


def _plain(got: Any, path: Path) -> Any:
    """A header pickle of the legacy format: plain values only (a threat here ends the reading)."""
    if got.threats:
        raise UnsafeFileError("a header pickle of the legacy checkpoint asks to run code", path=path, hint=RESAVE)
    return got.obj
