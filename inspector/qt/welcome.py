"""The welcome page shown until a model is open: open a file, try the demo, or pick a recent file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from inspector.qt import plotting as P


def demo_pair() -> Optional[tuple[str, str]]:
    """The bundled demo: the sign-encoding model and its benign baseline (``None`` when not installed)."""
    try:
        from inspector.core.resources import resource_path

        folder = Path(resource_path("demo"))
    except Exception:  # noqa: BLE001 - no demo shipped: the button is hidden
        return None
    model, base = folder / "mlp-sgn-l100.safetensors", folder / "mlp-benign-s0.safetensors"
    return (str(model), str(base)) if model.is_file() and base.is_file() else None


class WelcomePage(QWidget):
    open_requested = Signal()
    demo_requested = Signal()
    recent_requested = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Model Inspector</h2>")
        text = QLabel(
            "Find training data hidden in a trained model's weights (LSB, correlated value, sign encoding, "
            "capacity abuse — Song et al., CCS 2017), scrub it, check accuracy, export sanitized weights. "
            "Opening a file never runs code from it. Drop a model file or folder here, or:"
        )
        text.setWordWrap(True)
        self.open_btn = QPushButton("Open a model…  (Ctrl+O)")
        self.demo_btn = QPushButton("Try the demo: a sign-encoding model against a benign baseline")
        self.demo_btn.setVisible(demo_pair() is not None)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(200)
        self.recent_label = QLabel("Recent files")
        P.mute(self.recent_label)
        self.help_label = QLabel("F1: the guide to the current view · Help ▸ Keyboard shortcuts")
        P.mute(self.help_label)
        col = QVBoxLayout()
        col.addStretch(1)
        for w in (title, text, self.open_btn, self.demo_btn, self.recent_label, self.recent, self.help_label):
            col.addWidget(w)
        col.addStretch(2)
        row = QHBoxLayout(self)
        row.addStretch(1)
        row.addLayout(col, 3)
        row.addStretch(1)
        self.open_btn.clicked.connect(self.open_requested)
        self.demo_btn.clicked.connect(self.demo_requested)
        self.recent.itemActivated.connect(lambda item: self.recent_requested.emit(item.data(Qt.ItemDataRole.UserRole)))

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for p in paths:
            item = QListWidgetItem(f"{Path(p).name}  —  {Path(p).parent}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            item.setToolTip(p)
            self.recent.addItem(item)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))
