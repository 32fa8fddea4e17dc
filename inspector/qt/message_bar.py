"""An inline message bar (Orange-style): expected problems show here, not in modal dialogs."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

_STYLES = {
    "error": "QFrame#MessageBar { background: #fde2e1; border: 1px solid #e4a09c; border-radius: 3px; }",
    "warning": "QFrame#MessageBar { background: #fff3d6; border: 1px solid #e8c77a; border-radius: 3px; }",
    "info": "QFrame#MessageBar { background: #e3eefb; border: 1px solid #9fbde6; border-radius: 3px; }",
}


class MessageBar(QFrame):
    """One message at a time with a level and a close button; hidden when there is nothing to say."""

    details_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self.level = ""
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setOpenExternalLinks(False)
        self.label.linkActivated.connect(lambda _l: self.details_requested.emit())
        close = QPushButton("✕")
        close.setFlat(True)
        close.setFixedWidth(26)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.clear)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.setVisible(False)

    def show_message(self, text: str, level: str = "info", details_link: bool = False) -> None:
        self.level = level
        self.setStyleSheet(_STYLES.get(level, _STYLES["info"]))
        link = " <a href='details'>Details…</a>" if details_link else ""
        self.label.setText(f"{html.escape(text, quote=False)}{link}")
        self.setVisible(True)

    def clear(self) -> None:
        self.level = ""
        self.label.setText("")
        self.setVisible(False)

    @property
    def text(self) -> str:
        return self.label.text()
