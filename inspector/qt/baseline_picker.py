"""The baseline picker: the toolbar combo that chooses what each layer is compared with, and its matching label.

Choices: the built-in profile (or only the fitted Gaussian when none ships), reference models offered by the
caller (the demo's benign model), another model file or a profile file chosen in a dialog. The choice goes to
the document (:meth:`ModelDocument.set_baseline`), which loads and matches it in a worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QWidget

from inspector.qt import plotting as P
from inspector.qt.document import Baseline, ModelDocument
from inspector.qt.workers import WorkerError

MODEL_FILTER = "Models (*.safetensors *.json *.pt *.pth *.bin);;All files (*)"


class BaselinePicker(QObject):
    """Owns :attr:`combo` and :attr:`label` (the window puts them in its toolbar)."""

    def __init__(
        self,
        doc: ModelDocument,
        window: QWidget,
        last_dir: Callable[[], str],
        report: Callable[[WorkerError, str], None],
    ) -> None:
        super().__init__(window)
        self.doc = doc
        self.window = window
        self._last_dir = last_dir
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(24)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setToolTip("The reference each layer is compared with (histogram overlay, detectors)")
        self.label = QLabel()
        self.label.setStyleSheet("padding-left:6px")
        P.mute(self.label)
        self.fill()
        self.combo.activated.connect(self._on_combo_activated)
        doc.baseline_changed.connect(self.update_matching)
        doc.baseline_failed.connect(self._on_failed)
        self._report_error = report
        doc.baseline_progressed.connect(lambda pm, _m: self.label.setText(f"scanning baseline {pm / 10:.0f}%"))

    def _on_failed(self, err: WorkerError) -> None:
        self._report_error(err, "Could not read the baseline")
        self.label.setText("baseline unreadable")

    def fill(self, extra: Optional[list[tuple[str, str]]] = None) -> None:
        """The fixed choices, then ``extra`` reference models as ``(label, path)`` pairs."""
        from inspector.core.judge import default_profile_path

        c = self.combo
        c.clear()
        if default_profile_path().is_file():
            c.addItem("Built-in profile", None)
            c.setItemData(
                0,
                "ranges of trusted digits models per layer kind, plus each layer's fitted Gaussian",
                Qt.ItemDataRole.ToolTipRole,
            )
        else:
            c.addItem("Fitted Gaussian only", None)
        for label, path in extra or []:
            c.addItem(label, Baseline("model", path, label))
        c.addItem("Other model file…", "choose")
        c.addItem("Profile file…", "choose-profile")

    def _insert(self, text: str, b: Baseline) -> None:
        """Add a choice above the two "choose…" entries, select it and hand it to the document."""
        self.combo.insertItem(self.combo.count() - 2, text, b)
        self.combo.setCurrentIndex(self.combo.count() - 3)
        self.doc.set_baseline(b)

    def _on_combo_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        if data == "choose":
            self.choose_file()
            return
        if data == "choose-profile":
            path, _ = QFileDialog.getOpenFileName(self.window, "Baseline profile", self._last_dir(), "Profile (*.json)")
            if path:
                self._insert(f"profile {Path(path).name}", Baseline("profile", path, Path(path).name))
            return
        self.doc.set_baseline(data if isinstance(data, Baseline) else None)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Choose a baseline model", self._last_dir(), MODEL_FILTER)
        if path:
            self.set_path(path)

    def set_path(self, path: str, label: Optional[str] = None) -> None:
        """Use the model at ``path`` as the baseline (selecting it if it is offered already)."""
        label = label or Path(path).name
        for i in range(self.combo.count()):
            b = self.combo.itemData(i)
            if isinstance(b, Baseline) and b.path == path:
                self.combo.setCurrentIndex(i)
                self.doc.set_baseline(b)
                return
        self._insert(label, Baseline("model", path, label))

    def update_matching(self) -> None:
        d = self.doc
        if d.baseline is None or d.model is None:
            self.label.setText("")
            return
        n = len(d.matching)
        total = len(d.model.tensors)
        self.label.setText(f"{n} of {total} layers matched")
        self.label.setToolTip("\n".join(f"{a}  ↔  {b}" for a, b in d.matching.items()) or "no layer matched")
