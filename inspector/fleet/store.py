"""The batch's results file, which is also its cache.

``results.jsonl`` holds one line per model: the scan/1 document (``ScanResult.to_json()``) or, for a model that
could not be inspected, a ``scan-error/1`` document; each carries a ``fleet`` member with the model's id, the
cache key and the stat signature of its files. Lines are appended and fsync'd one at a time, so a killed batch
keeps every result it wrote; a torn last line (killed mid-write) is dropped on the next open. At the end of a
run the file is rewritten (atomically) to hold exactly that run's models, in fleet order.

A result is reused when its key matches: content SHA-256 + tool version + options digest + pipeline fingerprint.
The stat signature (size, mtime, inode of every watched file) lets an unchanged file skip even the hashing.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

from inspector import __version__
from inspector.core.errors import InspectorError
from inspector.core.formats import atomic_file
from inspector.core.pipeline import ScanOptions
from inspector.core.resources import resource_path

RESULTS = "results.jsonl"
ERROR_SCHEMA = "model-inspector/scan-error/1"
#: core packages whose code decides a scan's result: a change to any of them invalidates the cache
_PIPELINE_PACKAGES = ("formats", "measure", "judge", "evaluate")
_PIPELINE_MODULES = ("dtypes.py", "pipeline.py", "errors.py")

_fingerprint: Optional[str] = None


def pipeline_fingerprint() -> str:
    """SHA-256 (16 hex digits) over the source of the code that turns a file into a verdict, and the built-in
    baseline profile; computed once per process."""
    global _fingerprint
    if _fingerprint is None:
        h = hashlib.sha256()
        core = resources.files("inspector.core")
        entries: list[Any] = [core.joinpath(m) for m in _PIPELINE_MODULES]
        for pkg in _PIPELINE_PACKAGES:
            entries.extend(_sources(core.joinpath(pkg)))
        for e in sorted(entries, key=lambda e: str(e)):
            if e.is_file():
                h.update(str(e).rsplit("inspector", 1)[-1].encode())
                h.update(e.read_bytes())
        profile = resource_path("profiles", "default.json")
        if profile.is_file():
            h.update(profile.read_bytes())
        _fingerprint = h.hexdigest()[:16]
    return _fingerprint


def _sources(folder: Any) -> Iterator[Any]:
    for e in folder.iterdir():
        if e.is_dir() and e.name != "__pycache__":
            yield from _sources(e)
        elif e.name.endswith(".py"):
            yield e


def _path_digest(path: str) -> str:
    """Content SHA-256 of a file; for a folder (a Hugging Face model), of its files' names, sizes and mtimes."""
    p = Path(path)
    h = hashlib.sha256()
    try:
        if p.is_dir():
            for e in sorted(os.scandir(p), key=lambda e: e.name):
                if e.is_file():
                    st = e.stat()
                    h.update(f"{e.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            return h.hexdigest()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InspectorError(f"cannot read ({e.strerror or e})", path=path, hint="Check the path") from None
    return h.hexdigest()


#: options that change how fast a scan runs, never what it finds
_SPEED_ONLY = ("workers", "chunk_bytes", "piece_bytes", "jit", "hash")
#: options that name files: their content is part of the key
_PATHS = ("baselines", "profile", "data", "train_sample", "base")


def _option_value(name: str, value: Any) -> Any:
    if name in _PATHS and value:
        paths = list(value) if isinstance(value, (tuple, list)) else [value]
        return [[str(v), _path_digest(str(v))] for v in paths]
    if name == "arch" and value and ":" in str(value):  # a recipe in a file: path/to/file.py:function
        file = str(value).rsplit(":", 1)[0]
        return [str(value), _path_digest(file) if Path(file).is_file() else None]
    if isinstance(value, Mapping):
        return sorted((str(k), repr(v)) for k, v in value.items())
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def options_digest(opts: ScanOptions) -> str:
    """What the options contribute to the key: every option that may change a result (an option added later
    counts too), with the content of the files they name (a baseline replaced under the same name changes it)."""
    named = {f.name: _option_value(f.name, getattr(opts, f.name)) for f in fields(opts) if f.name not in _SPEED_ONLY}
    return hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()[:16]


def cache_key(content_sha256: str, options: str, fingerprint: str) -> str:
    """The cache key of one model: its bytes, this tool's version, the options and the pipeline's code (the
    fingerprint the batch computed once: its workers may start later, the key must not depend on when)."""
    return f"{content_sha256}:{__version__}:{options}:{fingerprint}"


def stat_signature(paths: Sequence[str]) -> Optional[list[list[Any]]]:
    """``[[path, size, mtime_ns, inode], ...]``, or ``None`` when a file cannot be stat'ed."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return None
        out.append([os.path.abspath(p), st.st_size, st.st_mtime_ns, st.st_ino])
    return out


def _slim(doc: dict[str, Any]) -> dict[str, Any]:
    """A result without its per-tensor statistics: what summaries, SARIF and the index read (a few hundred bytes
    instead of tens of kilobytes, so a fleet of a million models fits in the batch's memory)."""
    return {k: v for k, v in doc.items() if k != "tensors"}


def _dump(doc: dict[str, Any]) -> bytes:
    """One line; ``tensors`` (the bulk) goes last, so that reading a line back can stop before it."""
    if "tensors" in doc:
        doc = {**_slim(doc), "tensors": doc["tensors"]}
    return (json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n").encode()


_TENSORS = b',"tensors":['


def _read_slim(line: bytes) -> Any:
    """The slim document of a line without decoding its tensors (written last): the text before the first
    ``,"tensors":[`` closed with ``}``. (Inside JSON strings quotes are escaped, so that byte sequence is a key;
    if it is a nested one, the head does not parse and the whole line is decoded instead.)"""
    cut = line.find(_TENSORS)
    if cut > 0:
        try:
            return json.loads(line[:cut] + b"}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    doc = json.loads(line)
    return _slim(doc) if isinstance(doc, dict) else doc


@dataclass(frozen=True)
class Entry:
    """One result line: its slim document, where the full line lies in the journal, and the renaming to apply
    when it is copied (a reused result now stands for another id, path or stat signature)."""

    doc: dict[str, Any]
    offset: int
    length: int
    patch: Optional[dict[str, Any]] = None

    def rebound(self, uid: str, path: str, signature: Any, meta: Mapping[str, object]) -> Entry:
        """This result standing for the model ``uid`` now; the line is copied unchanged when nothing differs."""
        patch = {"id": uid, "path": path, "stat": signature, "meta": dict(meta)}
        doc = _patched(self.doc, patch)
        fleet = self.doc["fleet"]
        same = (
            fleet.get("id") == uid
            and fleet.get("stat") == signature
            and fleet.get("meta", {}) == dict(meta)
            and self.doc.get("model", {}).get("path", path) == path
        )
        return Entry(doc, self.offset, self.length, None if same else patch)


def _patched(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    fleet = dict(out["fleet"], id=patch["id"], stat=patch["stat"], cached=True)
    fleet.pop("meta", None)
    if patch["meta"]:
        fleet["meta"] = patch["meta"]
    out["fleet"] = fleet
    if isinstance(out.get("model"), dict):
        out["model"] = dict(out["model"], path=patch["path"])
    return out


class Journal:
    """Append-only, fsync'd JSONL of results; remembers where each line is, keeps only slim documents.
    ``close()`` (or ``rewrite``) when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self._size = 0
        self._fd: Optional[int] = None
        self._flusher: Optional[threading.Thread] = None
        self._dirty = threading.Event()
        self._closing = False
        if not path.exists():
            return
        with open(path, "r+b") as f:
            offset = 0
            for line in f:
                if not line.endswith(b"\n"):  # torn last line of a killed run: drop it, appends start afresh
                    f.truncate(offset)
                    break
                try:
                    doc = _read_slim(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    doc = None
                if isinstance(doc, dict) and isinstance(doc.get("fleet"), dict):
                    self.entries.append(Entry(doc, offset, len(line)))
                offset += len(line)
            self._size = offset

    @classmethod
    def open(cls, folder: Path) -> Journal:
        return cls(folder / RESULTS)

    @property
    def lines(self) -> list[dict[str, Any]]:
        """The slim documents of every line, in file order."""
        return [e.doc for e in self.entries]

    def full(self, entry: Entry) -> dict[str, Any]:
        """The whole document of an entry (with its tensors), renamed as the entry says."""
        with open(self.path, "rb") as f:
            f.seek(entry.offset)
            doc = json.loads(f.read(entry.length))
        return _patched(doc, entry.patch) if entry.patch else doc

    def append(self, doc: dict[str, Any]) -> Entry:
        """Write one line at once (a killed process loses nothing once this returns); a background thread
        fsyncs it, together with whatever else arrived meanwhile (group commit), so the disk's flush latency
        does not stall the batch."""
        data = _dump(doc)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._flusher = threading.Thread(target=self._flush_loop, args=(self._fd,), name="results-fsync")
            self._flusher.daemon = True
            self._flusher.start()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._dirty.set()
        entry = Entry(_slim(doc), self._size, len(data))
        self._size += len(data)
        self.entries.append(entry)
        return entry

    def _flush_loop(self, fd: int) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            os.fsync(fd)
            if self._closing:
                return

    def close(self) -> None:
        """Wait for the last fsync and close the file."""
        if self._fd is None:
            return
        self._closing = True
        self._dirty.set()
        if self._flusher is not None:
            self._flusher.join()
        os.close(self._fd)
        self._fd = None

    def rewrite(self, entries: list[Entry]) -> None:
        """Replace the file with ``entries``' lines (copied, or renamed where patched): temp file, fsync, rename.
        Nothing is written when the file already holds exactly those lines."""
        self.close()
        if (
            not any(e.patch for e in entries)
            and [(e.offset, e.length) for e in entries] == [(e.offset, e.length) for e in self.entries]
            and self._size == sum(e.length for e in entries)
        ):
            return
        with open(self.path, "rb") as src, atomic_file(self.path, what="results file") as dst:
            for e in entries:
                if e.patch:
                    full = self.full(e)
                    full["fleet"].pop("cached", None)
                    dst.write(_dump(full))
                else:
                    src.seek(e.offset)
                    dst.write(src.read(e.length))


class Cache:
    """Earlier results, found by stat signature (no read) or by cache key (after hashing)."""

    def __init__(self, entries: Iterable[Entry], options: str, fingerprint: str) -> None:
        self.options = options
        self._by_stat: dict[str, Entry] = {}
        self._by_key: dict[str, Entry] = {}
        self._sizes: set[int] = set()
        suffix = f":{__version__}:{options}:{fingerprint}"
        for entry in entries:
            f = entry.doc["fleet"]
            if f.get("options") != options or f.get("fingerprint") != fingerprint:
                continue
            if f.get("version") != __version__ or not f.get("cacheable", True):
                continue
            if f.get("stat"):
                self._by_stat[json.dumps(f["stat"])] = entry
                if len(f["stat"]) == 1:
                    self._sizes.add(int(f["stat"][0][1]))
            key = f.get("key")
            if isinstance(key, str) and key.endswith(suffix):
                self._by_key[key] = entry

    def by_stat(self, signature: Optional[list[list[Any]]]) -> Optional[Entry]:
        return None if signature is None else self._by_stat.get(json.dumps(signature))

    def may_hold(self, watch: Sequence[str], nbytes: int) -> bool:
        """Whether hashing a changed model could find its content here: a single file of a size no cached file
        had cannot (a new model is then scanned at once, its bytes read once, not hashed first)."""
        return bool(self._by_key) and (len(watch) != 1 or nbytes in self._sizes)

    def by_key(self, key: str) -> Optional[Entry]:
        return self._by_key.get(key)
