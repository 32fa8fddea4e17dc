"""Compare, the way Weights & Biases compares runs: every view shows two states side by side or their difference.

Two comparisons exist. *Original vs scrubbed* puts the opened model next to the applied scrub (the scrubbed
copy is the one that changed: differences are scrubbed − original). *Model vs baseline* puts the model, in the
state shown (original or scrubbed), next to its baseline model's matched layer (differences are model −
baseline). The document holds the choice (``compare_mode``, ``compare_target``) and the global *Showing:
Original | Scrubbed* toggle (``showing``); this module resolves them into the two sides a view draws
(:func:`layer_pair`), does the small arithmetic the views share (:func:`count_difference`,
:func:`finding_changes`, :func:`diverging_rgb`), and builds the toolbar and menu that set them
(:func:`install`). When a comparison cannot be drawn, :func:`layer_pair` says why in a sentence the view shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
from PySide6.QtGui import QColor

from inspector.core.formats import ModelFile
from inspector.core.judge import Finding
from inspector.core.measure import TensorScan
from inspector.qt import plotting as P

if TYPE_CHECKING:
    from inspector.qt.document import ModelDocument

MODES = {"off": "Off", "side": "Side by side", "diff": "Difference"}
TARGETS = {"scrub": "original vs scrubbed", "baseline": "model vs baseline"}


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a label, the model file, the tensor's name in it and its scan."""

    label: str
    model: ModelFile
    name: str
    scan: Optional[TensorScan]
    color: QColor


@dataclass(frozen=True)
class Pair:
    """Two sides of a layer: ``left``/``right`` as drawn side by side; a difference is ``plus − minus``."""

    left: Side
    right: Side
    plus: Side
    minus: Side
    target: str

    @property
    def diff_label(self) -> str:
        return f"{self.plus.label} − {self.minus.label}"


def side_color(label: str) -> QColor:
    if label.startswith("baseline"):
        return P.BASELINE_COLOR
    return P.SCRUBBED_COLOR if label == "scrubbed" else P.MODEL_COLOR


def compare_off_reason(doc: ModelDocument) -> Optional[str]:
    """Why the chosen comparison cannot be drawn for any layer (``None``: it can, layer by layer)."""
    if doc.compare_mode == "off" or doc.model is None:
        return None
    if doc.compare_target == "scrub":
        if doc.scrubbed is None:
            return "Nothing to compare yet: apply a scrub (Scrub tab) to compare the original with the scrubbed copy."
        if doc.scrubbed_model is None:
            return "The scrubbed copy's temporary file is gone: apply the scrub again to compare."
        return None
    b = doc.baseline
    if b is None or b.kind != "model":
        what = {None: "the built-in profile", "profile": "a profile"}.get(b.kind if b else None, "a Gaussian reference")
        return (
            f"The baseline is {what}: it has no weights to compare layer by layer. Pick a baseline model file "
            "in the toolbar."
        )
    if doc.baseline_model is None or not doc.baseline_scans:
        return "The baseline model is still being read; the comparison appears when its scan is done."
    return None


def layer_pair(doc: ModelDocument, name: Optional[str]) -> Union[Pair, str]:
    """The two sides of layer ``name`` under the document's comparison, or a sentence saying why there are none."""
    why = compare_off_reason(doc)
    if why is not None:
        return why
    if doc.compare_mode == "off":
        return "Compare is off."
    if not name or doc.model is None or name not in doc.model:
        return "Select a layer to compare."
    if doc.compare_target == "scrub":
        sm = doc.scrubbed_model
        assert sm is not None
        if name not in sm:
            return f"{name} is not in the scrubbed copy: the export policy left it out (only float weights are kept)."
        orig = Side("original", doc.model, name, doc.scans.get(name), P.MODEL_COLOR)
        scr = Side("scrubbed", sm, name, doc.scrubbed_scans.get(name), P.SCRUBBED_COLOR)
        return Pair(orig, scr, plus=scr, minus=orig, target="scrub")
    other = doc.matching.get(name)
    bm = doc.baseline_model
    if other is None or bm is None:
        return f"No layer of the baseline matches {name} (by name, else by shape and order)."
    model = doc.view_model
    if model is None or name not in model:
        return f"{name} is not in the scrubbed copy: the export policy left it out."
    label = doc.baseline.label if doc.baseline is not None and doc.baseline.label else "baseline"
    me = Side(doc.view_label, model, name, doc.view_scans.get(name), side_color(doc.view_label))
    base = Side(f"baseline {P.short_name(label, 24)}", bm, other, doc.baseline_scans.get(other), P.BASELINE_COLOR)
    return Pair(me, base, plus=me, minus=base, target="baseline")


def model_pair(doc: ModelDocument) -> Union[Pair, str]:
    """The two whole models under the document's comparison (sides with ``name=""`` and no scan), for views of
    many tensors at once (θ, all floats), or a sentence saying why there are none."""
    why = compare_off_reason(doc)
    if why is not None:
        return why
    if doc.compare_mode == "off" or doc.model is None:
        return "Compare is off."
    if doc.compare_target == "scrub":
        sm = doc.scrubbed_model
        assert sm is not None
        orig = Side("original", doc.model, "", None, P.MODEL_COLOR)
        scr = Side("scrubbed", sm, "", None, P.SCRUBBED_COLOR)
        return Pair(orig, scr, plus=scr, minus=orig, target="scrub")
    model, bm = doc.view_model, doc.baseline_model
    if model is None or bm is None:
        return "The baseline model is still being read."
    label = doc.baseline.label if doc.baseline is not None and doc.baseline.label else "baseline"
    me = Side(doc.view_label, model, "", None, side_color(doc.view_label))
    base = Side(f"baseline {P.short_name(label, 24)}", bm, "", None, P.BASELINE_COLOR)
    return Pair(me, base, plus=me, minus=base, target="baseline")


#: the judge's inputs, as the Inputs panel and the toolbar name them
_INPUTS = (
    ("baselines", "the baseline model"),
    ("profile", "the baseline profile"),
    ("data", "the evaluation data"),
    ("arch", "the architecture"),
    ("train_sample", "the training sample"),
    ("base", "the base model"),
)


def inputs_missing(original: object, scrubbed: object) -> list[str]:
    """The judge's inputs the original's scan had and the scrubbed copy's did not (``ScanOptions`` of each):
    a verdict after scrubbing judged without them compares unlike with unlike, and the views say so."""
    out = []
    for key, label in _INPUTS:
        a, b = getattr(original, key, None), getattr(scrubbed, key, None)
        if a and a != b:
            out.append(label)
    return out


# ------------------------------------------------------------------------------------------------ arithmetic
@dataclass(frozen=True)
class CountDifference:
    """``plus − minus`` counts per bin on shared edges; ``scale`` is the factor the minus counts were multiplied
    by so that both hold the same number of elements (1.0 when they already do)."""

    edges: np.ndarray
    delta: np.ndarray
    scale: float
    plus_total: int
    minus_total: int

    @property
    def moved(self) -> float:
        """Elements that changed bin: half the absolute differences (each move leaves one bin, enters another)."""
        return float(np.abs(self.delta).sum()) / 2.0


def count_difference(edges: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> CountDifference:
    """The difference of two histograms on the same ``edges``; unequal totals compare shapes (minus rescaled)."""
    p = np.asarray(plus, dtype=np.float64)
    m = np.asarray(minus, dtype=np.float64)
    if p.shape != m.shape or len(edges) != p.size + 1:
        raise ValueError("histograms on different edges cannot be subtracted")
    pt, mt = float(p.sum()), float(m.sum())
    scale = pt / mt if mt and pt != mt else 1.0
    return CountDifference(np.asarray(edges), p - m * scale, scale, int(pt), int(mt))


@dataclass(frozen=True)
class FindingChanges:
    """Findings of the original and the scrubbed copy matched by (layer, detector, attack)."""

    gone: tuple[Finding, ...]  # in the original only: the scrub removed them
    new: tuple[Finding, ...]  # in the scrubbed copy only
    kept: tuple[tuple[Finding, Finding], ...]  # (original, scrubbed)


def finding_changes(before: tuple[Finding, ...], after: tuple[Finding, ...]) -> FindingChanges:
    """Which findings disappeared, appeared or stayed after the scrub (same layer, detector and attack)."""

    def key(f: Finding) -> tuple[str, str, str]:
        return (f.tensor or "", f.detector, f.attack)

    pool: dict[tuple[str, str, str], list[Finding]] = {}
    for f in after:
        pool.setdefault(key(f), []).append(f)
    gone: list[Finding] = []
    kept: list[tuple[Finding, Finding]] = []
    for f in before:
        match = pool.get(key(f))
        if match:
            kept.append((f, match.pop(0)))
        else:
            gone.append(f)
    new = [f for f in after if any(f is g for g in pool.get(key(f), []))]
    return FindingChanges(tuple(gone), tuple(new), tuple(kept))


def diverging_rgb(delta: np.ndarray, vmax: float) -> np.ndarray:
    """``delta`` as colours of a diverging map: blue below zero, red above, the plot background at zero
    (white on a light palette, near black on a dark one), saturated at ±``vmax``. NaN is grey."""
    d = np.asarray(delta, dtype=np.float64)
    t = np.clip(d / vmax, -1.0, 1.0) if vmax > 0 else np.zeros_like(d)
    t = np.nan_to_num(t, nan=0.0)

    def channels(c: QColor) -> np.ndarray:
        return np.array([c.red(), c.green(), c.blue()], dtype=np.float64)

    mid, pos, neg = channels(P.PLOT_BACKGROUND), channels(P.DIFF_POS), channels(P.DIFF_NEG)
    a = np.abs(t)[..., None]
    rgb = np.where((t >= 0)[..., None], mid + (pos - mid) * a, mid + (neg - mid) * a)
    out = np.rint(rgb).astype(np.uint8)
    nan = np.isnan(d)
    if nan.any():
        out[nan] = (128, 128, 128)
    return out


# ------------------------------------------------------------------------------------------------ controls
def install(window) -> CompareControls:
    """Build the *Showing* toggle and the *Compare* selector into ``window``'s toolbar and menu bar."""
    c = CompareControls(window.doc, window)
    c.attach(window)
    return c


class CompareControls:
    """The global controls: *Showing: Original | Scrubbed* (Ctrl+T toggles), *Compare: Off | Side by side |
    Difference* (Ctrl+K cycles) and its target (original vs scrubbed / model vs baseline, Ctrl+Shift+K)."""

    def __init__(self, doc: ModelDocument, parent) -> None:
        from PySide6.QtGui import QAction, QActionGroup, QKeySequence
        from PySide6.QtWidgets import QComboBox

        self.doc = doc
        self.show_group = QActionGroup(parent)
        self.show_group.setExclusive(True)
        self.original_action = QAction("&Original", parent, checkable=True, checked=True)
        self.original_action.setToolTip("every view shows the model as it was opened")
        self.scrubbed_action = QAction("&Scrubbed", parent, checkable=True)
        self.scrubbed_action.setToolTip("every view shows the applied scrub (apply one in the Scrub tab)")
        for a in (self.original_action, self.scrubbed_action):
            self.show_group.addAction(a)
        self.toggle_action = QAction("&Toggle original ↔ scrubbed", parent, shortcut=QKeySequence("Ctrl+T"))
        self.toggle_action.setToolTip("switch every view between the original and the scrubbed copy")
        self.mode_actions: dict[str, QAction] = {}
        self.mode_group = QActionGroup(parent)
        for key, text in MODES.items():
            act = QAction(f"Compare: {text}", parent, checkable=True, checked=key == "off")
            act.triggered.connect(lambda _=False, k=key: self.doc.set_compare(mode=k))
            self.mode_group.addAction(act)
            self.mode_actions[key] = act
        self.cycle_action = QAction("&Next compare mode", parent, shortcut=QKeySequence("Ctrl+K"))
        self.cycle_action.setToolTip("off → side by side → difference")
        self.target_action = QAction("Compare &with baseline / scrub", parent, shortcut=QKeySequence("Ctrl+Shift+K"))
        self.target_action.setToolTip("switch what is compared: original vs scrubbed, or model vs baseline")
        self.mode_combo = QComboBox()
        for key, text in MODES.items():
            self.mode_combo.addItem(text, key)
        self.mode_combo.setToolTip("Compare in every view: two states side by side, or their difference (Ctrl+K)")
        self.target_combo = QComboBox()
        for key, text in TARGETS.items():
            self.target_combo.addItem(text, key)
        self.target_combo.setToolTip(
            "original vs scrubbed: the opened model and the applied scrub (difference: scrubbed − original)\n"
            "model vs baseline: the model as shown and the baseline model's matched layer (model − baseline)"
        )
        self.original_action.triggered.connect(lambda: self.doc.set_showing("original"))
        self.scrubbed_action.triggered.connect(lambda: self.doc.set_showing("scrubbed"))
        self.toggle_action.triggered.connect(self.doc.toggle_showing)
        self.cycle_action.triggered.connect(self.cycle_mode)
        self.target_action.triggered.connect(self.cycle_target)
        self.mode_combo.activated.connect(lambda i: self.doc.set_compare(mode=self.mode_combo.itemData(i)))
        self.target_combo.activated.connect(lambda i: self.doc.set_compare(target=self.target_combo.itemData(i)))
        doc.view_changed.connect(self.sync)
        doc.scrubbed_changed.connect(self.sync)
        doc.baseline_changed.connect(self.sync)
        doc.opened.connect(lambda _m: self.sync())
        self.sync()

    def attach(self, window) -> None:
        from PySide6.QtWidgets import QLabel, QMenu

        window.addToolBarBreak()  # a row of its own: beside the main toolbar it would widen the window
        tb = window.addToolBar("Compare")
        tb.setObjectName("toolbar_compare")
        tb.setMovable(False)
        tb.addWidget(QLabel(" Showing "))
        tb.addAction(self.original_action)
        tb.addAction(self.scrubbed_action)
        tb.addSeparator()
        tb.addWidget(QLabel(" Compare "))
        tb.addWidget(self.mode_combo)
        tb.addWidget(self.target_combo)
        self.toolbar = tb
        menu = QMenu("&Compare", window)
        for a in (self.original_action, self.scrubbed_action, self.toggle_action):
            menu.addAction(a)
        menu.addSeparator()
        for a in self.mode_actions.values():
            menu.addAction(a)
        menu.addAction(self.cycle_action)
        menu.addAction(self.target_action)
        self.menu = menu
        mb = window.menuBar()
        help_menu = next((a for a in mb.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:
            mb.insertMenu(help_menu, menu)
        else:
            mb.addMenu(menu)

    def cycle_mode(self) -> None:
        keys = list(MODES)
        self.doc.set_compare(mode=keys[(keys.index(self.doc.compare_mode) + 1) % len(keys)])

    def cycle_target(self) -> None:
        self.doc.set_compare(target="baseline" if self.doc.compare_target == "scrub" else "scrub")

    def sync(self) -> None:
        """The controls as the document says (they never hold state of their own)."""
        d = self.doc
        has = d.scrubbed is not None
        self.scrubbed_action.setEnabled(has)
        self.toggle_action.setEnabled(has)
        self.scrubbed_action.setToolTip(
            "every view shows the applied scrub (Ctrl+T toggles)"
            if has
            else "no scrub applied: apply one in the Scrub tab"
        )
        (self.scrubbed_action if d.shows_scrubbed else self.original_action).setChecked(True)
        self.mode_actions[d.compare_mode].setChecked(True)
        for combo, key in ((self.mode_combo, d.compare_mode), (self.target_combo, d.compare_target)):
            combo.blockSignals(True)
            combo.setCurrentIndex(combo.findData(key))
            combo.blockSignals(False)
        self.target_combo.setEnabled(d.compare_mode != "off")
