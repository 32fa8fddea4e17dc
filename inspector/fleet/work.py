"""What a worker does for one model: open it by path, hash or scan it, and return one result line.

Runs in a pool process or on a Dask worker. Nothing but the small task (paths, options) goes in and nothing but
the result document comes back; the model's bytes never leave the worker. Every failure becomes a result.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from inspector import __version__
from inspector.core.errors import InspectorError, MalformedFileError, UnsafeFileError, UnsupportedFormatError
from inspector.core.formats import open_model, sha256_files
from inspector.core.pipeline import ScanOptions, scan
from inspector.fleet.store import ERROR_SCHEMA, cache_key, stat_signature


@dataclass(frozen=True)
class Task:
    """One model to inspect (``mode`` ``"scan"``) or only to hash (``"hash"``, to look it up in the cache)."""

    id: str
    path: str
    watch: tuple[str, ...]
    options: ScanOptions
    options_digest: str
    fingerprint: str
    mode: str = "scan"
    meta: Mapping[str, object] = field(default_factory=dict)


def error_kind(exc: BaseException) -> str:
    """``refused`` (asks to run code), ``unsupported``, ``malformed``, ``unreadable``, or ``crash``."""
    if isinstance(exc, UnsafeFileError):
        return "refused"
    if isinstance(exc, UnsupportedFormatError):
        return "unsupported"
    if isinstance(exc, MalformedFileError):
        return "malformed"
    if isinstance(exc, InspectorError):
        return "unreadable"
    return "crash"


def error_doc(task: Task, kind: str, message: str, *, seconds: float = 0.0, signature: Any = None) -> dict[str, Any]:
    """The result line of a model that could not be inspected."""
    return {
        "schema": ERROR_SCHEMA,
        "tool": {"name": "model-inspector", "version": __version__},
        "model": {"path": task.path},
        "error": {"kind": kind, "message": message},
        "fleet": fleet_member(task, key=None, signature=signature, seconds=seconds, cacheable=kind != "crash"),
    }


def peak_rss_kb() -> int:
    """This worker's peak resident memory so far (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def fleet_member(
    task: Task, *, key: Optional[str], signature: Any, seconds: float, cacheable: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": task.id,
        "key": key,
        "version": __version__,
        "options": task.options_digest,
        "fingerprint": task.fingerprint,
        "stat": signature,
        "cacheable": cacheable,
        "seconds": round(seconds, 4),
        "peak_rss_kb": peak_rss_kb(),
        "worker_pid": os.getpid(),
    }
    if task.meta:
        out["meta"] = dict(task.meta)
    return out


def inspect(task: Task) -> dict[str, Any]:
    """Scan (or hash) one model; never raises for a bad model: its error is the result."""
    t0 = time.perf_counter()
    signature = stat_signature(task.watch)  # before reading: a file changed mid-scan is re-checked next run
    try:
        model = open_model(task.path)
        if task.mode == "hash":
            return {"id": task.id, "sha256": sha256_files(model.files), "stat": signature}
        result = scan(model, task.options)
        digest = result.model.sha256 or sha256_files(model.files)
        if result.model.sha256 is None:
            result = replace(result, model=replace(result.model, sha256=digest))
        doc = result.to_json()
        doc["fleet"] = fleet_member(
            task,
            key=cache_key(digest, task.options_digest, task.fingerprint),
            signature=signature,
            seconds=time.perf_counter() - t0,
        )
        return doc
    except InspectorError as e:
        return error_doc(task, error_kind(e), str(e), seconds=time.perf_counter() - t0, signature=signature)
    except MemoryError:
        return error_doc(task, "crash", "out of memory", seconds=time.perf_counter() - t0, signature=signature)
    except Exception as e:  # a bug of ours on this file must not stop the batch: the error is its result
        msg = f"internal error {type(e).__name__}: {e}"
        return error_doc(task, "crash", msg, seconds=time.perf_counter() - t0, signature=signature)
