"""Inputs: what the judge needs besides the weights — evaluation data and an architecture (the capacity-abuse
probe runs the model), a sample of the training data (the data-aware detectors look for it in the weights).

The same options the command line takes (``--data``, ``--arch``, ``--train-sample``), given here and remembered
per model file. Without them the families they assess stay *not assessed* and the verdict *incomplete*.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument

AUTO = "(from the model's metadata)"
DATA_FILTER = "Data (*.npz *.safetensors);;All files (*)"
MODEL_FILTER = "Models (*.safetensors *.pt *.pth *.bin *.ckpt *.gguf *.onnx *.json);;All files (*)"


def _key(path: str) -> str:
    return "inputs/" + hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]


class InputsPanel(QWidget):
    """Three inputs and "Judge with these inputs"; remembered per model in the settings store."""

    applied = Signal()

    def __init__(
        self,
        doc: ModelDocument,
        settings: QSettings,
        last_dir: Callable[[], str],
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.doc = doc
        self.settings = settings
        self._last_dir = last_dir
        self.data = QLineEdit(placeholderText="evaluation data: .npz or .safetensors with inputs and labels")
        self.train = QLineEdit(placeholderText="training sample: .npz or .safetensors of training records")
        self.base = QLineEdit(placeholderText="base model: the model this one was fine-tuned from")
        self.base.setToolTip(
            "Fine-tune audit (the command line's --base): the change W − base of every shared layer is measured\n"
            "and judged too — an attack injected while fine-tuning lives in that change."
        )
        self.arch = QComboBox()
        self.arch.setEditable(True)
        self.arch.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.arch.setMinimumContentsLength(12)  # long recipe names must not widen the dock
        self.arch.addItem(AUTO)
        try:
            from inspector.core.evaluate import RECIPES

            self.arch.addItems(sorted(RECIPES))
        except ImportError:  # pragma: no cover - evaluation not installed
            pass
        self.arch.setToolTip(
            "Architecture recipe: a built-in name, or path/to/file.py:function — that runs YOUR OWN code.\n"
            "A model file never selects code to run."
        )
        form = QFormLayout()
        for label, edit, filt in (
            ("eval data", self.data, DATA_FILTER),
            ("training sample", self.train, DATA_FILTER),
            ("base model", self.base, MODEL_FILTER),
        ):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            browse = QPushButton("Browse…")
            browse.clicked.connect(lambda _=False, e=edit, t=label, f=filt: self._browse(e, t, f))
            row.addWidget(browse)
            form.addRow(label, row)
        form.addRow("architecture", self.arch)
        self.apply_btn = QPushButton("Judge with these inputs")
        self.apply_btn.setToolTip("scan again with these inputs (the same judge as the command line)")
        self.apply_btn.clicked.connect(self.apply)
        self.note = QLabel(
            "Evaluation data and an architecture let the capacity-abuse probe run the model; a training sample "
            "lets the data-aware detectors look for it in the weights. Without them those families are not "
            "assessed and the verdict stays incomplete. A base model adds the fine-tune audit (W − base). "
            "Remembered for each model file."
        )
        self.note.setWordWrap(True)
        P.mute(self.note)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.apply_btn)
        lay.addWidget(self.note)
        lay.addStretch(1)
        doc.opened.connect(self._on_opened)

    # -- values -------------------------------------------------------------------------------------------------
    def values(self) -> tuple[Optional[str], Optional[str], Optional[str]]:
        """(eval data, training sample, architecture), ``None`` where not given."""
        arch = self.arch.currentText().strip()
        return (
            self.data.text().strip() or None,
            self.train.text().strip() or None,
            None if not arch or arch == AUTO else arch,
        )

    def set_values(self, data: Optional[str], train: Optional[str], arch: Optional[str]) -> None:
        self.data.setText(data or "")
        self.train.setText(train or "")
        self.arch.setCurrentText(arch or AUTO)

    def base_value(self) -> Optional[str]:
        """The base model for the fine-tune audit, ``None`` when not given."""
        return self.base.text().strip() or None

    def _browse(self, edit: QLineEdit, title: str, filt: str = DATA_FILTER) -> None:
        start = edit.text() or (str(Path(self.doc.path).parent) if self.doc.path else self._last_dir())
        path, _ = QFileDialog.getOpenFileName(self, title.capitalize(), start, filt)
        if path:
            edit.setText(path)

    # -- document ------------------------------------------------------------------------------------------------
    def _on_opened(self, model) -> None:
        """Restore this model's inputs (before its scan starts, so the scan uses them)."""
        key = _key(str(model.path))
        stored = [self.settings.value(f"{key}/{k}") for k in ("data", "train", "arch")]
        if any(stored):
            self.set_values(*(str(v) if v else None for v in stored))
        base = self.settings.value(f"{key}/base")
        self.base.setText(str(base) if base else "")
        self._push()

    def _push(self) -> None:
        data, train, arch = self.values()
        self.doc.options = replace(self.doc.options, data=data, train_sample=train, arch=arch, base=self.base_value())

    def apply(self) -> None:
        """Remember the inputs for this model and judge it again with them."""
        if self.doc.path is None:
            return
        key = _key(self.doc.path)
        for k, v in zip(("data", "train", "arch", "base"), (*self.values(), self.base_value())):
            self.settings.setValue(f"{key}/{k}", v or "")
        self.settings.sync()
        self._push()
        self.doc.rescan()
        self.applied.emit()
