"""Low-bit scrubbing: the paper's countermeasure, done safely and provably.

Song et al. (CCS 2017): "replace the lower bits of the parameters with random noise. This will destroy any
information potentially encoded in these bits". :func:`scrub_model` streams a model to a new safetensors file,
replacing the ``k`` lowest mantissa bits of every selected float tensor, then reads the file back and checks
that it changed nothing else.

The bit rules and random streams are in :mod:`inspector.core.scrub.bits`; the read-back check in
:mod:`inspector.core.scrub.verify`.
"""

from __future__ import annotations

import fnmatch
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from inspector._version import __version__
from inspector.core.errors import ExportError, InspectorError
from inspector.core.formats import ModelFile, iter_chunks, open_model, sha256_files
from inspector.core.formats.writer import SafetensorsWriter, TensorEntry
from inspector.core.progress import CancelToken, ProgressCallback, report
from inspector.core.scrub.bits import (
    DEFAULT_BITS,
    FLOAT_DTYPES,
    MODES,
    _chunk_bytes,
    _Plan,
    lane_bytes,
    parse_bits,
    scaled_bits,
    scrub_chunk,
    tensor_rng,
    tensor_seed,
)
from inspector.core.scrub.verify import VERIFY_ELEMENTS, ChangeStats, TensorChange, Verification, verify_export

SCHEMA = "model-inspector/scrub/1"
#: Chunk size of the scrub and verification passes (rounded down to a multiple of 8 elements).
SCRUB_CHUNK_BYTES = 4 << 20


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScrubResult:
    """A finished, verified export."""

    output: Path
    sha256: Optional[str]
    source: Path
    source_sha256: str
    bits: Mapping[str, int]  # per dtype present among float tensors
    seed: int
    mode: str
    tensors_scrubbed: int
    tensors_copied: int
    elements_scrubbed: int
    bytes_written: int
    max_abs_change: Optional[float]
    mean_rel_change: Optional[float]
    verification: Optional[Verification]
    tensors: tuple[TensorChange, ...] = ()
    seconds: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        v = self.verification
        return {
            "schema": SCHEMA,
            "tool": {"name": "model-inspector", "version": __version__},
            "source": {"path": str(self.source), "sha256": self.source_sha256},
            "output": {"path": str(self.output), "sha256": self.sha256, "bytes": self.bytes_written},
            "mode": self.mode,
            "seed": self.seed,
            "bits": dict(self.bits),
            "tensors_scrubbed": self.tensors_scrubbed,
            "tensors_copied": self.tensors_copied,
            "elements_scrubbed": self.elements_scrubbed,
            "max_abs_change": _finite(self.max_abs_change),
            "mean_rel_change": _finite(self.mean_rel_change),
            "verification": None
            if v is None
            else {"ok": v.ok, "tensors": v.tensors_checked, "bytes": v.bytes_checked, "problems": list(v.problems)},
            "tensors": [
                {
                    "name": t.name,
                    "dtype": t.dtype,
                    "bits": t.bits,
                    "scrubbed": t.scrubbed,
                    "max_abs_change": _finite(t.max_abs_change),
                    "mean_rel_change": _finite(t.mean_rel_change),
                    "changed_fraction": t.changed_fraction,
                }
                for t in self.tensors
            ],
            "seconds": round(self.seconds, 3),
        }


def _finite(x: Optional[float]) -> Optional[float]:
    return None if x is None or not math.isfinite(x) else float(x)


# --------------------------------------------------------------------------------------- whole model


def select_tensors(model: ModelFile, tensors: Sequence[str] = ()) -> set[str]:
    """Names matching any glob of ``tensors`` (all names when empty); a glob matching nothing is an error."""
    if not tensors:
        return set(model.names)
    chosen: set[str] = set()
    for glob in tensors:
        hits = {n for n in model.names if fnmatch.fnmatchcase(n, glob)}
        if not hits:
            sample = ", ".join(model.names[:4])
            raise InspectorError(
                f"--tensors {glob!r} matches no tensor", path=model.path, hint=f"Names look like: {sample}"
            )
        chosen |= hits
    return chosen


def plan_scrub(model: ModelFile, bits: int | str | Mapping[str, int], tensors: Sequence[str] = ()) -> list[_Plan]:
    per_dtype = parse_bits(bits)
    chosen = select_tensors(model, tensors)
    return [
        _Plan(r, per_dtype.get(r.dtype.name, 0) if (r.dtype.is_float and r.name in chosen and r.numel) else 0)
        for r in model.tensors
    ]


_PROVENANCE = ("inspector.version", "inspector.source_sha256", "inspector.scrub")


class _Background:
    """Run ``fn`` in a thread; ``result()`` joins and re-raises."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: Optional[BaseException] = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in result()
                self._error = e

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def scrub_model(
    model: ModelFile,
    output: str | Path,
    *,
    bits: int | str | Mapping[str, int] = DEFAULT_BITS,
    seed: Optional[int] = None,
    tensors: Sequence[str] = (),
    mode: str = "random",
    verify: bool = True,
    chunk_bytes: int = SCRUB_CHUNK_BYTES,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ScrubResult:
    """Scrub ``model`` into a new safetensors file at ``output``, verified by reading it back.

    ``bits``: an fp32 ``k`` (others scaled, :func:`scaled_bits`), a ``--bits`` string or a per-dtype mapping.
    ``seed``: same seed, same bytes (a fresh random seed when ``None``; it is recorded in the metadata).
    ``tensors``: globs selecting the tensors to scrub (the rest are copied). Memory stays bounded (a few
    chunks of ``chunk_bytes``) whatever the model's size. The output is written to a temporary file beside
    ``output``, verified, then renamed: on an error, a failed verification or a cancel, nothing appears at
    ``output`` and a file already there is left as it was. Progress is in bytes (scrub, then verify).
    """
    t0 = time.perf_counter()
    if mode not in MODES:
        raise InspectorError(f"unknown scrub mode {mode!r}", hint=f"Use one of {', '.join(MODES)}")
    seed = secrets.randbits(63) if seed is None else int(seed)
    if seed < 0:
        raise InspectorError(f"--seed {seed}: the seed must be a non-negative integer")
    plan = plan_scrub(model, bits, tensors)
    per_dtype = parse_bits(bits)
    float_dtypes = sorted({p.ref.dtype.name for p in plan if p.ref.dtype.is_float})
    bits_used = {d: per_dtype[d] for d in float_dtypes}
    scrubbed = [p for p in plan if p.scrubbed]
    output = Path(output)

    # the original metadata, minus the provenance of an earlier scrub (it would describe another file)
    meta = {str(k): str(v) for k, v in model.metadata.items() if not str(k).startswith(_PROVENANCE)}
    meta.update(
        {
            "inspector.version": __version__,
            "inspector.scrub_bits": json.dumps(bits_used, sort_keys=True),
            "inspector.scrub_seed": str(seed),
            "inspector.scrub_mode": mode,
            "inspector.scrubbed_tensors": str(len(scrubbed)),
        }
    )
    if tensors:
        meta["inspector.scrub_tensors"] = json.dumps(list(tensors))
    entries = [TensorEntry(p.ref.name, p.ref.dtype, p.ref.shape) for p in plan]
    total = 2 * model.nbytes if verify else model.nbytes
    inner = CancelToken(cancel)  # stops the hashing thread when we stop, or when the caller cancels
    done = 0

    writer = SafetensorsWriter(
        output, entries, meta, protect=model.files, reserve={"inspector.source_sha256": 64}, cancel=cancel
    )
    source_hash = _Background(lambda: sha256_files(list(model.files), cancel=inner))
    try:
        with writer:
            for p in plan:
                ref, k = p.ref, p.bits
                cb = _chunk_bytes(ref.dtype, chunk_bytes)
                rng = tensor_rng(seed, ref.name) if (k and mode == "random") else None
                for chunk in iter_chunks(ref, cb, cancel=cancel):
                    if k:
                        chunk = scrub_chunk(chunk, ref.dtype, k, rng, mode=mode, out=chunk)
                    writer.write(chunk)
                    done += chunk.nbytes
                    report(progress, done, total, f"scrubbing {ref.name}")
            src_sha = source_hash.result()
            writer.set_metadata("inspector.source_sha256", src_sha)
            meta["inspector.source_sha256"] = src_sha
            tmp = writer.finish()
            out_sha: Optional[str] = None
            verification: Optional[Verification] = None
            changes: list[TensorChange] = [TensorChange(p.ref.name, p.ref.dtype.name, p.bits, p.scrubbed) for p in plan]
            if verify:
                verification, changes, out_sha = verify_export(
                    tmp,
                    plan,
                    meta,
                    mode,
                    chunk_bytes,
                    progress,
                    done,
                    total,
                    cancel,
                )
                if not verification.ok:
                    raise ExportError(
                        "the export did not verify: " + "; ".join(verification.problems[:3]),
                        path=output,
                        hint="Nothing was written. Report this as a bug",
                    )
            writer.commit()
    except BaseException:
        inner.cancel()
        try:
            source_hash.result()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            pass
        raise

    scr = [c for c in changes if c.scrubbed]
    n_scr = sum(p.ref.numel for p in scrubbed)
    max_abs = max((c.max_abs_change for c in scr), default=0.0) if verify else None
    mean_rel = None
    if verify:
        weights = [(c.mean_rel_change, model[c.name].numel) for c in scr if math.isfinite(c.mean_rel_change)]
        wsum = sum(w for _, w in weights)
        mean_rel = sum(m * w for m, w in weights) / wsum if wsum else 0.0
    return ScrubResult(
        output=output,
        sha256=out_sha,
        source=model.path,
        source_sha256=src_sha,
        bits=bits_used,
        seed=seed,
        mode=mode,
        tensors_scrubbed=len(scrubbed),
        tensors_copied=len(plan) - len(scrubbed),
        elements_scrubbed=n_scr,
        bytes_written=output.stat().st_size,
        max_abs_change=max_abs,
        mean_rel_change=mean_rel,
        verification=verification,
        tensors=tuple(changes),
        seconds=time.perf_counter() - t0,
        metadata=meta,
    )


def scrub_file(
    path: str | Path,
    output: str | Path,
    **kwargs: Any,
) -> ScrubResult:
    """:func:`scrub_model` on a path (opened with :func:`~inspector.core.formats.open_model`)."""
    return scrub_model(open_model(path), output, **kwargs)


__all__ = [
    "DEFAULT_BITS",
    "FLOAT_DTYPES",
    "VERIFY_ELEMENTS",
    "ChangeStats",
    "MODES",
    "ScrubResult",
    "TensorChange",
    "Verification",
    "lane_bytes",
    "parse_bits",
    "scaled_bits",
    "scrub_chunk",
    "scrub_file",
    "scrub_model",
    "select_tensors",
    "tensor_rng",
    "tensor_seed",
]
