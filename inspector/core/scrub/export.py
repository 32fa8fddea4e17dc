"""Low-bit scrubbing: the paper's countermeasure, done safely and provably.

Song et al. (CCS 2017): "replace the lower bits of the parameters with random noise. This will destroy any
information potentially encoded in these bits". :func:`scrub_model` streams a model to a new safetensors file,
replacing the ``k`` lowest mantissa bits of every selected float tensor, then reads the file back and checks
that it changed nothing else.

The bit rules and random streams are in :mod:`inspector.core.scrub.bits`; the read-back check in
:mod:`inspector.core.scrub.verify`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from inspector._version import __version__
from inspector.core.errors import ExportError, InspectorError
from inspector.core.formats import ModelFile, iter_chunks, open_model, sha256_files
from inspector.core.formats.safetensors import open_safetensors
from inspector.core.formats.writer import SafetensorsWriter, TensorEntry
from inspector.core.progress import CancelToken, ProgressCallback, report
from inspector.core.scrub.bits import (
    DEFAULT_BITS,
    FLOAT_DTYPES,
    MODES,
    TensorPlan,
    aligned_chunk_bytes,
    lane_bytes,
    parse_bits,
    scaled_bits,
    scrub_chunk,
    tensor_rng,
    tensor_seed,
)
from inspector.core.scrub.policy import ExportPolicy, match_tensors, plan_policy
from inspector.core.scrub.rejudge import Rejudgement, StillSuspicious, rejudge
from inspector.core.scrub.verify import VERIFY_ELEMENTS, ChangeStats, TensorChange, Verification, verify_export

if TYPE_CHECKING:  # the scan is imported only when an export is re-judged (keeps `import` of the scrub light)
    from inspector.core.measure.scan import ScanOptions

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
    policy: Optional[ExportPolicy] = None
    rejudged: Optional[Rejudgement] = None
    #: False for a working copy that is not a release (the app's Apply writes one to a temporary folder): a
    #: report then does not cite it as the exported file
    exported: bool = True

    @property
    def sanitized(self) -> Optional[bool]:
        """True when the re-judged export shows no detected family and every family was assessed; ``None`` when
        it was not re-judged (see ``rejudged.status`` for incomplete vs still suspicious)."""
        return None if self.rejudged is None else self.rejudged.sanitized

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
            "metadata": dict(self.metadata),
            "policy": None if self.policy is None else self.policy.to_json(),
            "rejudged": None if self.rejudged is None else self.rejudged.to_json(),
            "exported": self.exported,
            "status": "not re-judged"
            if self.rejudged is None
            else ("sanitized" if self.rejudged.sanitized else f"scrubbed, {self.rejudged.status}"),
        }


def _finite(x: Optional[float]) -> Optional[float]:
    return None if x is None or not math.isfinite(x) else float(x)


# --------------------------------------------------------------------------------------- whole model


def select_tensors(model: ModelFile, tensors: Sequence[str] = ()) -> set[str]:
    """Names matching any glob of ``tensors`` (all names when empty); a glob matching nothing is an error."""
    return match_tensors(model, tensors, "--tensors") if tensors else set(model.names)


def plan_scrub(
    model: ModelFile, bits: int | str | Mapping[str, int], tensors: Sequence[str] = (), keep_tensors: Sequence[str] = ()
) -> list[TensorPlan]:
    """The tensors an export writes, in order, with their bits (0: copied) and tie (see :func:`plan_policy`)."""
    policy = plan_policy(model, bits, tensors, keep_tensors)
    decided = {d.name: d for d in policy.tensors}
    return [
        TensorPlan(r, decided[r.name].bits, decided[r.name].tied_to) for r in model.tensors if decided[r.name].written
    ]


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
    keep_tensors: Sequence[str] = (),
    mode: str = "random",
    verify: bool = True,
    judge: Optional[ScanOptions] = None,
    allow_suspicious: bool | Callable[[Rejudgement], bool] = False,
    chunk_bytes: int = SCRUB_CHUNK_BYTES,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ScrubResult:
    """Scrub ``model`` into a new safetensors file at ``output`` under the export policy, verified by reading
    it back and, with ``judge``, re-judged before it is committed.

    ``bits``: an fp32 ``k`` (others scaled, :func:`scaled_bits`), a ``--bits`` string or a per-dtype mapping.
    ``seed``: same seed, same bytes (a fresh random seed when ``None``; it is recorded in the metadata).
    ``tensors``: globs selecting the float tensors to scrub (other floats are copied). ``keep_tensors``: globs
    of non-float or training-state tensors the user confirmed to keep (the policy drops them otherwise, see
    :mod:`inspector.core.scrub.policy`). Tied tensors are written as identical copies.

    ``judge``: the source's scan inputs (baselines, profile, arch, data, train sample); the written file is
    scanned with them and the result goes into ``inspector.rejudged_verdict``. When a family is still detected
    the file is committed only if ``allow_suspicious`` is true (or a callable returning true for the
    :class:`Rejudgement`, e.g. a dialog); otherwise :class:`StillSuspicious` is raised and nothing is written.

    Memory stays bounded (a few chunks of ``chunk_bytes``) whatever the model's size. The output is written to
    a temporary file beside ``output``, verified, then renamed: on an error, a failed verification or a cancel,
    nothing appears at ``output`` and a file already there is left as it was. Progress is in bytes (scrub, then
    verify; the re-judge reports its own scan).
    """
    t0 = time.perf_counter()
    if mode not in MODES:
        raise InspectorError(f"unknown scrub mode {mode!r}", hint=f"Use one of {', '.join(MODES)}")
    seed = secrets.randbits(63) if seed is None else int(seed)
    if seed < 0:
        raise InspectorError(f"--seed {seed}: the seed must be a non-negative integer")
    policy = plan_policy(model, bits, tensors, keep_tensors)
    decided = {d.name: d for d in policy.tensors}
    plan = [
        TensorPlan(r, decided[r.name].bits, decided[r.name].tied_to) for r in model.tensors if decided[r.name].written
    ]
    if model.tensors and not plan:
        raise ExportError(
            f"the export policy drops all {len(model.tensors)} tensors (none is a float weight)",
            path=model.path,
            hint="Nothing was written. Keep the tensors the model needs with --keep-tensor NAME",
        )
    per_dtype = parse_bits(bits)
    float_dtypes = sorted({p.ref.dtype.name for p in plan if p.ref.dtype.is_float})
    bits_used = {d: per_dtype[d] for d in float_dtypes}
    scrubbed = [p for p in plan if p.scrubbed]
    output = Path(output)

    # only what the policy keeps of the original metadata, then our provenance
    meta = dict(policy.kept_metadata)
    meta.update(
        {
            "inspector.version": __version__,
            "inspector.scrub_bits": json.dumps(bits_used, sort_keys=True),
            "inspector.scrub_seed": str(seed),
            "inspector.scrub_mode": mode,
            "inspector.scrubbed_tensors": str(len(scrubbed)),
            "inspector.policy": json.dumps(_policy_note(policy), separators=(",", ":"), sort_keys=True),
        }
    )
    if tensors:
        meta["inspector.scrub_tensors"] = json.dumps(list(tensors))
    if policy.tied:
        meta["inspector.tied"] = json.dumps({k: list(v) for k, v in policy.tied.items()}, separators=(",", ":"))
    if policy.kept_nonfloat:
        meta["inspector.kept_tensors"] = json.dumps(list(policy.kept_nonfloat), separators=(",", ":"))
    entries = [TensorEntry(p.ref.name, p.ref.dtype, p.ref.shape) for p in plan]
    nbytes = sum(p.ref.numel * p.ref.dtype.itemsize for p in plan)
    total = 2 * nbytes if verify else nbytes
    inner = CancelToken(cancel)  # stops the hashing thread when we stop, or when the caller cancels
    done = 0
    rejudged: Optional[Rejudgement] = None

    writer = SafetensorsWriter(
        output,
        entries,
        meta,
        protect=model.files,
        reserve={"inspector.source_sha256": 64},
        header_slack=_VERDICT_ROOM if judge is not None else 0,
        cancel=cancel,
    )
    source_hash = _Background(lambda: sha256_files(list(model.files), cancel=inner))
    try:
        with writer:
            for p in plan:
                ref, k = p.ref, p.bits
                cb = aligned_chunk_bytes(ref.dtype, chunk_bytes)
                # tied copies draw the stream of the tensor they are tied to: identical bits
                rng = tensor_rng(seed, p.tie or ref.name) if (k and mode == "random") else None
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
            if judge is not None:
                rejudged = rejudge(open_safetensors(tmp), replace(judge, hash=False), cancel=cancel)
                meta["inspector.rejudged_verdict"] = rejudged.provenance()
                writer.rewrite_metadata(meta)
                allowed = allow_suspicious(rejudged) if callable(allow_suspicious) else bool(allow_suspicious)
                if rejudged.suspicious and not allowed:
                    raise StillSuspicious(rejudged, path=output)
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

    if rejudged is not None:  # the scan saw the uncommitted file: name the committed one
        doc = dict(rejudged.scan)
        doc["model"] = {**dict(doc.get("model") or {}), "path": str(output), "sha256": out_sha}
        rejudged = dataclasses.replace(rejudged, scan=doc)
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
        policy=policy,
        rejudged=rejudged,
    )


#: Header room reserved for ``inspector.rejudged_verdict`` (its JSON names families and input file names).
_VERDICT_ROOM = 4096


def _policy_note(policy: ExportPolicy) -> dict[str, Any]:
    """What the policy removed, for the provenance: counts and bytes, never the removed names' contents."""
    dropped = policy.dropped
    return {
        "tensors_dropped": len(dropped),
        "tensor_bytes_dropped": sum(t.nbytes for t in dropped),
        "metadata_dropped": sum(1 for m in policy.metadata if m.action == "drop"),
        "metadata_kept": sorted(policy.kept_metadata),
    }


def scrub_file(
    path: str | Path,
    output: str | Path,
    **kwargs: Any,
) -> ScrubResult:
    """:func:`scrub_model` on a path (opened with :func:`~inspector.core.formats.open_model`)."""
    return scrub_model(open_model(path), output, **kwargs)


__all__ = [
    "DEFAULT_BITS",
    "ExportPolicy",
    "Rejudgement",
    "StillSuspicious",
    "plan_policy",
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
