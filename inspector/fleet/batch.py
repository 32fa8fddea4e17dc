"""``run_batch``: a fleet of models scanned by workers, resumably, into one folder of results.

    units = discover(["registry/"], include=["*.safetensors"])
    run = run_batch(units, FleetOptions(out=Path("fleet-out"), scan=ScanOptions()))
    run.docs            # one result document per model, in fleet order (also DIR/results.jsonl)

Order of work: a model whose files' size, mtime and inode are unchanged is taken from the previous results
without reading it; the others are hashed and looked up by content; only what is left is scanned. Every result is
appended (and fsync'd) as it arrives, so a killed batch resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from inspector.core.errors import InspectorError
from inspector.core.pipeline import ScanOptions
from inspector.fleet.discover import Unit
from inspector.fleet.executors import DaskRunner, LocalRunner, default_jobs
from inspector.fleet.index_html import write_index
from inspector.fleet.sarif import SARIF, write_sarif
from inspector.fleet.store import (
    Cache,
    Entry,
    Journal,
    cache_key,
    options_digest,
    pipeline_fingerprint,
    stat_signature,
)
from inspector.fleet.work import Task

try:
    import fcntl
except ImportError:  # Windows: no advisory lock; one batch per folder is then the user's care
    fcntl = None  # type: ignore[assignment]

#: ``progress(files_done, files_total, bytes_done, bytes_total)``
FleetProgress = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class FleetOptions:
    """How to run a batch. ``jobs`` 0: one worker per core (fewer if memory is short); ``dask`` ``None`` (local
    pool), ``"local"`` (a LocalCluster) or a scheduler address."""

    out: Path
    scan: ScanOptions = field(default_factory=ScanOptions)
    jobs: int = 0
    dask: Optional[str] = None
    use_cache: bool = True


@dataclass
class FleetRun:
    """What a batch produced: every model's result in fleet order, and how the work went. ``docs`` leave out the
    per-tensor statistics (``tensors``); the full documents are the lines of ``results.jsonl``."""

    docs: list[dict[str, Any]]
    units: list[Unit]
    reused: int = 0
    hashed: int = 0
    scanned: int = 0
    seconds: float = 0.0
    jobs: int = 1
    backend: str = "local"


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One batch at a time per results folder (a second would interleave lines and then drop the other's)."""
    if fcntl is None:
        yield
        return
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InspectorError(
                "another batch is writing to this results folder", path=out, hint="Wait for it, or give another --out"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _closing(journal: Journal) -> Iterator[Journal]:
    try:
        yield journal
    finally:
        journal.close()


def _out_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise InspectorError("is not a folder", path=out, hint="Give a folder for the batch's results (--out)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InspectorError(f"cannot create the results folder ({e.strerror or e})", path=out) from None
    return out


def run_batch(units: list[Unit], options: FleetOptions, *, progress: Optional[FleetProgress] = None) -> FleetRun:
    """Inspect every unit (reusing earlier results in ``options.out``), then rewrite ``results.jsonl`` in fleet
    order and write ``results.sarif`` and ``index.html`` beside it. Never raises for a bad model: its error
    document is its result."""
    out = _out_folder(Path(options.out))
    with _locked(out):
        return _run(units, options, out, progress)


def _run(units: list[Unit], options: FleetOptions, out: Path, progress: Optional[FleetProgress]) -> FleetRun:
    t0 = time.perf_counter()
    scan_opts = options.scan if options.scan.workers else replace(options.scan, workers=1)
    digest = options_digest(scan_opts)
    journal = Journal.open(out)
    fingerprint = pipeline_fingerprint()
    cache = Cache(journal.entries if options.use_cache else (), digest, fingerprint)
    jobs = options.jobs or default_jobs()
    run = FleetRun(docs=[], units=units, jobs=jobs, backend=f"dask {options.dask}" if options.dask else "local")
    results: dict[str, Entry] = {}
    total_bytes = sum(u.nbytes for u in units)
    done_bytes = 0

    def settle(unit: Unit, entry: Entry) -> None:
        nonlocal done_bytes
        results[unit.id] = entry
        done_bytes += unit.nbytes
        if progress is not None:
            progress(len(results), len(units), done_bytes, total_bytes)

    def reuse(unit: Unit, hit: Entry, signature: Any) -> None:
        run.reused += 1
        entry = hit.rebound(unit.id, unit.path, signature, unit.meta)
        if entry.patch is not None:  # found under another name or stat: remember the new one
            full = journal.full(entry)
            full["fleet"].pop("cached", None)  # "cached" says what this run did; the file keeps the result
            written = journal.append(full)
            entry = Entry(entry.doc, written.offset, written.length)
        settle(unit, entry)

    misses: list[Unit] = []
    for u in units:
        sig = stat_signature(u.watch)
        hit = cache.by_stat(sig)
        if hit is not None:
            reuse(u, hit, sig)
        else:
            misses.append(u)

    def tasks(items: Iterable[Unit], mode: str) -> Iterator[Task]:
        for u in items:
            yield Task(u.id, u.path, u.watch, scan_opts, digest, fingerprint, mode, u.meta)

    by_id = {u.id: u for u in misses}
    runner: Any = DaskRunner(options.dask, jobs) if options.dask else LocalRunner(jobs)
    if misses:
        with runner, _closing(journal):
            if options.dask:
                run.jobs = runner.workers
            # changed or new files: their content may still be known (moved, touched); hash those that could be
            to_scan = [u for u in misses if not cache.may_hold(u.watch, u.nbytes)]
            to_hash = [u for u in misses if cache.may_hold(u.watch, u.nbytes)]
            if to_hash:
                for task, res in runner.run(tasks(to_hash, "hash")):
                    u = by_id[task.id]
                    run.hashed += 1
                    if "sha256" not in res:  # could not even open it: that is its result
                        settle(u, journal.append(res))
                        continue
                    hit = cache.by_key(cache_key(res["sha256"], digest, fingerprint))
                    if hit is None:
                        to_scan.append(u)
                    else:
                        reuse(u, hit, res["stat"])
            for task, doc in runner.run(tasks(to_scan, "scan")):
                run.scanned += 1
                settle(by_id[task.id], journal.append(doc))
    entries = [results[u.id] for u in units]
    run.docs = [e.doc for e in entries]
    journal.rewrite(entries)
    write_sarif(run.docs, out / SARIF)
    write_index(run.docs, out)
    run.seconds = time.perf_counter() - t0
    return run
