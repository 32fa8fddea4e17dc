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

from inspector.core.formats import ModelFile
from inspector.core.pipeline import ScanOptions, ScanResult
from inspector.core.progress import CancelToken
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import Emit, Progress

AUTO = "(from the model's metadata)"
DATA_FILTER = "Data (*.npz *.safetensors);;All files (*)"
MODEL_FILTER = "Models (*.safetensors *.pt *.pth *.bin *.ckpt *.npz *.pkl *.joblib *.gguf *.onnx *.json);;All files (*)"


def _key(path: str) -> str:
    return "inputs/" + hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]


#: The inputs whose change needs a step that reads the model (the judge alone reads nothing).
FILE_STEPS = {
    "data": "capacity probe",
    "arch": "capacity probe",
    "train_sample": "training-sample match",
    "base": "fine-tune audit",
}


def changed_inputs(old: ScanOptions, new: ScanOptions) -> set[str]:
    """The inputs of :data:`FILE_STEPS` that differ between two scans' options."""
    return {k for k in FILE_STEPS if getattr(old, k) != getattr(new, k)}


def rejudge_words(changed: Optional[set[str]], ms: float) -> str:
    """What a re-judgement did, in a line: ``changed`` the inputs whose steps ran (``None``: the baseline or
    profile changed)."""
    if not changed:
        what = "with the new baseline or profile" if changed is None else "with these inputs"
        return f"Judged again {what} in {ms:.0f} ms from the stored measurement: the model file was not read."
    steps = sorted({FILE_STEPS[k] for k in changed})
    return (
        f"Judged again in {ms:.0f} ms: ran the {' and the '.join(steps)}; the streaming pass over the weights "
        "was not repeated."
    )


def judge_with_inputs(
    result: ScanResult,
    model: ModelFile,
    options: ScanOptions,
    *,
    progress: Progress,
    cancel: CancelToken,
    emit: Emit,
) -> ScanResult:
    """Judge a finished scan again with other inputs (a worker task). The streaming pass over the weights is not
    repeated: only the steps whose input changed run again (the capacity probe for new eval data or
    architecture, the training-sample match for a new sample, the fine-tune delta for a new base), the other
    inputs are kept, and :func:`inspector.core.pipeline.rejudge` judges the stored measurement. With no such
    change the model file is not read at all."""
    from inspector.core.pipeline import gather_inputs, rejudge

    assert result.measurement is not None and result.inputs is not None
    changed = changed_inputs(result.options, options)
    new_options = replace(
        result.options, data=options.data, arch=options.arch, train_sample=options.train_sample, base=options.base
    )
    inputs = result.inputs
    if changed:
        probe = bool(changed & {"data", "arch"})
        step = replace(  # only the steps whose input changed run
            new_options,
            train_sample=options.train_sample if "train_sample" in changed else None,
            base=options.base if "base" in changed else None,
            detectors=probe,
        )
        part = gather_inputs(model, result.measurement, step, references=inputs.references, cancel=cancel)
        inputs = replace(inputs, arch=options.arch, data=options.data, train_sample=options.train_sample)
        if "train_sample" in changed:
            inputs = replace(inputs, data_findings=part.data_findings, data_checked=part.data_checked)
        if probe:
            inputs = replace(inputs, probe=part.probe)
        if "base" in changed:
            inputs = replace(inputs, delta=part.delta)
    again = replace(result, options=new_options, inputs=inputs)
    return rejudge(again, references=inputs.references, cancel=cancel)


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
        self.apply_btn.setToolTip(
            "judge again with these inputs (the same judge as the command line): the weights are not read again;\n"
            "only what a changed input needs runs (eval data or architecture: the capacity probe; a training\n"
            "sample: its match against the weights; a base model: the fine-tune audit)"
        )
        self.apply_btn.clicked.connect(self.apply)
        self.note = QLabel(
            "Evaluation data and an architecture let the capacity-abuse probe run the model; a training sample "
            "lets the data-aware detectors look for it in the weights. Without them those families are not "
            "assessed and the verdict stays incomplete. A base model adds the fine-tune audit (W − base). "
            "Remembered for each model file."
        )
        self.note.setWordWrap(True)
        P.mute(self.note)
        self.status = QLabel()  # what the last "Judge with these inputs" (or baseline change) did
        self.status.setWordWrap(True)
        self._pending: Optional[set[str]] = None  # the inputs whose steps the running re-judgement runs
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.apply_btn)
        lay.addWidget(self.status)
        lay.addWidget(self.note)
        lay.addStretch(1)
        doc.opened.connect(self._on_opened)
        doc.rejudged.connect(self._on_rejudged)

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
        self.status.clear()
        self._pending = None
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
        """Remember the inputs for this model and judge it again with them: from the stored measurement when
        the scan has finished (only the steps a changed input needs run), else by scanning again."""
        if self.doc.path is None:
            return
        key = _key(self.doc.path)
        for k, v in zip(("data", "train", "arch", "base"), (*self.values(), self.base_value())):
            self.settings.setValue(f"{key}/{k}", v or "")
        self.settings.sync()
        self._push()
        result = self.doc.result
        if result is None or result.measurement is None or result.inputs is None or self.doc.scanning:
            self.status.setText("Scanning with these inputs (the scan had not finished).")
            self.doc.rescan()
        else:
            self._pending = changed_inputs(result.options, self.doc.options)
            steps = sorted({FILE_STEPS[k] for k in self._pending})
            self.status.setText(f"Judging again{': running the ' + ' and the '.join(steps) if steps else ''}…")
            self.doc.rejudge_with(judge_with_inputs, self.doc.model, self.doc.options)
        self.applied.emit()

    def _on_rejudged(self, _result: ScanResult, ms: float) -> None:
        self.status.setText(rejudge_words(self._pending, ms))
        self._pending = None
