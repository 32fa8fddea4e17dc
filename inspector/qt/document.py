"""The open model as the app sees it: the one state every panel draws, changed only through its methods.

Like napari's viewer model, this object knows nothing about widgets: panels listen to its signals
(``opened``, ``tensor_scanned``, ``scan_finished``, ``selection_changed`` ...) and call its methods. It runs
the scan of the model (and of a baseline model) in :class:`~inspector.qt.workers.TaskSlot`\\ s, so opening a
second model supersedes the first scan cleanly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from inspector.core.errors import InspectorError
from inspector.core.formats import ModelFile
from inspector.core.judge import SEVERITIES, Finding
from inspector.core.measure import ScanOptions, TensorScan
from inspector.core.pipeline import ScanResult
from inspector.qt import tasks
from inspector.qt.workers import TaskSlot, WorkerPool


@dataclass(frozen=True)
class Baseline:
    """The chosen reference: ``kind`` is ``"model"`` (another file), ``"profile"`` or ``"gaussian"``."""

    kind: str
    path: Optional[str] = None
    label: str = ""


class ModelDocument(QObject):
    """State of the inspected model; all long work goes through worker slots owned here."""

    open_started = Signal(str)  # path
    open_failed = Signal(object)  # WorkerError; the model that was open stays open
    opened = Signal(object)  # ModelFile: a new model replaced the old one
    rescanning = Signal()
    tensor_scanned = Signal(object)  # TensorScan
    scan_progressed = Signal(int, str)  # per mille, message
    scan_finished = Signal(object)  # ScanResult
    scan_failed = Signal(object)  # WorkerError
    scan_cancelled = Signal()
    selection_changed = Signal(str)
    baseline_changed = Signal()
    baseline_progressed = Signal(int, str)
    baseline_failed = Signal(object)  # WorkerError
    rejudged = Signal(object, float)  # ScanResult judged again (baseline changed), milliseconds it took
    scrubbed_changed = Signal()  # the applied scrub (``scrubbed``) changed: applied, undone or model switched
    #: what the views show changed: the original or the scrubbed copy (``showing``), or the comparison
    #: (``compare_mode``, ``compare_target``); every view redraws on it
    view_changed = Signal()

    def __init__(self, pool: WorkerPool, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.open_slot = TaskSlot(pool, self)
        self.scan_slot = TaskSlot(pool, self)
        self.baseline_slot = TaskSlot(pool, self)
        self.judge_slot = TaskSlot(pool, self)
        self._judge_t0 = 0.0
        self.options = ScanOptions()
        self.path: Optional[str] = None
        self.model: Optional[ModelFile] = None
        self.scans: dict[str, TensorScan] = {}
        self.result: Optional[ScanResult] = None
        self.selected: Optional[str] = None
        self.baseline: Optional[Baseline] = None
        self.baseline_model: Optional[ModelFile] = None
        self.baseline_scans: dict[str, TensorScan] = {}
        self.matching: dict[str, str] = {}
        self._findings: dict[str, list[Finding]] = {}
        self._severity: dict[str, str] = {}
        #: applied scrubs of the open model, latest last (undo pops); each a ``tasks.ScrubApplied``
        self.scrub_history: list[tasks.ScrubApplied] = []
        #: the latest accuracy check (an ``EvalResult``) and auto safe-bits search (``AutoResult``), for reports
        self.evaluation: object = None
        self.safe_bits: object = None
        #: which state every view shows: ``"original"`` or ``"scrubbed"`` (the applied scrub)
        self.showing = "original"
        #: the comparison every view draws: ``"off"``, ``"side"`` (side by side) or ``"diff"`` (difference)
        self.compare_mode = "off"
        #: what is compared: ``"scrub"`` (original vs scrubbed) or ``"baseline"`` (model vs baseline model)
        self.compare_target = "scrub"
        self._scrub_cache: tuple[object, Optional[ModelFile], dict[str, TensorScan], dict[str, list[Finding]]] = (
            None,
            None,
            {},
            {},
        )

    # ------------------------------------------------------------------------------------ opening, scanning
    def open(self, path: str | Path) -> None:
        """Open ``path`` in the background; only once its headers read fine is the current model replaced
        (its scan cancelled) and the new one scanned. A file that cannot be opened leaves everything as it was."""
        self.open_started.emit(str(path))
        self.open_slot.start(
            tasks.open_only,
            str(path),
            name="open",
            on_returned=self._on_open_returned,
            on_errored=self.open_failed.emit,
        )

    def _on_open_returned(self, model: ModelFile) -> None:
        self.scan_slot.cancel()
        self.judge_slot.cancel()
        self.path = str(model.path)
        self.model = model
        self.scans = {}
        self.result = None
        self.selected = None
        self._findings, self._severity = {}, {}
        self._rematch()
        had_scrub = bool(self.scrub_history)
        self.scrub_history = []
        self.showing = "original"
        self.opened.emit(model)
        if had_scrub:
            self.scrubbed_changed.emit()
            self.view_changed.emit()
        self._start_scan()

    def rescan(self) -> None:
        """Scan the open model again (e.g. after the baseline changed)."""
        if self.model is None:
            return
        self.scan_slot.cancel()
        self.judge_slot.cancel()
        self.scans = {}
        self.result = None
        self._findings, self._severity = {}, {}
        self.rescanning.emit()
        self._start_scan()

    def _start_scan(self) -> None:
        assert self.model is not None
        self.scan_slot.start(
            tasks.scan_model,
            self.model,
            self._scan_options(),
            name="scan",
            on_yielded=self._on_scan_yielded,
            on_progress=self.scan_progressed.emit,
            on_returned=self._on_scan_returned,
            on_errored=self.scan_failed.emit,
            on_cancelled=self.scan_cancelled.emit,
        )

    def _scan_options(self) -> ScanOptions:
        b = self.baseline
        opts = self.options
        if b is not None and b.kind == "model" and b.path:
            opts = replace(opts, baselines=(b.path,))
        elif b is not None and b.kind == "profile" and b.path:
            opts = replace(opts, profile=b.path)
        return opts

    def cancel_scan(self) -> None:
        if self.scan_slot.busy:
            self.scan_slot.cancel()
            self.scan_cancelled.emit()

    @property
    def scanning(self) -> bool:
        return self.scan_slot.busy

    def _on_scan_yielded(self, item: object) -> None:
        if isinstance(item, TensorScan):
            self.scans[item.name] = item
            self.tensor_scanned.emit(item)

    def _on_scan_returned(self, result: ScanResult) -> None:
        self.result = result
        self.scans = {t.name: t for t in result.tensors}
        by: dict[str, list[Finding]] = {}
        for f in result.findings:
            by.setdefault(f.tensor or "", []).append(f)
        self._findings = by
        self._severity = {}
        for name, fs in by.items():
            sev = [f.severity for f in fs if f.severity != "info"]
            if sev:
                self._severity[name] = max(sev, key=SEVERITIES.index)
        self.scan_finished.emit(result)

    # ------------------------------------------------------------------------------------ selection, findings
    def select(self, name: Optional[str]) -> None:
        if name != self.selected and (name is None or self.model is None or name in self.model):
            self.selected = name
            self.selection_changed.emit(name or "")

    def findings_for(self, name: str) -> list[Finding]:
        """The findings about one layer in the state shown (original or scrubbed), most severe first
        (model-level findings: ``name=""``)."""
        if self.shows_scrubbed:
            return self._scrub_index()[3].get(name, [])
        return self._findings.get(name, [])

    def original_findings_for(self, name: str) -> list[Finding]:
        """The original model's findings about one layer, whatever is shown."""
        return self._findings.get(name, [])

    def severity_of(self, name: str) -> Optional[str]:
        """The most severe finding's severity for a layer in the state shown (``None``: none above info)."""
        if self.shows_scrubbed:
            sev = [f.severity for f in self._scrub_index()[3].get(name, []) if f.severity != "info"]
            return max(sev, key=SEVERITIES.index) if sev else None
        return self._severity.get(name)

    # ------------------------------------------------------------------------------------ scrubbed versions
    @property
    def scrubbed(self) -> Optional[tasks.ScrubApplied]:
        """The scrubbed version currently applied (``None``: the original)."""
        return self.scrub_history[-1] if self.scrub_history else None

    def push_scrub(self, applied: tasks.ScrubApplied) -> None:
        """A new scrubbed version: every view shows it from now on (the toggle goes back to the original)."""
        self.scrub_history.append(applied)
        self.showing = "scrubbed"
        self.scrubbed_changed.emit()
        self.view_changed.emit()

    def undo_scrub(self) -> None:
        if self.scrub_history:
            self.scrub_history.pop()
            if not self.scrub_history:
                self.showing = "original"
            self.scrubbed_changed.emit()
            self.view_changed.emit()

    # ------------------------------------------------------------------------------------------------ shown state
    @property
    def shows_scrubbed(self) -> bool:
        """Whether the views show the applied scrub (``showing == "scrubbed"`` and a scrub is applied)."""
        return self.showing == "scrubbed" and self.scrubbed is not None

    def set_showing(self, which: str) -> bool:
        """Show ``"original"`` or ``"scrubbed"`` in every view; ``False`` (nothing changes) when asked for the
        scrubbed state with no scrub applied."""
        if which not in ("original", "scrubbed"):
            raise ValueError(f"showing must be 'original' or 'scrubbed', not {which!r}")
        if which == "scrubbed" and self.scrubbed is None:
            return False
        if which != self.showing:
            self.showing = which
            self.view_changed.emit()
        return True

    def toggle_showing(self) -> bool:
        """Original ↔ scrubbed (``False`` when no scrub is applied)."""
        return self.set_showing("original" if self.shows_scrubbed else "scrubbed")

    def set_compare(self, mode: Optional[str] = None, target: Optional[str] = None) -> None:
        """The comparison every view draws: ``mode`` off/side/diff, ``target`` scrub/baseline."""
        if mode is not None and mode not in ("off", "side", "diff"):
            raise ValueError(f"compare mode must be off, side or diff, not {mode!r}")
        if target is not None and target not in ("scrub", "baseline"):
            raise ValueError(f"compare target must be scrub or baseline, not {target!r}")
        new = (mode or self.compare_mode, target or self.compare_target)
        if new != (self.compare_mode, self.compare_target):
            self.compare_mode, self.compare_target = new
            self.view_changed.emit()

    def _scrub_index(self) -> tuple[object, Optional[ModelFile], dict[str, TensorScan], dict[str, list[Finding]]]:
        """The applied scrub's model file (headers only), scans and findings by layer, built once per scrub."""
        a = self.scrubbed
        if a is None:
            return (None, None, {}, {})
        if self._scrub_cache[0] is not a:
            from inspector.core.formats import open_model

            try:
                model: Optional[ModelFile] = open_model(a.result.output)
            except (OSError, ValueError, InspectorError):  # the temporary copy went away: the scans still show
                model = None
            by: dict[str, list[Finding]] = {}
            for f in a.scan.findings:
                by.setdefault(f.tensor or "", []).append(f)
            self._scrub_cache = (a, model, {t.name: t for t in a.scan.tensors}, by)
        return self._scrub_cache

    @property
    def scrubbed_model(self) -> Optional[ModelFile]:
        """The applied scrub's file, opened (headers only), or ``None``."""
        return self._scrub_index()[1]

    @property
    def scrubbed_scans(self) -> dict[str, TensorScan]:
        """The applied scrub's per-tensor scans (empty when none is applied)."""
        return self._scrub_index()[2]

    @property
    def view_model(self) -> Optional[ModelFile]:
        """The model file of the state shown (the scrubbed copy when it is shown)."""
        return self.scrubbed_model if self.shows_scrubbed else self.model

    @property
    def view_scans(self) -> dict[str, TensorScan]:
        """Per-tensor scans of the state shown."""
        return self.scrubbed_scans if self.shows_scrubbed else self.scans

    @property
    def view_result(self) -> Optional[ScanResult]:
        """The judged scan of the state shown (the scrubbed copy's own scan when it is shown)."""
        a = self.scrubbed
        return a.scan if self.shows_scrubbed and a is not None else self.result

    @property
    def view_label(self) -> str:
        return "scrubbed" if self.shows_scrubbed else "original"

    # ------------------------------------------------------------------------------------ baseline
    def set_baseline(self, baseline: Optional[Baseline]) -> None:
        """Choose the reference; a model baseline is scanned in the background, then the model is re-scanned
        so the detectors compare against it."""
        self.baseline_slot.cancel()
        changed = baseline != self.baseline
        self.baseline = baseline
        self.baseline_model = None
        self.baseline_scans = {}
        self.matching = {}
        if baseline is not None and baseline.kind == "model" and baseline.path:
            opts = ScanOptions(hash=False, detectors=False)
            self.baseline_slot.start(
                tasks.open_and_scan,
                baseline.path,
                opts,
                name="baseline",
                on_yielded=self._on_baseline_yielded,
                on_progress=self.baseline_progressed.emit,
                on_returned=self._on_baseline_returned,
                on_errored=self.baseline_failed.emit,
            )
        self.baseline_changed.emit()
        if self.model is not None and changed:  # the detectors compare against the new reference
            if self.result is not None and getattr(self.result, "measurement", None) is not None:
                self.rejudge()
            else:  # still scanning: scan again with the new reference
                self.rescan()

    def rejudge(self) -> None:
        """Judge the finished scan again against the current baseline from its stored measurement (the model
        file is not read again; milliseconds unless a new reference model must be measured first)."""
        if self.result is None:
            return
        opts = self._scan_options()
        self._judge_t0 = time.perf_counter()
        self.judge_slot.start(
            tasks.rejudge_result,
            self.result,
            tuple(opts.baselines),
            opts.profile,
            name="rejudge",
            on_returned=self._on_rejudged,
            on_errored=self.scan_failed.emit,
        )

    def rejudge_with(self, task: Callable[..., ScanResult], *args: object) -> None:
        """Judge the finished scan again through the worker task ``task(result, *args)``, which returns a new
        ``ScanResult`` from the stored measurement (the Inputs panel's other inputs); handled as :meth:`rejudge`."""
        if self.result is None:
            return
        self._judge_t0 = time.perf_counter()
        self.judge_slot.start(
            task, self.result, *args, name="rejudge", on_returned=self._on_rejudged, on_errored=self.scan_failed.emit
        )

    def _on_rejudged(self, result: ScanResult) -> None:
        self._on_scan_returned(result)
        self.rejudged.emit(result, 1000 * (time.perf_counter() - self._judge_t0))

    def _on_baseline_yielded(self, item: object) -> None:
        if isinstance(item, tasks.Opened):
            self.baseline_model = item.model
            self._rematch()

    def _on_baseline_returned(self, result: ScanResult) -> None:
        self.baseline_scans = {t.name: t for t in result.tensors}
        self._rematch()
        self.baseline_changed.emit()

    def _rematch(self) -> None:
        if self.model is None or self.baseline_model is None:
            self.matching = {}
            return
        self.matching = match_layers(self.model, self.baseline_model)

    def baseline_scan_for(self, name: str) -> Optional[TensorScan]:
        other = self.matching.get(name)
        return self.baseline_scans.get(other) if other else None


def match_layers(model: ModelFile, reference: ModelFile) -> dict[str, str]:
    """Which reference layer each layer is compared with, by the core's rule (name, else shape and order)."""
    from inspector.core.judge import match_layers as core_match

    matches, _unmatched = core_match(
        [(t.name, t.shape) for t in model.tensors], [(t.name, t.shape) for t in reference.tensors]
    )
    return {m.name: m.ref_name for m in matches}
