"""Scrub panel: randomise the low mantissa bits (the paper's countermeasure), preview, apply, undo, export.

The slider sets fp32's ``k``; the other float types follow the core's scaling (:func:`scaled_bits`) and can be
overridden. Moving it previews (debounced, in a worker) the change on the selected layer with the export's own
random stream: max |Δw|, mean relative change and the histogram after. *Apply* writes a verified scrubbed copy
to a temporary folder and scans it (verdict after scrubbing; the accuracy panel compares it with the original);
*Undo* goes back one apply; *Export* writes the sanitized safetensors where the user chooses, never over the
source.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTemporaryDir, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.core.pipeline import ScanOptions
from inspector.core.scrub import DEFAULT_BITS, MODES, scaled_bits
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import ScrubApplied, ScrubPlan, ScrubPreview, apply_scrub, export_scrub, scrub_preview
from inspector.qt.workers import TaskSlot, WorkerError

_MANTISSA = {"F64": 52, "F32": 23, "F16": 10, "BF16": 7, "F8_E4M3": 3, "F8_E5M2": 2}


class ScrubPanel(QWidget):
    preview_shown = Signal(object)  # ScrubPreview
    applied = Signal(object)  # ScrubApplied
    exported = Signal(object)  # ScrubResult

    def __init__(
        self,
        doc: ModelDocument,
        selected_names: Callable[[], list[str]],
        notify: Callable[[str, str], None],
        report: Callable[[WorkerError, str], None],
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.doc = doc
        self.selected_names = selected_names
        self.notify = notify
        self.report = report
        self.preview_slot = TaskSlot(doc.pool, self)
        self.apply_slot = TaskSlot(doc.pool, self)
        self.tmp = QTemporaryDir()
        self.preview: Optional[ScrubPreview] = None
        self._counter = 0

        # -- controls ----------------------------------------------------------------------------------------
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 23)
        self.slider.setValue(DEFAULT_BITS)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(4)
        self.slider_label = QLabel()
        self.slider_label.setMinimumWidth(70)
        self.dtype_box = QWidget()
        self.dtype_layout = QHBoxLayout(self.dtype_box)
        self.dtype_layout.setContentsMargins(0, 0, 0, 0)
        self.dtype_spins: dict[str, QSpinBox] = {}
        self.scope_all = QRadioButton("All float tensors")
        self.scope_sel = QRadioButton("Selected layers")
        self.scope_all.setChecked(True)
        grp = QButtonGroup(self)
        grp.addButton(self.scope_all)
        grp.addButton(self.scope_sel)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setToolTip("random: replace the low bits with noise (default);\nround: round to fewer bits")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=secrets.randbelow(2**31))
        self.seed.setToolTip("same seed, same bytes: recorded in the exported file's metadata")
        self.apply_btn = QPushButton("Apply")
        self.undo_btn = QPushButton("Undo")
        self.export_btn = QPushButton("Export sanitized…")
        self.cancel_btn = QPushButton("Cancel")
        self.progress = QProgressBar(maximum=1000)
        self.progress.setVisible(False)
        self.cancel_btn.setVisible(False)

        bits_row = QHBoxLayout()
        bits_row.addWidget(self.slider, 1)
        bits_row.addWidget(self.slider_label)
        scope_row = QHBoxLayout()
        scope_row.addWidget(self.scope_all)
        scope_row.addWidget(self.scope_sel)
        scope_row.addStretch(1)
        form = QFormLayout()
        form.addRow("fp32 low bits", bits_row)
        form.addRow("per type", self.dtype_box)
        form.addRow("tensors", scope_row)
        form.addRow("mode", self.mode)
        form.addRow("seed", self.seed)
        buttons = QHBoxLayout()
        for b in (self.apply_btn, self.undo_btn, self.export_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        prog_row = QHBoxLayout()
        prog_row.addWidget(self.progress, 1)
        prog_row.addWidget(self.cancel_btn)
        settings = QGroupBox("Scrub low mantissa bits")
        sl = QVBoxLayout(settings)
        sl.addLayout(form)
        sl.addLayout(buttons)
        sl.addLayout(prog_row)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        state = QGroupBox("Applied")
        QVBoxLayout(state).addWidget(self.state_label)
        left = QVBoxLayout()
        left.addWidget(settings)
        left.addWidget(state)
        left.addStretch(1)

        # -- preview ------------------------------------------------------------------------------------------
        self.preview_label = QLabel("Select a float layer to preview.")
        self.preview_label.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "weight value")
        self.plot.setLabel("left", "count")
        legend = self.plot.addLegend(offset=(-10, 10))
        self.before_curve = self.plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, pen=P.BASELINE_PEN, brush=P.BASELINE_BRUSH, name="before"
        )
        self.after_curve = self.plot.plot([0, 1], [0], stepMode="center", pen=P.MODEL_PEN, name="after scrubbing")
        legend.setParentItem(self.plot.getPlotItem().vb)
        right = QVBoxLayout()
        right.addWidget(self.preview_label)
        right.addWidget(self.plot, 1)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lw = QWidget()
        lw.setLayout(left)
        lw.setMaximumWidth(420)
        lay.addWidget(lw)
        lay.addLayout(right, 1)

        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.refresh_preview)
        self.slider.valueChanged.connect(self._on_slider)
        self.mode.currentIndexChanged.connect(lambda _i: self._debounce.start())
        self.seed.valueChanged.connect(lambda _v: self._debounce.start())
        self.apply_btn.clicked.connect(self.apply)
        self.undo_btn.clicked.connect(self.doc.undo_scrub)
        self.export_btn.clicked.connect(self.choose_export)
        self.cancel_btn.clicked.connect(self._cancel_apply)
        self.apply_slot.busy_changed.connect(self._on_busy)
        doc.opened.connect(self._on_opened)
        doc.selection_changed.connect(lambda _n: self._debounce.start())
        doc.scan_finished.connect(lambda _r: self._debounce.start())
        doc.scrubbed_changed.connect(self._update_state)
        self._on_slider(self.slider.value())
        self._update_state()

    # ------------------------------------------------------------------------------------------------ bits
    def _on_opened(self, model) -> None:
        if self.apply_slot.current is not None and self.apply_slot.current.name == "scrub":
            # a scrub of the previous model must not land on this one (an export finishes: its file is right)
            self.apply_slot.cancel()
        self.dtype_spins = {}
        while self.dtype_layout.count():
            item = self.dtype_layout.takeAt(0)
            old = item.widget() if item is not None else None
            if old is not None:
                old.deleteLater()
        present = sorted({t.dtype.name for t in model.tensors if t.dtype.is_float}, key=list(_MANTISSA).index)
        for name in present:
            spin = QSpinBox(minimum=0, maximum=_MANTISSA.get(name, 0), prefix=f"{name} ")
            spin.setToolTip(f"low bits of {name} tensors to randomise (of {_MANTISSA.get(name)} mantissa bits)")
            spin.valueChanged.connect(lambda v, name=name: self._on_spin(name, v))
            self.dtype_spins[name] = spin
            self.dtype_layout.addWidget(spin)
        self.dtype_layout.addStretch(1)
        # a new seed per model: re-scrubbing a file scrubbed with this session's seed would change nothing
        self.seed.setValue(secrets.randbelow(2**31))
        self._on_slider(self.slider.value())
        self._update_state()

    def _on_spin(self, name: str, value: int) -> None:
        """Typing fp32's bits moves the slider (which is fp32's) without rescaling the other types."""
        if name == "F32" and self.slider.value() != value:
            self.slider.blockSignals(True)
            self.slider.setValue(value)
            self.slider.blockSignals(False)
            self._label_slider(value)
        self._debounce.start()

    def _label_slider(self, k: int) -> None:
        rel = 0.25 * 2.0 ** (k - 23) if k else 0.0
        self.slider_label.setText(f"{k} bits")
        self.slider.setToolTip(f"expected mean relative change of fp32 weights ≈ {rel:.2%}")

    def _on_slider(self, k: int) -> None:
        scaled = scaled_bits(k)
        self._label_slider(k)
        for name, spin in self.dtype_spins.items():
            spin.blockSignals(True)
            spin.setValue(scaled.get(name, 0))
            spin.blockSignals(False)
        self._debounce.start()

    def bits_map(self) -> dict[str, int]:
        return {name: spin.value() for name, spin in self.dtype_spins.items()}

    def plan(self) -> ScrubPlan:
        tensors = tuple(self.selected_names()) if self.scope_sel.isChecked() else ()
        return ScrubPlan(tuple(sorted(self.bits_map().items())), tensors, self.seed.value(), self.mode.currentText())

    # ------------------------------------------------------------------------------------------------ preview
    def refresh_preview(self) -> None:
        self._debounce.stop()
        name = self.doc.selected
        model = self.doc.model
        scan = self.doc.scans.get(name or "")
        if model is None or not name or scan is None or scan.stats.histogram is None:
            self.preview_slot.cancel()
            return
        dt = model[name].dtype
        if not dt.is_float:
            self.preview_slot.cancel()
            self.preview_label.setText(f"<b>{name}</b> is {dt.name}: integer tensors are copied bit for bit.")
            return
        bits = self.bits_map().get(dt.name, 0)
        self.preview_label.setText(f"Previewing {name}…")
        self.preview_slot.start(
            scrub_preview,
            model,
            name,
            bits,
            self.seed.value(),
            self.mode.currentText(),
            scan.stats.histogram.edges,
            name="scrub-preview",
            on_returned=self._show_preview,
            on_errored=lambda e: self.preview_label.setText(f"Preview failed: {e.exception}"),
        )

    def _show_preview(self, pv: ScrubPreview) -> None:
        self.preview = pv
        self.before_curve.setData(pv.edges, pv.before.astype(np.float64))
        self.after_curve.setData(pv.edges, pv.after.astype(np.float64))
        part = f" (first {pv.elements:,} elements)" if pv.partial else ""
        self.preview_label.setText(
            f"<b>{pv.name}</b> ({pv.dtype}, {pv.bits} bits){part}: max |Δw| = <b>{pv.max_abs_change:.3g}</b> · "
            f"mean relative change {pv.mean_rel_change:.3%} · {pv.changed_fraction:.1%} of weights changed"
            + (f" · {pv.outside} value(s) moved just outside the plotted range" if pv.outside else "")
        )
        self.preview_shown.emit(pv)

    # ------------------------------------------------------------------------------------------------ apply / undo
    def apply(self) -> None:
        if self.doc.model is None or not self.tmp.isValid():
            return
        plan = self.plan()
        if self.scope_sel.isChecked() and not plan.tensors:
            self.notify("Select the layers to scrub in the layer table first.", "warning")
            return
        self._counter += 1
        out = str(Path(self.tmp.path()) / f"scrubbed-{self._counter}.safetensors")
        self.apply_slot.start(
            apply_scrub,
            self.doc.model,
            plan,
            out,
            self.judge_options(),
            name="scrub",
            on_progress=lambda pm, _m: self.progress.setValue(pm),
            on_returned=self._on_applied,
            on_errored=lambda e: self.report(e, "Scrubbing failed"),
        )

    def judge_options(self) -> Optional[ScanOptions]:
        """The inputs the original was judged with (baselines, profile, eval data, training sample, recipe,
        base): the scrubbed copy is judged with the same, so its verdict compares with the original's."""
        r = self.doc.result
        return r.options if r is not None else None

    def _cancel_apply(self) -> None:
        self.apply_slot.cancel()
        self.notify("Scrubbing cancelled; nothing was written.", "info")

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_btn.setVisible(busy)
        self.progress.setValue(0)
        self._update_state()

    def _on_applied(self, applied: ScrubApplied) -> None:
        self.doc.push_scrub(applied)
        self.applied.emit(applied)

    def _update_state(self) -> None:
        a = self.doc.scrubbed
        busy = self.apply_slot.busy
        has_model = self.doc.model is not None
        self.apply_btn.setEnabled(has_model and not busy)
        self.undo_btn.setEnabled(a is not None and not busy)
        self.export_btn.setEnabled(a is not None and not busy)
        # "sanitized" only for a copy judged clean with the original's inputs (every family assessed, none found)
        self.export_btn.setText(
            "Export sanitized…" if a is not None and a.scan.verdict == "clean" else "Export scrubbed…"
        )
        if a is None:
            self.state_label.setText("Nothing applied: the model is as it was opened.")
            return
        r = a.result
        v = r.verification
        ok = "verified ✓" if v is not None and v.ok else "NOT verified"
        color = P.SUSPICIOUS_COLOR.name() if a.scan.verdict == "suspicious" else P.CLEAN_COLOR.name()
        mx = "–" if r.max_abs_change is None else f"{r.max_abs_change:.3g}"
        mr = "–" if r.mean_rel_change is None else f"{r.mean_rel_change:.3%}"
        self.state_label.setText(
            f"{a.plan.describe()}<br>{r.tensors_scrubbed} tensors scrubbed, {r.tensors_copied} copied · {ok}<br>"
            f"max |Δw| {mx} · mean relative change {mr}<br>"
            f"verdict after scrubbing: <b style='color:{color}'>{a.scan.verdict.upper()}</b> "
            f"(score {a.scan.score:.2f}) · {len(self.doc.scrub_history)} step(s) to undo"
        )

    # ------------------------------------------------------------------------------------------------ export
    def choose_export(self) -> None:
        a = self.doc.scrubbed
        src = self.doc.model
        if a is None or src is None:
            return
        stem = Path(src.path).name.split(".")[0]
        default = str(Path(src.path).parent / f"{stem}.scrubbed.safetensors")
        title = "Export sanitized model" if a.scan.verdict == "clean" else "Export scrubbed model"
        path, _ = QFileDialog.getSaveFileName(self, title, default, "safetensors (*.safetensors)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        a = self.doc.scrubbed
        src = self.doc.model
        if a is None or src is None:
            return
        if any(Path(path).resolve() == Path(f).resolve() for f in (src.files or (src.path,))):
            self.notify("Refusing to export over the model you opened; choose another file name.", "error")
            return
        still = a.scan.verdict == "suspicious"
        if still:
            detected = ", ".join(f.title for f in a.scan.families if f.status == "detected") or "a suspicious finding"
            text = (
                f"The scrubbed model is still suspicious: {detected}. Scrubbing low bits removes LSB payloads, "
                "not sign, correlated-value or capacity-abuse ones. Write it anyway? It will be marked "
                "“scrubbed, still suspicious”, never “sanitized”."
            )
            if not self.confirm_suspicious(text):
                self.notify("Export cancelled: nothing was written.", "info")
                return
        self.apply_slot.start(
            export_scrub,
            src,
            a.plan,
            path,
            self.judge_options(),
            still,
            name="export",
            on_progress=lambda pm, _m: self.progress.setValue(pm),
            on_returned=self._on_exported,
            on_errored=lambda e: self.report(e, "Export failed"),
        )

    def confirm_suspicious(self, text: str) -> bool:
        """Ask before writing a still-suspicious scrub (a modal question; tests replace it)."""
        answer = QMessageBox.question(
            self,
            "Export a still-suspicious model",
            text,
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Save

    def _on_exported(self, result) -> None:
        v = result.verification
        ok = "verified" if v is not None and v.ok else "NOT verified"
        judged = getattr(result, "rejudged", None)
        words = judged.words if judged is not None else "not re-judged"
        level = "info" if judged is not None and judged.sanitized else "warning"
        self.notify(f"Exported {result.output}: {words} ({ok}; sha256 {str(result.sha256)[:12]}…).", level)
        self.exported.emit(result)

    def shutdown(self) -> None:
        """Called after every worker has stopped: remove the temporary scrubbed copies."""
        self.tmp.remove()
