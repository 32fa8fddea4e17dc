"""Accuracy panel: does the scrubbed model still work? Original vs scrubbed accuracy, agreement and KL, and the
core's auto safe-bits search drawn as a curve. Everything runs in workers (torch is imported there, lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.errors import InspectorError
from inspector.core.evaluate import DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, resolve, within_tolerance
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import AccuracyPair, DeviceInfo, best_device, evaluate_pair, safe_bits
from inspector.qt.workers import TaskSlot, WorkerError

AUTO_ARCH = "from the file's metadata"
DATA_FILTER = "Data (*.npz *.safetensors);;All files (*)"


def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


class AccuracyPanel(QWidget):
    evaluated = Signal(object)  # AccuracyPair
    sweep_done = Signal(object)  # AutoResult

    def __init__(
        self,
        doc: ModelDocument,
        notify: Callable[[str, str], None],
        report: Callable[[WorkerError, str], None],
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.doc = doc
        self.notify = notify
        self.report = report
        self.slot = TaskSlot(doc.pool, self)
        self.device_slot = TaskSlot(doc.pool, self)
        self.device_info: Optional[DeviceInfo] = None
        self.pair: Optional[AccuracyPair] = None
        self.auto = None

        from inspector.core.evaluate import RECIPES

        self.arch = QComboBox(editable=True)
        self.arch.addItem(AUTO_ARCH)
        self.arch.addItems(sorted(RECIPES))
        self.arch.setToolTip(
            "Architecture recipe: a built-in name, or path/to/file.py:function or package.module:function —\n"
            "those run YOUR OWN code with your permissions. Metadata never selects code to run."
        )
        self.data = QLineEdit(placeholderText="evaluation data: .npz or .safetensors with inputs and labels")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data, 1)
        data_row.addWidget(browse)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device_label = QLabel("best device: (checked when you evaluate)")
        self.device_label.setWordWrap(True)
        P.mute(self.device_label)
        dev_row = QHBoxLayout()
        dev_row.addWidget(self.device)
        dev_row.addWidget(self.device_label, 1)
        self.max_drop = QDoubleSpinBox(minimum=0.0, maximum=50.0, value=DEFAULT_MAX_DROP, singleStep=0.1, suffix=" pts")
        self.min_agree = QDoubleSpinBox(
            minimum=0.0, maximum=100.0, value=100 * DEFAULT_MIN_AGREEMENT, singleStep=0.5, suffix=" %"
        )
        form = QFormLayout()
        form.addRow("recipe", self.arch)
        form.addRow("eval data", data_row)
        form.addRow("device", dev_row)
        form.addRow("safe-bits: max drop", self.max_drop)
        form.addRow("safe-bits: min agreement", self.min_agree)
        self.eval_btn = QPushButton("Evaluate")
        self.eval_btn.setToolTip("accuracy of the original and, when a scrub is applied, of the scrubbed weights")
        self.sweep_btn = QPushButton("Find safe bits (auto)")
        self.cancel_btn = QPushButton("Cancel")
        self.progress = QProgressBar(maximum=1000)
        for w in (self.progress, self.cancel_btn):
            w.setVisible(False)
        btns = QHBoxLayout()
        for b in (self.eval_btn, self.sweep_btn):
            btns.addWidget(b)
        btns.addStretch(1)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_btn)
        box = QGroupBox("Check accuracy")
        bl = QVBoxLayout(box)
        bl.addLayout(form)
        bl.addLayout(btns)
        bl.addLayout(prog)

        self.table = QTableWidget(2, 5)
        self.table.setHorizontalHeaderLabels(["model", "accuracy", "agreement", "mean KL", "samples · device"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMaximumHeight(90)
        self.table.setVisible(False)  # until there is something to show
        #: which recipe builds the model, said up front: "none" (and what to do) when nothing names one
        self.recipe_note = QLabel()
        self.recipe_note.setWordWrap(True)
        self.recipe_note.setTextFormat(Qt.TextFormat.RichText)
        self.summary = QLabel()
        self._show_idle_summary()
        self.summary.setWordWrap(True)
        results = QVBoxLayout()
        results.addWidget(self.recipe_note)
        results.addWidget(self.table)
        results.addWidget(self.summary)
        results.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(box, 1)
        top.addLayout(results, 1)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setTitle("Auto safe-bits search: accuracy and agreement after scrubbing k low bits")
        self.plot.setLabel("bottom", "low bits scrubbed (k, dominant float type)")
        self.plot.setLabel("left", "%")
        self.plot.addLegend(offset=(10, 10))
        self.acc_curve = self.plot.plot(
            [], [], pen=P.MODEL_PEN, symbol="o", symbolSize=7, symbolBrush=P.MODEL_COLOR, name="accuracy"
        )
        self.agree_curve = self.plot.plot(
            [],
            [],
            pen=P.BASELINE_PEN,
            symbol="s",
            symbolSize=6,
            symbolBrush=P.BASELINE_COLOR,
            name="agreement with original",
        )
        self.orig_line = pg.InfiniteLine(
            angle=0, pen=P.EXPECT_PEN, label="original accuracy", labelOpts={"position": 0.1, "color": (90, 90, 90)}
        )
        self.chosen_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen(P.CLEAN_COLOR, width=2),
            label="safe k",
            labelOpts={"position": 0.15, "color": P.CLEAN_COLOR},
        )
        for item in (self.orig_line, self.chosen_line):
            item.setVisible(False)
            self.plot.addItem(item)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)

        self.eval_btn.clicked.connect(self.evaluate)
        self.sweep_btn.clicked.connect(self.find_safe_bits)
        self.cancel_btn.clicked.connect(self._cancel)
        self.slot.busy_changed.connect(self._on_busy)
        doc.scrubbed_changed.connect(self._on_scrubbed_changed)
        doc.opened.connect(lambda _m: self._reset())
        # the Inputs panel's architecture reaches the document's options when it is applied (a re-judge)
        doc.rejudged.connect(lambda *_: self.show_recipe())
        doc.scan_finished.connect(lambda _r: self.show_recipe())
        self.arch.currentTextChanged.connect(lambda _t: self.show_recipe())
        self.show_recipe()

    # ------------------------------------------------------------------------------------------------ inputs
    def set_data_path(self, path: str) -> None:
        self.data.setText(path)

    def _browse(self) -> None:
        start = str(Path(self.doc.path).parent) if self.doc.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Evaluation data", start, DATA_FILTER)
        if path:
            self.data.setText(path)

    def _arch(self) -> Optional[str]:
        """The recipe chosen here, else the Inputs panel's architecture, else ``None`` (the file's metadata)."""
        t = self.arch.currentText().strip()
        if t and t != AUTO_ARCH:
            return t
        return self.doc.options.arch or None

    def recipe_source(self) -> tuple[Optional[str], str]:
        """``(recipe, where it comes from)``; ``(None, "")`` when nothing names one (no code is run to find out:
        metadata can only name a built-in recipe)."""
        t = self.arch.currentText().strip()
        if t and t != AUTO_ARCH:
            return t, "chosen here"
        if self.doc.options.arch:
            return self.doc.options.arch, "the Inputs panel's architecture"
        if self.doc.model is None:
            return None, ""
        try:
            return resolve(None, self.doc.model).name, "named by the file's metadata"
        except InspectorError:
            return None, ""

    def show_recipe(self) -> None:
        """Say which recipe Evaluate will build, or plainly that there is none and what to do."""
        if self.doc.model is None:
            self.recipe_note.clear()
            return
        recipe, source = self.recipe_source()
        if recipe is not None:
            self.recipe_note.setText(f"Recipe: <b>{recipe}</b> ({source}).")
            return
        self.recipe_note.setText(
            f"<b style='color:{P.SUSPICIOUS_COLOR.name()}'>No architecture recipe</b>: "
            f"{Path(self.doc.model.path).name} does not name one, so its accuracy cannot be checked yet. "
            "Choose a built-in recipe above, or give path/to/file.py:function (your own code, run with your "
            "permissions), or set the architecture in the Inputs panel and apply it."
        )

    def _ready(self) -> bool:
        if self.doc.model is None:
            return False
        if self.recipe_source()[0] is None:
            self.notify(
                "This model names no architecture recipe: choose one in the Accuracy tab (or the Inputs panel's "
                "architecture), then evaluate.",
                "warning",
            )
            return False
        if not self.data.text().strip():
            self.notify("Choose evaluation data (a .npz or .safetensors file with inputs and labels).", "warning")
            return False
        self._check_device()
        return True

    def _check_device(self) -> None:
        if self.device_info is None and not self.device_slot.busy:
            self.device_slot.start(
                best_device,
                name="device",
                on_returned=self._on_device,
                on_errored=lambda e: self.device_label.setText(f"device check failed: {e.exception}"),
            )

    def _on_device(self, info: DeviceInfo) -> None:
        self.device_info = info
        self.device_label.setText(f"best device: {info.device} ({info.name})")

    # ------------------------------------------------------------------------------------------------ running
    def evaluate(self) -> None:
        if not self._ready():
            return
        scrubbed = self.doc.scrubbed
        self.slot.start(
            evaluate_pair,
            self.doc.model,
            str(scrubbed.result.output) if scrubbed is not None else None,
            self.data.text().strip(),
            self._arch(),
            self.device.currentText(),
            name="evaluate",
            on_progress=lambda pm, _m: self.progress.setValue(pm),
            on_yielded=self._show_pair,
            on_returned=self._on_evaluated,
            on_errored=lambda e: self.report(e, "Evaluation failed"),
        )

    def find_safe_bits(self) -> None:
        if not self._ready():
            return
        applied = self.doc.scrubbed
        seed = applied.plan.seed if applied is not None else 0
        self.slot.start(
            safe_bits,
            self.doc.model,
            self.data.text().strip(),
            self._arch(),
            self.device.currentText(),
            seed,
            self.max_drop.value(),
            self.min_agree.value() / 100.0,
            name="safe-bits",
            on_progress=self._on_progress,
            on_returned=self._on_auto,
            on_errored=lambda e: self.report(e, "Safe-bits search failed"),
        )

    def _cancel(self) -> None:
        self.slot.cancel()
        self.notify("Cancelled.", "info")

    def _on_progress(self, permille: int, message: str) -> None:
        self.progress.setValue(permille)
        self.progress.setFormat(f"{message} %p%")

    def _on_busy(self, busy: bool) -> None:
        for w in (self.progress, self.cancel_btn):
            w.setVisible(busy)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.eval_btn.setEnabled(not busy)
        self.sweep_btn.setEnabled(not busy)

    # ------------------------------------------------------------------------------------------------ results
    def _reset(self) -> None:
        self.slot.cancel()
        self.pair = None
        self.auto = None
        self.doc.evaluation = None
        self.doc.safe_bits = None
        self.table.clearContents()
        self.table.setVisible(False)
        self.acc_curve.setData([], [])
        self.agree_curve.setData([], [])
        self.orig_line.setVisible(False)
        self.chosen_line.setVisible(False)
        self.plot.disableAutoRange()  # the last model's axes go with its curve
        self.plot.setXRange(0, 23, padding=0.02)
        self.plot.setYRange(0, 100, padding=0.02)
        self._show_idle_summary()
        self.show_recipe()

    def _show_idle_summary(self) -> None:
        """What to do next, from the state as it is now (no stale sentence from another model or scrub)."""
        if self.doc.model is None:
            text = "Open a model, choose evaluation data, then Evaluate."
        elif self.doc.scrubbed is not None:
            text = "A scrub is applied: Evaluate compares the original with the scrubbed weights."
        else:
            text = "Apply a scrub in the Scrub tab to compare; the original alone can be evaluated now."
        self.summary.setText(text)

    def _on_scrubbed_changed(self) -> None:
        if self.pair is not None and self.pair.scrubbed is not None:
            self.pair = AccuracyPair(self.pair.original, None)
            self.doc.evaluation = self.pair.original  # the report must not show the replaced scrub's accuracy
            self._show_pair(self.pair)
            self.summary.setText("The scrub changed: evaluate again to compare.")
        elif self.pair is None:
            self._show_idle_summary()

    def _row(self, row: int, label: str, r, agreement: str, kl: str) -> None:
        cells = [label, _pct(r.accuracy), agreement, kl, f"{r.samples:,} · {r.device_name}"]
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if c:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, c, item)

    def _show_pair(self, pair: AccuracyPair) -> None:
        self.table.clearContents()
        self.table.setVisible(True)
        self._row(0, "original", pair.original, "–", "–")
        s = pair.scrubbed
        if s is not None:
            self._row(1, "scrubbed", s, _pct(s.agreement), "–" if s.mean_kl is None else f"{s.mean_kl:.2e}")
            drop = 100 * (pair.original.accuracy - s.accuracy)
            verdict = "holds" if within_tolerance(drop, max_drop=self.max_drop.value()) else "dropped"
            color = P.CLEAN_COLOR.name() if verdict == "holds" else P.SUSPICIOUS_COLOR.name()
            self.summary.setText(
                f"Accuracy <b style='color:{color}'>{verdict}</b>: {drop:+.2f} points lost, "
                f"{_pct(s.agreement)} of predictions unchanged, mean KL {s.mean_kl or 0:.2e} nats "
                f"(on {s.device_name})."
            )
        else:
            self.summary.setText(f"Original accuracy {_pct(pair.original.accuracy)} on {pair.original.device_name}.")

    def _on_evaluated(self, pair: AccuracyPair) -> None:
        self.pair = pair
        self.doc.evaluation = pair.scrubbed or pair.original
        self._show_pair(pair)
        self.evaluated.emit(pair)

    def _on_auto(self, auto) -> None:
        self.auto = auto
        self.doc.safe_bits = auto
        pts = sorted(auto.points, key=lambda p: p.bits)
        xs = [p.bits for p in pts]
        self.acc_curve.setData(xs, [100 * p.accuracy for p in pts])
        self.agree_curve.setData(xs, [100 * p.agreement for p in pts])
        if pts:
            self.orig_line.setValue(100 * pts[0].original_accuracy)
            self.orig_line.setVisible(True)
        self.chosen_line.setValue(auto.bits)
        self.chosen_line.setVisible(True)
        self.plot.enableAutoRange()
        self.plot.autoRange(padding=0.08)
        per = ", ".join(f"{k} {v}" for k, v in auto.per_dtype.items() if v)
        self.summary.setText(
            f"Largest safe k for {auto.dtype}: <b>{auto.bits}</b> bits (within {auto.max_drop:g} points and "
            f"{100 * auto.min_agreement:g}% agreement) → per type: {per or 'none'}. Set the Scrub slider to it."
        )
        self.sweep_done.emit(auto)
