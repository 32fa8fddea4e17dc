"""Properties: what else is in the model besides its tensors — format, files, header metadata, a Hugging Face
folder's ``config.json``, the file's SHA-256 once scanned, every byte of the file by class, the bytes no tensor
shows, tensor counts per dtype, and code the file would run.

It follows the app's Showing toggle: with a scrub applied and Showing: Scrubbed, every section describes the
scrubbed copy (its file, hashes, coverage, metadata), with Showing: Original the original.

Everything is read without running anything: ``config.json`` is parsed as JSON (at most 1 MB); metadata values
are shown as text, long ones cut with their length.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument

#: longest metadata value shown in full; longer ones are cut and their length given
MAX_VALUE = 200
MAX_CONFIG_BYTES = 1 << 20
#: title of the section that lists the bytes no tensor shows
HIDDEN_SECTION = "Bytes no tensor shows"

#: What each kind of region is (``HiddenScan.kind``), for the rows' tooltips.
HIDDEN_KINDS = {
    "storage": "storage bytes outside every tensor view (torch.save writes a view's whole buffer), or the "
    "elements a strided view skips",
    "member": "an archive member nothing references, bytes after the last storage, a GGUF gap or padding, or "
    "ONNX external data no initializer points at",
    "pickle": "a byte string, long string or number list the checkpoint holds, or a literal its pickle builds "
    "and drops",
    "header": "whitespace or escapes in the safetensors header that no JSON writer emits",
    "field": "an ONNX doc string, a field onnx.proto does not define, or a long metadata value",
    "file": "a file beside the model in its folder",
}
HIDDEN_WHY = (
    "These bytes ship with the file, but no tensor shows them: no view draws them and low-bit scrubbing does "
    "not touch them. Exporting through Scrub writes only the tensors, so none of them is carried over."
)


def hidden_row(h: Any) -> tuple[str, str, str]:
    """One region (a ``HiddenScan`` of ``Measurement.hidden``) as ``(where, text, tooltip)``; the text is two
    lines: its kind and where it is, then its bytes, entropy, zeros and how well it compresses."""
    if h.read:
        parts = [f"{h.nbytes:,} bytes", f"{h.entropy:.2f} bits/byte", f"{h.zero_fraction:.0%} zeros"]
        if math.isfinite(h.compress):
            parts.append(f"zlib {h.compress:.0%}")
    else:
        parts = [f"{h.nbytes:,} bytes", "not read (only their count is known)"]
    text = f"{h.kind} · {h.where}\n" + " · ".join(parts)
    tip = f"<b>{h.where}</b><br><b>{h.kind}</b>: {HIDDEN_KINDS.get(h.kind, h.kind)}.<br>{' · '.join(parts)}"
    if h.text:
        tip += " · text"
    if h.read:
        tip += (
            "<br>entropy: bits per byte of its byte histogram (8: random or compressed; text is about 4-5);"
            " zlib: its first MB compressed, as a share of its size (100%: nothing to compress)"
        )
    return h.where, text, f"{tip}<br><br>{HIDDEN_WHY}"


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
        doc.view_changed.connect(self.refresh)  # Showing: Original | Scrubbed
        doc.scrubbed_changed.connect(self.refresh)

    def section(self, title: str) -> Optional[QTreeWidgetItem]:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == title:
                return item
        return None

    def values(self, title: str) -> dict[str, str]:
        """The rows of one section as a dict (tests, exports)."""
        item = self.section(title)
        if item is None:
            return {}
        out = {}
        for c in (item.child(i) for i in range(item.childCount())):
            if c is not None and c.isFirstColumnSpanned():  # a two-line row: name, then value
                key, _, value = c.text(0).partition("\n")
                out[key] = value
            elif c is not None:
                out[c.text(0)] = c.text(1)
        return out

    def hidden_regions(self) -> list[Any]:
        """The regions of the "Bytes no tensor shows" section, in the order shown (largest first)."""
        item = self.section(HIDDEN_SECTION)
        if item is None:
            return []
        rows = (item.child(i) for i in range(item.childCount()))
        return [c.data(0, Qt.ItemDataRole.UserRole) for c in rows if c is not None]

    def show_region(self, where: str) -> bool:
        """Make the row of the region at ``where`` current (a hidden-bytes finding's ``evidence["where"]``)."""
        item = self.section(HIDDEN_SECTION)
        for i in range(item.childCount() if item is not None else 0):
            child = item.child(i) if item is not None else None
            h = child.data(0, Qt.ItemDataRole.UserRole) if child is not None else None
            if child is not None and getattr(h, "where", None) == where:
                self.tree.setCurrentItem(child)
                self.tree.scrollToItem(child)
                return True
        return False

    def refresh(self) -> None:
        self.tree.clear()
        doc = self.doc
        m = doc.view_model
        if m is None:
            self.hint.setText(
                "The scrubbed copy's file is gone (its temporary folder was removed); apply the scrub again."
                if doc.shows_scrubbed
                else "Open a model to see its format, metadata and configuration."
            )
            self.hint.setVisible(True)
            return
        self.hint.setVisible(False)
        path = Path(m.path)
        files = list(m.files) or [path]
        size = sum(f.stat().st_size for f in files if f.is_file())
        rows = []
        a = doc.scrubbed
        if a is not None:
            exported = bool(getattr(a.result, "exported", False))
            rows.append(
                (
                    "showing",
                    ("scrubbed copy" + ("" if exported else " (not exported)"))
                    if doc.shows_scrubbed
                    else "original (a scrub is applied)",
                )
            )
        rows += [
            ("format", m.format),
            ("path", str(path)),
            ("files", f"{len(files)}: " + ", ".join(f.name for f in files[:4]) + (" …" if len(files) > 4 else "")),
            ("size", f"{size:,} bytes"),
        ]
        r = doc.view_result
        sha = getattr(getattr(r, "model", None), "sha256", None) if r is not None else None
        scanning = doc.scanning and not doc.shows_scrubbed
        if doc.shows_scrubbed and a is not None:  # the scrub hashed the file it wrote, and its source
            sha = sha or getattr(a.result, "sha256", None)
        rows.append(("SHA-256", sha or ("computed by the scan…" if scanning else "not computed")))
        if doc.shows_scrubbed and a is not None and getattr(a.result, "source_sha256", None):
            rows.append(("source SHA-256", f"{a.result.source_sha256} (the original)"))
        self._add("File", rows)
        if r is not None and r.coverage:  # every byte of the file by class, and the checks that read them
            total = max(1, sum(c.bytes for c in r.coverage))
            self._add(
                "Coverage",
                [(c.cls, f"{100 * c.bytes / total:.1f}% · {c.bytes:,} bytes · {c.checks}") for c in r.coverage],
                two_lines=True,  # long class names and checks: each on its own line, across the dock
            )
        hidden = getattr(getattr(r, "measurement", None), "hidden", ()) if r is not None else ()
        if hidden:
            self._add_hidden(hidden)
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
        self._fit_columns()

    def _fit_columns(self) -> None:
        """The property column as wide as its text, at most 300 px and half the panel: values stay readable in a
        narrow dock (long names are cut in the middle; their tooltips are whole)."""
        self.tree.resizeColumnToContents(0)
        cap = max(120, min(300, self.tree.viewport().width() // 2))
        self.tree.setColumnWidth(0, min(self.tree.columnWidth(0) + 12, cap))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.tree.topLevelItemCount():
            self._fit_columns()

    def _add(
        self, title: str, rows: list[tuple[str, str]], summary: str = "", two_lines: bool = False
    ) -> QTreeWidgetItem:
        top = QTreeWidgetItem([f"{title} · {summary}" if summary else title, ""])
        top.setData(0, Qt.ItemDataRole.UserRole, title)
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        for key, value in rows:
            child = QTreeWidgetItem([f"{key}\n{value}", ""] if two_lines else [key, value])
            child.setToolTip(0, f"{key}: {value}" if two_lines else key)
            child.setToolTip(1, value)
            top.addChild(child)
        self.tree.addTopLevelItem(top)
        top.setFirstColumnSpanned(True)  # a section's title is never cut to the property column
        if two_lines:
            for i in range(top.childCount()):
                row = top.child(i)
                if row is not None:
                    row.setFirstColumnSpanned(True)
        return top

    def _add_hidden(self, hidden: Sequence[Any]) -> None:
        regions = sorted(hidden, key=lambda h: (-h.nbytes, h.where))
        total = sum(h.nbytes for h in regions)
        n = len(regions)
        top = self._add(HIDDEN_SECTION, [], f"{total:,} bytes")
        top.setToolTip(0, f"{total:,} bytes in {n} region{'s' if n != 1 else ''}, largest first. {HIDDEN_WHY}")
        for h in regions:  # one two-line row across both columns: readable in a narrow dock
            _where, text, tip = hidden_row(h)
            child = QTreeWidgetItem([text, ""])
            child.setData(0, Qt.ItemDataRole.UserRole, h)
            child.setToolTip(0, tip)
            top.addChild(child)
            child.setFirstColumnSpanned(True)
