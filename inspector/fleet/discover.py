"""Which models a batch covers: folders walked recursively, manifests, explicit paths.

A *unit* is one model as ``open_model`` reads it: a single file, a sharded ``*.index.json``, or a folder that is
one model (a Hugging Face repository or Trainer checkpoint: one index, or one ``.safetensors`` beside a
``config.json`` / ``trainer_state.json``). Everything else in such a folder (optimizer state, tokenizer files) is
training state, not the model, and is not scanned separately; its sub-folders are still walked.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from inspector.core.errors import InspectorError

#: File suffixes taken as model files when no ``--include`` glob is given.
MODEL_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".jit", ".gguf", ".onnx")
#: Files whose presence makes a folder one Hugging Face style model.
HF_MARKERS = ("config.json", "trainer_state.json", "adapter_config.json")
#: Weights files of a Hugging Face folder without safetensors, most preferred first.
HF_PICKLE_WEIGHTS = ("pytorch_model.bin", "adapter_model.bin")
#: Largest manifest we read (a registry's list of a million paths is ~100 MB).
MAX_MANIFEST_BYTES = 256 << 20


@dataclass(frozen=True)
class Unit:
    """One model of the fleet: ``path`` is what ``open_model`` opens; ``id`` names it in every output."""

    id: str
    path: str
    #: files whose size/mtime/inode decide whether the model may have changed (a conservative superset)
    watch: tuple[str, ...]
    #: bytes of the watched files (for progress and ETA)
    nbytes: int = 0
    #: extra fields of a JSONL manifest descriptor (name, revision, owner...), passed through to the results
    meta: Mapping[str, object] = field(default_factory=dict)


def _files_in(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:  # the directory entry's type: no stat per file
            return sorted(Path(e.path) for e in it if e.is_file())
    except OSError:
        return []


def model_folder_weights(folder: Path) -> Optional[Path]:
    """The file a folder stands for when the folder is one model, else ``None`` (a folder of models).

    Same rules as ``open_model`` for folders (one index, or one ``.safetensors``), with a marker required for the
    single-file case so that a plain folder holding one model among other checkpoints stays a folder of models.
    """
    files = _files_in(folder)
    names = {p.name for p in files}
    indexes = [p for p in files if p.name.endswith(".safetensors.index.json")]
    if len(indexes) == 1:
        return indexes[0]
    if not any(m in names for m in HF_MARKERS):
        return None
    singles = [p for p in files if p.suffix == ".safetensors"]
    if len(singles) == 1:
        return singles[0]
    from inspector.core.formats import DEFAULT_SAFETENSORS  # several: the one a loader takes by default

    for name in DEFAULT_SAFETENSORS:
        if len(singles) > 1 and name in names:
            return folder / name
    for name in HF_PICKLE_WEIGHTS:
        if name in names:
            return folder / name
    return None


def _matches(rel: str, globs: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(name, g) for g in globs)


def _excluded(rel: str, exclude: Sequence[str]) -> bool:
    parts = rel.split("/")
    return any(_matches("/".join(parts[: i + 1]), exclude) for i in range(len(parts)))


def _size(paths: Iterable[Path]) -> int:
    total = 0
    for p in paths:
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


def _unit(uid: str, path: Path, meta: Mapping[str, object] = {}) -> Unit:  # noqa: B006 - never mutated
    if path.is_dir():
        watch = _files_in(path)
    elif path.name.endswith(".index.json"):
        watch = [path, *(p for p in _files_in(path.parent) if p.suffix in (".safetensors", ".bin"))]
    else:
        watch = [path]
    return Unit(id=uid, path=str(path), watch=tuple(str(p) for p in watch), nbytes=_size(watch), meta=dict(meta))


def is_one_model(path: str | Path) -> bool:
    """True when ``path`` is a single model (a file, or a folder ``open_model`` reads as one model)."""
    p = Path(path)
    if not p.is_dir():
        return True
    return model_folder_weights(p) is not None or (
        # open_model's own rule: one .safetensors and nothing else that looks like a model
        len([f for f in _files_in(p) if f.suffix == ".safetensors"]) == 1
        and not any(f.suffix in MODEL_SUFFIXES[1:] for f in _files_in(p))
        and not any(d.is_dir() for d in p.iterdir())
    )


def walk(root: str | Path, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Unit]:
    """Every model under ``root`` (recursive, symbolic links to folders not followed), sorted by path.

    ``include`` globs select files (default: the usual model suffixes); ``exclude`` globs drop any file or folder
    whose path relative to ``root`` (or whose name) matches. A model folder counts once.
    """
    base = Path(root)
    units: list[Unit] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(base).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = sorted(d for d in dirnames if not _excluded(f"{rel_dir}/{d}".lstrip("/"), exclude))
        weights = model_folder_weights(here)
        if weights is not None:  # one model: its other files are training state; sub-folders are still walked
            target = here if weights.name.endswith(".index.json") or weights.suffix == ".safetensors" else weights
            rel_w = f"{rel_dir}/{weights.name}".lstrip("/")
            if not include or _matches(rel_w, include) or _matches(rel_dir or here.name, include):
                units.append(_unit(str(target), target))
            continue
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}".lstrip("/")
            if _excluded(rel, exclude):
                continue
            ok = _matches(rel, include) if include else (name.endswith(MODEL_SUFFIXES) or name.endswith(".index.json"))
            if not ok:
                continue
            p = here / name
            if name.endswith(".index.json") or p.is_file():
                units.append(_unit(str(p), p))
    return units


def read_manifest(path: str | Path) -> list[Unit]:
    """Units listed in a manifest: one path per line (``#`` comments), or JSONL descriptors ``{"path": ...,
    "id": ..., ...}``. Relative paths are relative to the manifest's folder; a listed folder that is not one model
    is walked."""
    p = Path(path)
    try:
        if p.is_dir() or (p.exists() and not p.is_file()):
            raise InspectorError("is not a manifest file", path=p, hint="Give a text file of paths or a JSONL file")
        if p.stat().st_size > MAX_MANIFEST_BYTES:
            raise InspectorError("is too large for a manifest", path=p, hint="Split it into several manifests")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InspectorError("no such manifest", path=p, hint="Check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InspectorError(f"cannot read the manifest ({e})", path=p, hint="Give a UTF-8 text file") from None
    units: list[Unit] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        meta: dict[str, object] = {}
        uid: Optional[str] = None
        if line.startswith("{"):
            try:
                desc = json.loads(line)
            except json.JSONDecodeError as e:
                raise InspectorError(
                    f"line {n} is not valid JSON ({e.msg})", path=p, hint="Write one JSON object per line"
                ) from None
            if not isinstance(desc, dict) or not isinstance(desc.get("path"), str) or not desc["path"]:
                raise InspectorError(
                    f'line {n} has no "path"', path=p, hint='Write descriptors like {"path": "models/a.safetensors"}'
                )
            entry = desc["path"]
            uid = str(desc["id"]) if desc.get("id") not in (None, "") else None
            meta = {k: v for k, v in desc.items() if k not in ("path", "id")}
        else:
            entry = line
        target = Path(entry) if Path(entry).is_absolute() else p.parent / entry
        if target.is_dir() and not is_one_model(target):
            units.extend(walk(target))
        else:
            units.append(_unit(uid or str(target), target, meta))
    return units


def discover(
    paths: Sequence[str | Path],
    *,
    manifests: Sequence[str | Path] = (),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[Unit]:
    """The fleet: explicit models, folders walked, manifests read; each model once (first id wins)."""
    units: list[Unit] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists() and not p.is_symlink():
            raise InspectorError("no such file or folder", path=p, hint="Check the path")
        if p.is_dir() and not is_one_model(p):
            units.extend(walk(p, include, exclude))
        else:
            units.append(_unit(str(p), p))
    for m in manifests:
        units.extend(read_manifest(m))
    seen: set[str] = set()
    ids: set[str] = set()
    out: list[Unit] = []
    for u in units:
        try:
            st = os.stat(u.path)
            key = f"{st.st_dev}:{st.st_ino}"  # the same file under two names (a link, "a/../a") counts once
        except OSError:
            key = os.path.abspath(u.path)
        if key in seen:
            continue
        if u.id in ids:
            raise InspectorError(f"two models share the id {u.id!r}", hint="Give each manifest entry its own id")
        seen.add(key)
        ids.add(u.id)
        out.append(u)
    return out
