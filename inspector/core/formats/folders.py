"""Hugging Face folders and sharded indexes whose weights are not (only) safetensors.

A model folder as users download it holds ``model.safetensors`` or ``pytorch_model.bin`` (or shards of either,
named by a ``*.index.json``), often beside tokenizer and config files, and for a training checkpoint beside
``optimizer.pt``, ``scheduler.pt`` and ``rng_state.pth``. Every file is opened by what its bytes are, never by
its name: a ``.bin`` shard that is a torch zip is read as one, so no message blames a good download for being
in another format than its name suggests.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Optional

from inspector.core.errors import InspectorError, MalformedFileError, UnsupportedFormatError
from inspector.core.formats.base import (
    TRAINING_UNREAD,
    Hidden,
    ModelFile,
    Threat,
    clean_text,
    index_extras,
    open_regular,
    training_label,
)
from inspector.core.formats.values import text_values

#: Weight files of a Hugging Face folder, preferred first (safetensors ones are handled by the caller).
_WEIGHT_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "model.ckpt")
_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")
#: Files of a training checkpoint folder that are not the model (HF Trainer, Accelerate).
_TRAINING_FILES = ("optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "training_args.bin")
_TRAINING_PREFIXES = ("rng_state", "random_states", "optimizer_", "scheduler_")
_MAX_INDEX_BYTES = 64 << 20

_SUPPORTED = (
    ".safetensors, .bin/.pt/.pth/.ckpt, .gguf, .onnx, a *.index.json of shards, or a Hugging Face folder holding one"
)


def _training_file(p: Path) -> bool:
    return p.name in _TRAINING_FILES or p.name.startswith(_TRAINING_PREFIXES)


def _open_file(p: Path) -> ModelFile:
    from inspector.core.formats.model_file import open_model

    return open_model(p)


#: Files a Hugging Face model folder holds beside the weights (configuration, tokenizer, card); read and judged
#: like any other file beside the model, but named as what they are.
COMPANIONS = re.compile(
    r"(config|generation_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens|preprocessor_config|"
    r"vocab|merges|spiece|sentencepiece\.bpe|README|LICENSE|modules|sentence_bert_config|"
    r"config_sentence_transformers)(\.(json|txt|model|md))?$|\.gitattributes$|\.gitignore$|LICENSE.*$",
    re.IGNORECASE,
)


#: Another copy of the weights (another format or precision): judged when opened on its own, not read here.
_OTHER_WEIGHTS = (*_WEIGHT_SUFFIXES, ".safetensors", ".h5", ".msgpack", ".tflite", ".mlmodel", ".pb", ".ot")


def _holds_weights(f: Path) -> bool:
    """Whether a file named like weights is one by its bytes (a ``.bin`` may be anything): a format this tool reads,
    or the signature of another one's (HDF5, TFLite, a flax msgpack, ONNX). TensorFlow and Core ML protobufs and
    tch's ``.ot`` files have none to check, and are taken by their names."""
    from inspector.core.formats.model_file import sniff_format
    from inspector.core.formats.onnx import looks_like_onnx

    suffix = f.suffix.lower()
    try:
        if sniff_format(f) in ("zip", "pickle", "safetensors", "gguf"):
            return True
        with open_regular(f) as fh:
            head = fh.read(2056)
        if not head:
            return False
        if suffix == ".h5":  # HDF5's signature, at the start or after a user block of 512 · 2^k bytes
            return any(head[o : o + 8] == b"\x89HDF\r\n\x1a\n" for o in (0, 512, 1024, 2048))
        if suffix == ".tflite":  # a FlatBuffer with TFLite's file identifier
            return head[4:8] == b"TFL3"
        if suffix == ".msgpack":  # flax.serialization: a map of parameter names
            if 0x81 <= head[0] <= 0x8F:  # a fixmap: its first key (a str) follows
                return 0xA0 <= head[1] <= 0xBF or head[1] in (0xD9, 0xDA, 0xDB)
            return head[:1] in (b"\xde", b"\xdf")  # map16, map32
        if suffix == ".onnx":
            return looks_like_onnx(f)
        return suffix in (".pb", ".mlmodel", ".ot")
    except (OSError, InspectorError):
        return False


def _checkpoint(f: Path) -> bool:
    """Whether a file is what a training-state file is: a torch checkpoint (a zip archive or a pickle)."""
    from inspector.core.formats.model_file import sniff_format

    try:
        return sniff_format(f) in ("zip", "pickle")
    except OSError:
        return True  # unreadable: the note names it


def files_beside(folder: Path, mf: ModelFile) -> ModelFile:
    """List every regular file of ``folder`` that is neither part of the model nor training state as
    :class:`Hidden` bytes: a release ships the whole folder, and a file beside the weights is a carrier too."""
    used = {Path(p).resolve() for p in mf.files} | {Path(mf.path).resolve()}
    names = set(mf.names)
    extra: list[Hidden] = []
    small: list[Hidden] = []
    threats: list[Threat] = []
    opened: set[tuple[int, int]] = set()  # training-state files read, by device and inode (hard links once)
    for f in sorted(folder.iterdir()):
        if len(extra) >= 1000:
            break
        try:
            if not f.is_file() or f.is_symlink() or f.resolve() in used:
                continue
            st = f.stat()
            if _training_file(f) and _checkpoint(f):  # a "training file" that is no checkpoint is judged as bytes
                if (st.st_dev, st.st_ino) in opened:
                    continue
                if len(opened) >= MAX_TRAINING_FILES:
                    extra.append(_training_unopened(f, st))
                    continue
                opened.add((st.st_dev, st.st_ino))
                found, calls = training_state(f)
                extra += found
                threats += calls
                continue
        except OSError:
            continue
        weights = f.name.lower().endswith(_OTHER_WEIGHTS) and _holds_weights(f)
        card = f.suffix.lower() == ".md" or f.name.upper() == "README"
        role = "weights" if weights else "card" if card else "companion" if COMPANIONS.search(f.name) else ""
        if not role and st.st_size <= JSON_BYTES and indexes_tensors(f, names):
            role = "companion"  # a map of the model's own tensors (a quantisation manifest): configuration
        what = {"weights": "weight file", "card": "model card", "companion": "companion file"}.get(role, "file")
        where = f"{what} {clean_text(f.name)[:200]!r} beside the model"
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        h = Hidden("file", where, st.st_size, f, -1 if weights else 0, None, ident, role=role)
        if not weights and role != "card":
            extra += json_values(h)
        # judged together below: each alone is too small to be evidence, many of them are not
        (small if not role and 0 < st.st_size < SMALL_FILE_BYTES else extra).append(h)
    extra += small if len(small) < 2 else _joined(small)
    if not extra and not threats:
        return mf
    return dataclasses.replace(mf, hidden=mf.hidden + tuple(extra), threats=tuple(mf.threats) + tuple(threats))


#: Training-state files read beside a model at most (a checkpoint folder holds a handful; Accelerate writes one
#: generator state a process): past them, each is counted, not read, and the code-on-load family cannot rule them
#: out.
MAX_TRAINING_FILES = 32


def _training_unopened(f: Path, st: Any) -> Hidden:
    where = f"{training_label(f.name)} (not read: over {MAX_TRAINING_FILES} such files)"
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return Hidden("file", where, st.st_size, f, -1, None, ident, role=TRAINING_UNREAD)


def training_state(f: Path) -> tuple[list[Hidden], list[Threat]]:
    """What a training-state checkpoint beside the model (``optimizer.pt``, ``rng_state.pth``, ``scheduler.pt``,
    ``training_args.bin``) carries besides its tensors: it ships with the folder and a trainer resuming from it
    ``torch.load``s it, so it is read as any checkpoint is (by the bounded, code-free reader): the bytes no tensor
    of it shows (byte strings, long lists, stray storage bytes) and the calls its pickle would make, each named
    with the file. Its tensors (optimizer moments, a generator's state) are not scanned with the model: one region
    says how many there are and that the file opens on its own. A file the reader refuses is judged whole, as bytes."""
    from inspector.core.formats.model_file import open_model

    label = training_label(f.name)
    try:
        st = f.stat()
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        sub = open_model(f)
    except OSError:
        return [], []
    except InspectorError as e:
        why = clean_text(e.problem)[:200]
        where = f"{label} (refused by the reader: {why})"
        return [Hidden("file", where, st.st_size, f, 0, None, ident, role=TRAINING_UNREAD)], []
    found = [dataclasses.replace(h, where=f"{label}: {h.where}") for h in sub.hidden]
    calls = [dataclasses.replace(t, where=f"{label}: {t.where}") for t in getattr(sub, "threats", ()) or ()]
    if sub.tensors:
        n = len(sub.tensors)
        what = f"the {n:,} tensor{'s' if n != 1 else ''} of the {label}"
        found.append(Hidden("file", what, sub.nbytes, f, -1, None, ident, role="training"))
    return found, calls


#: JSON files beside the model up to this size are also read for values (see :func:`json_values`).
JSON_BYTES = 8 << 20
#: Values of one JSON file kept as regions of their own.
MAX_JSON_VALUES = 100


def json_values(h: Hidden) -> list[Hidden]:
    """The values of a JSON file beside the model (JSON by its bytes, whatever its name) that can carry data
    though the file reads as plain configuration: lists of byte values or bits (a "palette" of 19,200 bytes),
    integers beyond any counter, and strings that each look like a piece of base64 (400 labels of 64
    characters), as a checkpoint's values are judged (:func:`~.values.text_values`, which finds them in the text
    itself). The file's text is judged too, but a list of numbers is no encoded text and a blob cut into labels
    no run of it. Other lists of numbers (token ids, filter banks, reference embeddings) are the configuration
    itself and are left alone. A file that is no JSON text, or too big, gives none."""
    if h.nbytes > JSON_BYTES:
        return []
    try:
        with open_regular(h.path, expect=h.file_id) as fh:
            head = fh.read(4096)
            if _JSON_START.match(head) is None:
                return []
            text = head + fh.read(JSON_BYTES + 1 - len(head))
    except (OSError, InspectorError):
        return []
    found = text_values(text)[:MAX_JSON_VALUES]
    return [Hidden("file", f"{what} in the {h.where}", size, h.path, -1, data) for what, data, size in found]


#: A JSON file beside the model is a map of its tensors when this share of its distinct strings names one of them
#: (or one of them with a suffix, of at most this many distinct suffixes: ``qweight``, ``scale``...).
INDEX_SHARE = 2 / 3
INDEX_SUFFIXES = 32
MIN_INDEX_STRINGS = 8


def indexes_tensors(f: Path, names: set[str]) -> bool:
    """Whether a JSON file beside the model is a map of the model's own tensors (a quantisation manifest, a tensor
    list): at least :data:`INDEX_SHARE` of its distinct strings name a tensor, alone or with one of a few suffixes.
    Training records or a payload written as JSON name none; suffixes that vary without end (pieces of a payload
    behind tensor names) make it no map. Its values are still searched (:func:`json_values`)."""
    if not names:
        return False
    try:
        with open_regular(f) as fh:
            text = fh.read(JSON_BYTES + 1)
    except (OSError, InspectorError):
        return False
    if len(text) > JSON_BYTES or _JSON_START.match(text[:64]) is None:
        return False
    strings = set(text.decode("utf-8", "replace").split('"')[1::2])  # inside quotes (escaped quotes aside)
    if len(strings) < MIN_INDEX_STRINGS:
        return False
    named = 0
    suffixes: set[str] = set()
    for s in strings:
        if s in names:
            named += 1
            continue
        stem, _, suffix = s.rpartition(".")
        if stem in names:
            named += 1
            suffixes.add(suffix)
    return named >= INDEX_SHARE * len(strings) and len(suffixes) <= INDEX_SUFFIXES


#: JSON text: an object or an array, after optional whitespace (and a byte-order mark).
_JSON_START = re.compile(rb"(?:\xef\xbb\xbf)?\s*[\[{]")


#: Files of no known role under this size are judged joined (a blob cut into many small files), not one by one.
SMALL_FILE_BYTES = 256


def _joined(small: list[Hidden]) -> list[Hidden]:
    """Small files of no known role beside the model, their bytes joined into one region (read now: they are
    small, at most 1,000 of them)."""
    data = bytearray()
    for h in small:
        try:
            with open_regular(h.path, expect=h.file_id) as fh:
                data += fh.read(SMALL_FILE_BYTES)
        except (OSError, InspectorError):
            continue
    if not data:
        return []
    where = f"{len(small)} small files beside the model ({clean_text(small[0].path.name)[:60]!r}, …), joined"
    return [Hidden("file", where, len(data), small[0].path, -1, bytes(data))]


def _note_training(folder: Path, mf: ModelFile) -> ModelFile:
    """Name the training-state files beside the model: they are not opened with it, but hold data too."""
    beside = sorted(f.name for f in folder.iterdir() if f.is_file() and _training_file(f))
    if not beside:
        return mf
    return dataclasses.replace(mf, metadata={**mf.metadata, "folder.training_state_files": ", ".join(beside)})


def open_folder(folder: Path) -> ModelFile:
    """Open a folder that holds no safetensors weights: a ``*.bin`` index, ``pytorch_model.bin``, or one model.

    Raises :class:`UnsupportedFormatError` naming what was found when no single model file stands out.
    """
    folder = Path(folder)
    indexes = sorted(p for p in folder.glob("*.index.json") if p.is_file())
    if len(indexes) == 1:
        return _note_training(folder, open_index(indexes[0]))
    if len(indexes) > 1:
        raise UnsupportedFormatError(
            f"folder holds several index files ({', '.join(i.name for i in indexes)})",
            path=folder,
            hint="Open the index file you mean directly",
        )
    for name in _WEIGHT_NAMES:
        if (folder / name).is_file():
            return _note_training(folder, _open_file(folder / name))
    candidates = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _WEIGHT_SUFFIXES and not _training_file(p)
    )
    if len(candidates) == 1:
        return _note_training(folder, _open_file(candidates[0]))
    if candidates:
        shown = ", ".join(c.name for c in candidates[:6]) + (", ..." if len(candidates) > 6 else "")
        raise UnsupportedFormatError(
            f"folder holds {len(candidates)} model files and no index ({shown})",
            path=folder,
            hint="Open the one you mean directly",
        )
    training = sorted(p.name for p in folder.iterdir() if p.is_file() and _training_file(p))
    if training:
        raise UnsupportedFormatError(
            f"folder holds training state ({', '.join(training)}) but no model weights",
            path=folder,
            hint="Open the file you mean directly, or the folder that holds the model",
        )
    raise UnsupportedFormatError("folder has no model file", path=folder, hint=f"Open one of: {_SUPPORTED}")


def _sniff_shard(p: Path) -> str:
    from inspector.core.formats.model_file import sniff_format

    return sniff_format(p)


def _weight_map(index_path: Path) -> Optional[dict[str, str]]:
    """The index's weight_map when it is well formed and every shard is a file beside it; else ``None``."""
    try:
        if index_path.stat().st_size > _MAX_INDEX_BYTES:
            return None
        index: Any = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict) or not wmap:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) and v and "\x00" not in v for k, v in wmap.items()):
        return None
    folder = index_path.parent.resolve()
    for shard in set(wmap.values()):
        target = (folder / shard).resolve()
        if target.parent != folder or target == index_path.resolve() or not target.is_file():
            return None
    return wmap


def open_index(index_path: Path) -> ModelFile:
    """Open a sharded model from its ``*.index.json``, each shard read by what its bytes are.

    Shards that are all safetensors go to the safetensors reader (and its checks); torch ``.bin`` shards (zip or
    legacy) through the restricted unpickler. Every name in the weight map must be a tensor of its shard.
    """
    from inspector.core.formats.safetensors import open_sharded

    index_path = Path(index_path)
    wmap = _weight_map(index_path)
    # anything wrong with the index itself is reported by the safetensors reader's checks, which apply to both
    if wmap is None:
        return open_sharded(index_path)
    folder = index_path.parent.resolve()
    kinds = {shard: _sniff_shard(folder / shard) for shard in dict.fromkeys(wmap.values())}
    if all(k == "safetensors" for k in kinds.values()):
        return open_sharded(index_path)
    shards: dict[str, ModelFile] = {}
    for shard in kinds:
        if shard.endswith(".json") or (folder / shard).is_dir():  # two indexes naming each other would loop
            raise MalformedFileError(
                f"shard {shard!r} is not a weight file", path=index_path, hint="Point the weight_map at weight files"
            )
        shards[shard] = _open_file(folder / shard)
    for name, shard in wmap.items():
        if name not in shards[shard]:
            raise MalformedFileError(
                f"tensor {name!r} is mapped to {shard!r} but that shard does not contain it",
                path=index_path,
                hint="The index and its shards do not match; download them again from the same revision",
            )
    refs = [t for mf in shards.values() for t in mf.tensors]
    seen: dict[str, str] = {}
    for shard, mf in shards.items():
        for t in mf.tensors:
            if t.name in seen:
                raise MalformedFileError(
                    f"tensor {t.name!r} appears in shards {seen[t.name]!r} and {shard!r}",
                    path=index_path,
                    hint="The index and its shards do not match; download them again from the same revision",
                )
            seen[t.name] = shard
    formats = sorted({mf.format for mf in shards.values()})
    meta: dict[str, str] = {"sharded.shard_formats": ", ".join(formats), "sharded.shards": str(len(shards))}
    for mf in shards.values():
        meta.update(mf.metadata)
    files = (index_path, *(mf.path for mf in shards.values()))
    fmt = f"{formats[0]}-sharded" if len(formats) == 1 else "mixed-sharded"
    threats = tuple(t for mf in shards.values() for t in mf.threats)  # a hostile shard makes the model hostile
    try:  # _weight_map read it once already (bounded): what else it holds
        extras = index_extras(json.loads(index_path.read_text(encoding="utf-8")), index_path)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        extras = ()
    hidden = extras + tuple(h for mf in shards.values() for h in mf.hidden)
    return ModelFile(
        path=index_path, format=fmt, tensors=tuple(refs), metadata=meta, files=files, threats=threats, hidden=hidden
    )
