"""The pipeline, start here: open → measure → judge → (scrub → measure → judge) → evaluate → report.

- :func:`inspector.core.formats.open_model` lists a file's tensors from its headers; no code from the file runs.
- :func:`inspector.core.measure.measure` makes one streaming pass over every element of every tensor
  (statistics, detector features, SHA-256) and returns a plain :class:`~inspector.core.measure.Measurement`.
- :func:`gather_inputs` prepares what judging needs besides the measurement: the baseline profile, reference
  models measured on the same bin edges, the training-sample match (reads the file) and the capacity probe
  (runs the model). These are the only steps besides measuring that touch the model.
- :func:`inspector.core.judge.judge` turns measurement + inputs into findings, per-family status and a verdict,
  in milliseconds and without reading anything: :func:`rejudge` re-runs it when only the inputs changed.
- Scrubbing (:mod:`inspector.core.scrub`) writes a new file that goes through the same measure → judge with the
  original's inputs; evaluation (:mod:`inspector.core.evaluate`) runs the model; :mod:`inspector.core.report`
  renders a :class:`ScanResult`.

:func:`scan` composes the whole thing for the command line, the app and notebooks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from inspector._version import __version__
from inspector.core.formats.base import ModelFile
from inspector.core.formats.model_file import open_model
from inspector.core.judge.baselines import Reference, load_reference, select_profile
from inspector.core.judge.detectors import match_training_data, probe_capacity
from inspector.core.judge.families import FamilyStatus
from inspector.core.judge.findings import Finding
from inspector.core.judge.judgement import CoverageRow, JudgeInputs, Judgement, ProbeOutcome, judge
from inspector.core.measure.scan import Measurement, ModelInfo, ScanOptions, TensorScan, measure
from inspector.core.progress import CancelToken, ProgressCallback, check, report

#: The scan JSON schema id (the contract other tools read).
SCHEMA = "model-inspector/scan/1"

__all__ = ["SCHEMA", "ScanOptions", "ScanResult", "gather_inputs", "rejudge", "scan"]


@dataclass(frozen=True)
class ScanResult:
    """A measured and judged model: per-tensor statistics, ranked findings, per-family status and verdict."""

    model: ModelInfo
    tensors: tuple[TensorScan, ...]
    findings: tuple[Finding, ...]
    verdict: str
    score: float
    limits: tuple[str, ...] = ()
    checked: tuple[str, ...] = ()
    seconds: float = 0.0
    options: ScanOptions = field(default_factory=ScanOptions)
    families: tuple[FamilyStatus, ...] = ()
    coverage: tuple[CoverageRow, ...] = ()
    missing: tuple[str, ...] = ()
    measurement: Optional[Measurement] = None
    inputs: Optional[JudgeInputs] = None

    def tensor(self, name: str) -> TensorScan:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The ``model-inspector/scan/1`` document (see docs/architecture.md)."""
        m = self.measurement
        return {
            "schema": SCHEMA,
            "tool": {"name": "model-inspector", "version": __version__},
            "model": self.model.to_json(),
            "inputs": {
                "baselines": list(self.options.baselines),
                "profile": self.options.profile,
                "arch": self.options.arch,
                "data": self.options.data,
                "train_sample": self.options.train_sample,
                "base": self.options.base,
                "bins": self.options.bins,
            },
            "profile": self.inputs.profile.match.to_json()
            if self.inputs is not None and self.inputs.profile is not None and self.inputs.profile.match is not None
            else None,
            "verdict": self.verdict,
            "score": round(self.score, 6),
            "families": [f.to_json() for f in self.families],
            "missing": list(self.missing),
            "coverage": {
                "file_bytes": m.file_bytes if m is not None else None,
                "rows": [r.to_json() for r in self.coverage],
            },
            "findings": [f.to_json() for f in self.findings],
            "delta": self.inputs.delta.to_json() if self.inputs is not None and self.inputs.delta is not None else None,
            "threats": [t.to_json() if hasattr(t, "to_json") else dict(t) for t in (m.threats if m else ())],
            "hidden": [h.to_json() for h in (m.hidden if m else ())],
            "checked": list(self.checked),
            "limits": list(self.limits),
            "tensors": [t.to_json() for t in self.tensors],
            "seconds": round(self.seconds, 3),
        }


def gather_inputs(
    model: ModelFile,
    measurement: Measurement,
    options: ScanOptions,
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    references: Optional[tuple[Reference, ...]] = None,
) -> JudgeInputs:
    """What the judge needs besides the measurement. Reads the references, matches the training sample against
    the model file and runs the capacity probe, as the options ask; ``references`` may be given already loaded."""
    profile = select_profile(options.profile, measurement.tensors)
    refs: list[Reference] = list(references or ())
    if references is None:
        for path in options.baselines:
            check(cancel)
            refs.append(load_reference(path, measurement.tensors, cancel=cancel))
    data_findings: tuple[Finding, ...] = ()
    data_checked: Optional[str] = None
    if options.train_sample:
        check(cancel)
        found, data_checked = match_training_data(model, measurement.tensors, options, cancel=cancel)
        data_findings = tuple(found)
    delta = None
    if options.base:
        check(cancel)
        from inspector.core.measure.delta import measure_delta

        delta = measure_delta(model, open_model(options.base), cancel=cancel)
    probe: Optional[ProbeOutcome] = None
    if options.detectors:
        found, checked, not_run = probe_capacity(model, measurement.tensors, options, refs, cancel=cancel)
        probe = ProbeOutcome(tuple(found), checked, not_run)
    return JudgeInputs(
        profile=profile,
        references=tuple(refs),
        train_sample=options.train_sample,
        data_findings=data_findings,
        data_checked=data_checked,
        probe=probe,
        arch=options.arch,
        data=options.data,
        delta=delta,
    )


def _result(measurement: Measurement, inputs: JudgeInputs, j: Judgement, options: ScanOptions, t0: float) -> ScanResult:
    return ScanResult(
        model=measurement.model,
        tensors=measurement.tensors,
        findings=j.findings,
        verdict=j.verdict,
        score=j.score,
        limits=j.limits,
        checked=j.checked,
        seconds=time.perf_counter() - t0,
        options=options,
        families=j.families,
        coverage=j.coverage,
        missing=j.missing,
        measurement=measurement,
        inputs=inputs,
    )


def scan(
    model: ModelFile | str | Path,
    options: ScanOptions = ScanOptions(),
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    on_tensor: Optional[Callable[[TensorScan], None]] = None,
) -> ScanResult:
    """Open, measure and judge a model; returns an immutable result.

    ``progress(done, total, message)`` is called from worker threads; ``cancel`` stops the scan within a chunk
    (raising :class:`~inspector.core.progress.Cancelled`). Raises
    :class:`~inspector.core.errors.InspectorError` for unreadable files.
    """
    t0 = time.perf_counter()
    mf = model if isinstance(model, ModelFile) else open_model(model)
    m = measure(mf, options, progress=progress, cancel=cancel, on_tensor=on_tensor)
    if not options.detectors:
        j = Judgement((), "clean", 0.0, (), (), ())
        return _result(m, JudgeInputs(), j, options, t0)
    done = max(1, 2 * mf.nbytes)
    report(progress, done, done, "judging")
    inputs = gather_inputs(mf, m, options, progress=progress, cancel=cancel)
    return _result(m, inputs, judge(m, inputs), options, t0)


def rejudge(
    result: ScanResult,
    *,
    baselines: Optional[tuple[str, ...]] = None,
    profile: Optional[str] = "",
    references: Optional[tuple[Reference, ...]] = None,
    cancel: Optional[CancelToken] = None,
) -> ScanResult:
    """Judge a scanned model again with other baselines or another profile, without reading the model file.

    Only the new reference models are read (each once, cached); the training-sample match is kept from
    ``result``, and so is the capacity probe unless the baselines changed (it compares the model with them). ``profile=""`` keeps the current profile, ``None`` selects the built-in one.
    """
    t0 = time.perf_counter()
    if result.measurement is None or result.inputs is None:
        raise ValueError("this result holds no measurement to judge again")
    m, old = result.measurement, result.inputs
    opts = result.options
    if baselines is not None:
        opts = replace(opts, baselines=tuple(baselines))
    if profile != "":
        opts = replace(opts, profile=profile)
    refs = references
    if refs is None:
        refs = tuple(load_reference(p, m.tensors, cancel=cancel) for p in opts.baselines)
    probe = old.probe
    if opts.baselines != result.options.baselines and probe is not None and probe.checked:
        # the capacity probe compares the model's labels with each baseline's: a new baseline is a new probe, and
        # the probe runs the model, so its weights are read again (the measurement is not)
        check(cancel)
        found, checked, not_run = probe_capacity(open_model(m.model.path), m.tensors, opts, refs, cancel=cancel)
        probe = ProbeOutcome(tuple(found), checked, not_run)
    inputs = replace(old, profile=select_profile(opts.profile, m.tensors), references=refs, probe=probe)
    out = _result(m, inputs, judge(m, inputs), opts, t0)
    return replace(out, seconds=time.perf_counter() - t0)
