"""Weights as an image: a tensor's values, signs or low bytes laid out as tiles of a chosen shape.

With correlated-value or sign encoding the training images are *in* the parameters, in order: cut the
parameter vector into blocks of 8×8 (or 28×28, 32×32) values, min–max scale each block and the reviewer sees
the digits. The tiles come from :mod:`inspector.core.measure.weights_image`, laid out in a worker
(:func:`inspector.qt.tasks.tile_image`); this panel only draws.

It follows the *Showing* toggle (the scrubbed copy's weights once a scrub is applied) and the *Compare* mode:
side by side, the same page of tiles from both sides in two linked views; difference, ``plus − minus`` of the
source as shown (weight values, sign bytes, low bytes…) laid out in the same tiles, without per-tile rescaling,
on one diverging colour scale for the page (red above zero, blue below, the plot background at zero).
"""

from __future__ import annotations

from functools import partial
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

from inspector.core.formats import ModelFile
from inspector.core.measure import theta_tensors
from inspector.qt import plotting as P
from inspector.qt.compare import Pair, Side, diverging_rgb, layer_pair, model_pair
from inspector.qt.document import ModelDocument
from inspector.qt.tasks import IMAGE_SOURCES, MAX_TILES, TileImage, tile_image
from inspector.qt.tasks.compare import DiffImage, tile_difference, tile_pair
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
        #: side by side: the right-hand page; difference: the page of differences
        self.right_image: Optional[TileImage] = None
        self.diff: Optional[DiffImage] = None
        self.pair: Optional[Pair] = None

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
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.note.setStyleSheet(f"color: {P.WARNING_COLOR.name()}")
        self.view = pg.GraphicsLayoutWidget()
        self.left_title = self.view.addLabel("", row=0, col=0)
        self.right_title = self.view.addLabel("", row=0, col=1)
        self.vb = self.view.addViewBox(row=1, col=0, lockAspect=True, invertY=True)
        self.vb.setMenuEnabled(False)
        self.img = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.img)
        self.vb_right = self.view.addViewBox(row=1, col=1, lockAspect=True, invertY=True)
        self.vb_right.setMenuEnabled(False)
        self.vb_right.setXLink(self.vb)
        self.vb_right.setYLink(self.vb)
        self.img_right = pg.ImageItem(axisOrder="row-major")
        self.vb_right.addItem(self.img_right)
        # the difference's colour scale: −v … 0 … +v
        self.scale_row = QWidget()
        sr = QHBoxLayout(self.scale_row)
        sr.setContentsMargins(0, 0, 0, 0)
        self.scale_lo, self.scale_bar, self.scale_hi = QLabel(), QLabel(), QLabel()
        self.scale_bar.setFixedSize(180, 12)
        self.scale_caption = QLabel()
        self.scale_caption.setWordWrap(True)  # a long caption must not widen the tab (and squeeze the docks)
        P.mute(self.scale_caption)
        for wdg in (self.scale_lo, self.scale_bar, self.scale_hi):
            sr.addWidget(wdg)
        sr.addWidget(self.scale_caption, 1)
        self.scale_row.setVisible(False)
        self._set_side(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        info_row = QHBoxLayout()
        info_row.addWidget(self.info, 1)
        info_row.addLayout(pager)
        lay.addLayout(info_row)
        lay.addWidget(self.note)
        lay.addWidget(self.scale_row)
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
        doc.view_changed.connect(self._debounce.start)
        doc.scrubbed_changed.connect(self._debounce.start)

    def clear(self) -> None:
        self.slot.cancel()
        self.image = self.right_image = self.diff = None
        self.pair = None
        self.img.clear()
        self.img_right.clear()
        self.info.setText("Select a layer.")

    def _set_side(self, on: bool) -> None:
        """Two views (side by side) or one; titles only when there are two sides or a difference."""
        layout = self.view.ci
        if on and self.vb_right not in layout.items:
            layout.addItem(self.right_title, row=0, col=1)
            layout.addItem(self.vb_right, row=1, col=1)
        elif not on and self.vb_right in layout.items:
            layout.removeItem(self.vb_right)
            layout.removeItem(self.right_title)
        self.vb_right.setVisible(on)
        self.right_title.setVisible(on)

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

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

    def names(self, model: Optional[ModelFile] = None) -> list[str]:
        """The tensors shown, in order, of ``model`` (default: the state shown, original or scrubbed)."""
        model = model if model is not None else self.doc.view_model
        if model is None:
            return []
        scope = self.scope.currentData()
        if scope == "weights":  # θ of the correlated-value and sign attacks (Song et al.)
            return [t.name for t in theta_tensors(model)]
        if scope == "floats":  # where LSB encoding writes, element after element
            return [t.name for t in model.tensors if t.dtype.is_float]
        return [self.doc.selected] if self.doc.selected and self.doc.selected in model else []

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
        shape = parse_tile(self.tile.currentText())
        if shape is None:
            self.slot.cancel()
            self.info.setText("Type a tile shape such as 8×8 or 28×28.")
            return
        if self.doc.compare_mode != "off" and self.doc.model is not None:
            pair = self._pair()
            if isinstance(pair, Pair):
                self._say("")
                self._refresh_pair(pair, shape)
                return
            self._say(pair + f" Showing the {self.doc.view_label} weights alone.")
        else:
            self._say("")
        self.pair = None
        names = self.names()
        if not names or self.doc.view_model is None:
            self.slot.cancel()
            if self.doc.selected and self.scope.currentData() == "layer" and self.doc.shows_scrubbed:
                self.info.setText(f"{self.doc.selected} is not in the scrubbed copy (the export policy left it out).")
            return
        self.info.setText("laying out tiles…")
        self.slot.start(
            tile_image,
            self.doc.view_model,
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

    def _pair(self) -> Pair | str:
        if self.scope.currentData() == "layer":
            return layer_pair(self.doc, self.doc.selected)
        return model_pair(self.doc)

    def _side_names(self, side: Side) -> list[str]:
        return [side.name] if self.scope.currentData() == "layer" else self.names(side.model)

    def _refresh_pair(self, pair: Pair, shape: tuple[int, int]) -> None:
        left, right = self._side_names(pair.left), self._side_names(pair.right)
        if not left or not right:
            self.slot.cancel()
            self.info.setText("Select a layer.")
            return
        self.info.setText("laying out both sides…")
        common = (self.source.currentData(), shape, self.start.value(), MAX_TILES)
        if self.doc.compare_mode == "side":
            self.slot.start(
                tile_pair,
                pair.left.model,
                left,
                pair.right.model,
                right,
                *common,
                self.invert.isChecked(),
                name="tiles",
                on_returned=partial(self._show_side, pair),
                on_errored=self._on_error,
            )
        else:
            plus, minus = (left, right) if pair.plus is pair.left else (right, left)
            self.slot.start(
                tile_difference,
                pair.plus.model,
                plus,
                pair.minus.model,
                minus,
                *common,
                name="tiles",
                on_returned=partial(self._show_diff, pair),
                on_errored=self._on_error,
            )

    def _titles(self, left: str, right: str) -> None:
        color = P.PLOT_FOREGROUND.name()
        self.left_title.setText(left, color=color)
        self.right_title.setText(right, color=color)

    def _show_side(self, pair: Pair, images: tuple[TileImage, TileImage]) -> None:
        a, b = images
        first = self.pair is None or self.diff is not None or self.image is None or self.image.rgb.shape != a.rgb.shape
        self.pair, self.image, self.right_image, self.diff = pair, a, b, None
        self.scale_row.setVisible(False)
        self._set_side(True)
        self.img.setImage(a.rgb, levels=(0, 255))
        self.img_right.setImage(b.rgb, levels=(0, 255))
        self._titles(
            f"<span style='color:{pair.left.color.name()}'>■</span> {pair.left.label}",
            f"<span style='color:{pair.right.color.name()}'>■</span> {pair.right.label}",
        )
        self.info.setText(f"{pair.left.label} | {pair.right.label}: {a.description}")
        if first:
            self.vb.autoRange(padding=0.01)
        self.next_btn.setEnabled(a.available > a.tiles)
        self.prev_btn.setEnabled(self.start.value() > 0)
        self.image_shown.emit(a)

    def _show_diff(self, pair: Pair, d: DiffImage) -> None:
        first = self.diff is None or self.diff.delta.shape != d.delta.shape
        self.pair, self.diff, self.right_image = pair, d, None
        self._set_side(False)
        rgb = diverging_rgb(d.delta, d.vmax)
        gaps = ~np.isfinite(d.delta)
        rgb[gaps] = (70, 78, 96)  # the tile gaps: the same slate as the other pictures
        self.img.setImage(rgb, levels=(0, 255))
        self._titles(pair.diff_label, "")
        self._show_scale(pair, d.vmax)
        self.info.setText(f"{pair.diff_label}: {d.description}")
        if first:
            self.vb.autoRange(padding=0.01)
        self.next_btn.setEnabled(d.available > d.tiles)
        self.prev_btn.setEnabled(self.start.value() > 0)

    def _show_scale(self, pair: Pair, vmax: float) -> None:
        mid = P.PLOT_BACKGROUND.name()
        self.scale_bar.setStyleSheet(
            "background: qlineargradient(x1:0, y1:0, x2:1, y2:0, "
            f"stop:0 {P.DIFF_NEG.name()}, stop:0.5 {mid}, stop:1 {P.DIFF_POS.name()}); border: 1px solid #777"
        )
        self.scale_lo.setText(f"−{vmax:.3g}")
        self.scale_hi.setText(f"+{vmax:.3g}")
        self.scale_caption.setText(
            f"red: {pair.plus.label} larger · blue: {pair.minus.label} larger · one scale for the page"
            if vmax > 0
            else "no value differs on this page: every tile is 0"
        )
        self.scale_row.setVisible(True)

    def _on_error(self, err: WorkerError) -> None:
        self.info.setText(f"Could not lay out the weights: {err.exception}")

    def _show(self, image: TileImage) -> None:
        first = (
            self.image is None
            or self.image.rgb.shape != image.rgb.shape
            or self.diff is not None
            or self.right_image is not None
        )
        self.image, self.right_image, self.diff = image, None, None
        self._set_side(False)
        self.scale_row.setVisible(False)
        self._titles("", "")
        self.img.setImage(image.rgb, levels=(0, 255))
        names = self.names()
        what = names[0] if len(names) == 1 else f"{len(names)} weight tensors"
        state = " (scrubbed copy)" if self.doc.shows_scrubbed else ""
        self.info.setText(f"{what}{state}: {image.description}")
        if first:
            self.vb.autoRange(padding=0.01)
        self.next_btn.setEnabled(image.available > image.tiles)
        self.prev_btn.setEnabled(self.start.value() > 0)
        self.image_shown.emit(image)

    def shown_rgb(self) -> Optional[np.ndarray]:
        return None if self.image is None else self.image.rgb
