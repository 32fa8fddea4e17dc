"""Weights as an image: a tensor's values, signs or low bytes laid out as tiles of a chosen shape.

With correlated-value or sign encoding the training images are *in* the parameters, in order: cut the
parameter vector into blocks of 8×8 (or 28×28, 32×32) values, min–max scale each block and the reviewer sees
the digits. The tiles come from :mod:`inspector.core.measure.weights_image`, laid out in a worker
(:func:`inspector.qt.tasks.tile_image`); this panel only draws.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.core.measure.weights_image import theta_tensors
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import IMAGE_SOURCES, MAX_TILES, TileImage, tile_image
from inspector.qt.workers import TaskSlot, WorkerError

TILE_SHAPES = ["8×8", "16×16", "28×28", "32×32", "64×64"]
SCOPES = {
    "layer": "selected layer",
    "weights": "θ: all weight matrices in order (no biases)",
    "floats": "all float tensors in storage order",
}


def parse_tile(text: str) -> Optional[tuple[int, int]]:
    """ "28×28", "28x28" or "28" → (28, 28); ``None`` when it is not a sensible shape."""
    t = text.lower().replace("×", "x").replace(" ", "")
    try:
        parts = [int(p) for p in t.split("x")] if "x" in t else [int(t)] * 2
    except ValueError:
        return None
    if len(parts) != 2 or not all(1 <= p <= 512 for p in parts):
        return None
    return parts[0], parts[1]


class WeightsImagePanel(QWidget):
    image_shown = Signal(object)  # TileImage
    tile_changed = Signal(str)

    def __init__(self, doc: ModelDocument, tile: str = "8×8", parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.slot = TaskSlot(doc.pool, self)
        self.image: Optional[TileImage] = None

        self.scope = QComboBox()
        for key, text in SCOPES.items():
            self.scope.addItem(text, key)
        self.source = QComboBox()
        for key, text in IMAGE_SOURCES.items():
            self.source.addItem(text, key)
        self.tile = QComboBox(editable=True)
        self.tile.addItems(TILE_SHAPES)
        self.tile.setCurrentText(tile)
        self.tile.setToolTip("tile shape H×W (type your own, e.g. 12×12)")
        self.tile.setMinimumContentsLength(6)
        self.invert = QCheckBox("Invert")
        self.start = QSpinBox(minimum=0, maximum=10**9, singleStep=MAX_TILES, prefix="tile ")
        self.start.setKeyboardTracking(False)
        self.prev_btn = QPushButton("◀")
        self.next_btn = QPushButton("▶")
        for b in (self.prev_btn, self.next_btn):
            b.setFixedWidth(32)
        for combo in (self.scope, self.source):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(9)
        bar = QHBoxLayout()
        for label, w in (("Show", self.scope), ("as", self.source), ("tiles", self.tile)):
            bar.addWidget(QLabel(label))
            bar.addWidget(w, 2 if w is not self.tile else 0)
        bar.addWidget(self.invert)
        bar.addStretch(1)
        pager = QHBoxLayout()
        pager.addWidget(self.prev_btn)
        pager.addWidget(self.start)
        pager.addWidget(self.next_btn)

        self.info = QLabel("Select a layer.")
        P.mute(self.info)
        self.info.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        self.vb = self.view.addViewBox(lockAspect=True, invertY=True)
        self.vb.setMenuEnabled(False)
        self.img = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.img)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        info_row = QHBoxLayout()
        info_row.addWidget(self.info, 1)
        info_row.addLayout(pager)
        lay.addLayout(info_row)
        lay.addWidget(self.view, 1)

        self._debounce = QTimer(self, singleShot=True, interval=200)
        self._debounce.timeout.connect(self.refresh)
        for sig in (self.scope.currentIndexChanged, self.source.currentIndexChanged, self.invert.toggled):
            sig.connect(lambda *_: self._debounce.start())
        self.tile.currentTextChanged.connect(self._on_tile_changed)
        self.start.valueChanged.connect(lambda _v: self._debounce.start())
        self.prev_btn.clicked.connect(lambda: self.start.setValue(max(0, self.start.value() - MAX_TILES)))
        self.next_btn.clicked.connect(lambda: self.start.setValue(self.start.value() + MAX_TILES))
        self.scope.currentIndexChanged.connect(lambda _i: self.start.setValue(0))
        doc.selection_changed.connect(self._on_selection_changed)
        doc.opened.connect(self._on_opened)

    def clear(self) -> None:
        self.slot.cancel()
        self.image = None
        self.img.clear()
        self.info.setText("Select a layer.")

    def _on_opened(self, _model: object) -> None:
        """A new model: the old picture goes; a view of the whole model (θ, all floats) is laid out again."""
        self.clear()
        self.image = None
        self.start.blockSignals(True)
        self.start.setValue(0)
        self.start.blockSignals(False)
        if self.scope.currentData() != "layer":
            self._debounce.start()

    def _on_selection_changed(self, _name: str) -> None:
        if self.scope.currentData() == "layer":
            self.start.blockSignals(True)
            self.start.setValue(0)
            self.start.blockSignals(False)
            self._debounce.start()

    def _on_tile_changed(self, text: str) -> None:
        if parse_tile(text) is not None:
            self.tile_changed.emit(text)
            self._debounce.start()

    def names(self) -> list[str]:
        model = self.doc.model
        if model is None:
            return []
        scope = self.scope.currentData()
        if scope == "weights":  # θ of the correlated-value and sign attacks (Song et al.)
            return [t.name for t in theta_tensors(model)]
        if scope == "floats":  # where LSB encoding writes, element after element
            return [t.name for t in model.tensors if t.dtype.is_float]
        return [self.doc.selected] if self.doc.selected else []

    def set_view(self, scope: str, source: str, tile: str, invert: bool = False) -> None:
        """Set every control at once (the findings panel uses it to show what a finding points at)."""
        for combo, key in ((self.scope, scope), (self.source, source)):
            i = combo.findData(key)
            if i >= 0:
                combo.setCurrentIndex(i)
        self.tile.setCurrentText(tile)
        self.invert.setChecked(invert)
        self.start.setValue(0)
        self.refresh()

    def refresh(self) -> None:
        self._debounce.stop()
        names = self.names()
        shape = parse_tile(self.tile.currentText())
        if not names or shape is None or self.doc.model is None:
            self.slot.cancel()
            if shape is None:
                self.info.setText("Type a tile shape such as 8×8 or 28×28.")
            return
        self.info.setText("laying out tiles…")
        self.slot.start(
            tile_image,
            self.doc.model,
            names,
            self.source.currentData(),
            shape,
            self.start.value(),
            MAX_TILES,
            self.invert.isChecked(),
            name="tiles",
            on_returned=self._show,
            on_errored=self._on_error,
        )

    def _on_error(self, err: WorkerError) -> None:
        self.info.setText(f"Could not lay out the weights: {err.exception}")

    def _show(self, image: TileImage) -> None:
        first = self.image is None or self.image.rgb.shape != image.rgb.shape
        self.image = image
        self.img.setImage(image.rgb, levels=(0, 255))
        names = self.names()
        what = names[0] if len(names) == 1 else f"{len(names)} weight tensors"
        self.info.setText(f"{what}: {image.description}")
        if first:
            self.vb.autoRange(padding=0.01)
        self.next_btn.setEnabled(image.available > image.tiles)
        self.prev_btn.setEnabled(self.start.value() > 0)
        self.image_shown.emit(image)

    def shown_rgb(self) -> Optional[np.ndarray]:
        return None if self.image is None else self.image.rgb
