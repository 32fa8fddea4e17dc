"""The one sink for unexpected errors: a non-modal dialog with the message and the details."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout


class ErrorDialog(QDialog):
    """Reused for every unexpected error; showing a new one replaces the text (never a stack of modals)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model Inspector — error")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setVisible(False)
        self.details.setMinimumHeight(180)
        self.toggle = QPushButton("Show details")
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._on_toggle)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.toggle, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.hide)
        lay = QVBoxLayout(self)
        lay.addWidget(self.message)
        lay.addWidget(self.details, 1)
        lay.addWidget(buttons)
        self.resize(560, 160)

    def _on_toggle(self, on: bool) -> None:
        self.details.setVisible(on)
        self.toggle.setText("Hide details" if on else "Show details")
        self.adjustSize()

    def show_error(self, message: str, details: str = "") -> None:
        self.message.setText(message)
        self.details.setPlainText(details)
        self.toggle.setVisible(bool(details))
        self.show()
        self.raise_()
