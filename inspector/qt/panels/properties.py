"""Properties: what else is in the model besides its tensors — format, files, header metadata, a Hugging Face
folder's ``config.json``, the file's SHA-256 once scanned, tensor counts per dtype, and code the file would run.

Everything is read without running anything: ``config.json`` is parsed as JSON (at most 1 MB); metadata values
are shown as text, long ones cut with their length.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument

#: longest metadata value shown in full; longer ones are cut and their length given
MAX_VALUE = 200
MAX_CONFIG_BYTES = 1 << 20


def hf_config(path: Path) -> Optional[dict[str, Any]]:
    """The ``config.json`` beside a model file or in its folder (a Hugging Face checkpoint), parsed as JSON."""
    folder = path if path.is_dir() else path.parent
    cfg = folder / "config.json"
    try:
        if not cfg.is_file() or cfg.stat().st_size > MAX_CONFIG_BYTES:
            return None
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else f"{text[:MAX_VALUE]}… ({len(text):,} characters)"


class PropertiesPanel(QWidget):
    """A two-column tree of sections: File, Metadata, config.json, Tensors, Code on load."""

    def __init__(self, doc: ModelDocument, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.hint = QLabel("Open a model to see its format, metadata and configuration.")
        self.hint.setWordWrap(True)
        P.mute(self.hint)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["property", "value"])
        self.tree.setColumnWidth(0, 170)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setWordWrap(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.hint)
        lay.addWidget(self.tree, 1)
        doc.opened.connect(lambda _m: self.refresh())
        doc.scan_finished.connect(lambda _r: self.refresh())

    def section(self, title: str) -> Optional[QTreeWidgetItem]:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.text(0) == title:
                return item
        return None

    def values(self, title: str) -> dict[str, str]:
        """The rows of one section as a dict (tests, exports)."""
        item = self.section(title)
        if item is None:
            return {}
        rows = (item.child(i) for i in range(item.childCount()))
        return {c.text(0): c.text(1) for c in rows if c is not None}

    def refresh(self) -> None:
        self.tree.clear()
        m = self.doc.model
        if m is None:
            self.hint.setVisible(True)
            return
        self.hint.setVisible(False)
        path = Path(m.path)
        files = list(m.files) or [path]
        size = sum(f.stat().st_size for f in files if f.is_file())
        rows = [
            ("format", m.format),
            ("path", str(path)),
            ("files", f"{len(files)}: " + ", ".join(f.name for f in files[:4]) + (" …" if len(files) > 4 else "")),
            ("size", f"{size:,} bytes"),
        ]
        r = self.doc.result
        sha = getattr(getattr(r, "model", None), "sha256", None) if r is not None else None
        rows.append(("SHA-256", sha or ("computed by the scan…" if self.doc.scanning else "not computed")))
        self._add("File", rows)
        if r is not None and r.coverage:  # every byte of the file by class, and the checks that read them
            total = max(1, sum(c.bytes for c in r.coverage))
            self._add(
                "Coverage",
                [(c.cls, f"{100 * c.bytes / total:.1f}% · {c.bytes:,} bytes · {c.checks}") for c in r.coverage],
            )
        self._add("Metadata", [(k, _short(v)) for k, v in sorted(m.metadata.items())] or [("(none)", "")])
        cfg = hf_config(path)
        if cfg is not None:
            self._add("config.json", [(k, _short(v)) for k, v in cfg.items()])
        dtypes = Counter(t.dtype.name for t in m.tensors)
        params = sum(t.numel for t in m.tensors)
        self._add(
            "Tensors",
            [("count", f"{len(m.tensors):,}"), ("parameters", f"{params:,}")]
            + [(f"dtype {k}", f"{v:,} tensors") for k, v in dtypes.most_common()],
        )
        if m.threats:
            self._add("Code on load (never run)", [(str(i + 1), str(t)) for i, t in enumerate(m.threats)])
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        self.tree.setColumnWidth(0, min(self.tree.columnWidth(0) + 12, 300))

    def _add(self, title: str, rows: list[tuple[str, str]]) -> None:
        top = QTreeWidgetItem([title, ""])
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        for key, value in rows:
            child = QTreeWidgetItem([key, value])
            child.setToolTip(1, value)
            top.addChild(child)
        self.tree.addTopLevelItem(top)
