"""The verdict, the ranked findings (each a link to its layer and view), and the limits of what was checked.

It follows the *Showing* toggle: with the scrubbed copy shown, its own verdict and findings (and a warning when
the copy was judged without an input the original had). Comparing original vs scrubbed, it lists what changed: the findings that disappeared
after the scrub, those that appeared, and those in both with their scores before → after, and each family's
status before → after. The baseline is never judged on its own, so comparing with it leaves the findings as
shown and says so.
"""

from __future__ import annotations

import html
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.judge import Finding
from inspector.core.pipeline import ScanResult
from inspector.qt import plotting as P
from inspector.qt.compare import FindingChanges, finding_changes, inputs_missing
from inspector.qt.document import ModelDocument

#: Which view best shows the evidence of each attack family.
VIEW_FOR_ATTACK = {
    "lsb": "bits",
    "correlated-value": "image",
    "sign": "image",
    "capacity-abuse": "histogram",
    "provenance": "bits",
    "numeric": "histogram",
    "other": "histogram",
}


class _OneLine(QStyledItemDelegate):
    """The layer column on one line: never wrapped (a wrap after "…" left "……"), elided in the middle."""

    def initStyleOption(self, option: QStyleOptionViewItem, index) -> None:
        super().initStyleOption(option, index)
        option.features &= ~QStyleOptionViewItem.ViewItemFeature.WrapText
        option.textElideMode = Qt.TextElideMode.ElideMiddle


_BANNER = "QLabel {{ background: {bg}; color: white; border-radius: 4px; padding: 8px 10px; font-size: 13pt; }}"


class FindingsPanel(QWidget):
    """Verdict banner, findings list and the checked/limits notes."""

    finding_activated = Signal(object)  # Finding

    def __init__(self, doc: ModelDocument, parent=None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.banner = QLabel("No model open")
        self.banner.setStyleSheet(_BANNER.format(bg="#888"))
        self.banner.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        P.mute(self.summary)
        self.note = QLabel()  # what is shown when it is not simply the original's findings
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        #: the comparison drawn (original vs scrubbed), or ``None``
        self.changes: Optional[FindingChanges] = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", "score", "layer", "finding"])
        header_item = self.tree.headerItem()
        if header_item is not None:  # the score is explained where it is shown
            header_item.setToolTip(
                1,
                "0 nothing unusual · warning from 0.45 · suspicious from 0.70 (the threshold) · nearer 1, stronger (F1: guide)",
            )
            header_item.setToolTip(0, "severity: red suspicious, amber warning, grey information")
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        hh = self.tree.header()
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        hh.resizeSection(2, 125)  # "…9.mlp.fc1.weight" whole; narrower, it elides in the middle (tooltip: full name)
        self.tree.setItemDelegateForColumn(2, _OneLine(self.tree))
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setToolTip("Click a finding to show its layer; double-click to open the view with the evidence")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # palette roles, not fixed greys: readable on the dark palette too
        self.detail.setStyleSheet("background: palette(alternate-base); border: 1px solid palette(mid); padding: 6px")
        self.detail.setVisible(False)
        self.notes = QTextBrowser()
        self.notes.setOpenExternalLinks(False)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.tree, 1)
        tl.addWidget(self.detail)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.notes)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(self.summary)
        lay.addWidget(self.note)
        lay.addWidget(split, 1)

        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.tree.itemActivated.connect(self._on_item_activated)
        doc.opened.connect(lambda m: self._on_opening(str(m.path)))
        doc.rescanning.connect(lambda: self._on_opening(self.doc.path or ""))
        doc.scan_progressed.connect(self._on_progress)
        doc.scan_finished.connect(lambda _r: self.redraw())
        doc.view_changed.connect(self.redraw)
        doc.scrubbed_changed.connect(self.redraw)
        doc.scan_cancelled.connect(lambda: self._set_banner("Scan cancelled", "#888"))
        doc.scan_failed.connect(lambda _e: self._set_banner("Could not inspect this file", "#888"))

    def _set_banner(self, text: str, bg: str) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet(_BANNER.format(bg=bg))

    def _on_opening(self, path: str) -> None:
        self.tree.clear()
        self.detail.setVisible(False)
        self.notes.clear()
        self.summary.setText(path)
        self._set_banner("Scanning…", "#6b7a8f")

    def _on_progress(self, permille: int, _msg: str) -> None:
        if self.doc.result is None:
            self._set_banner(f"Scanning… {permille / 10:.0f}%", "#6b7a8f")

    def redraw(self) -> None:
        """Draw what the document shows: the original's or the scrubbed copy's findings, or what the scrub
        changed (Compare: original vs scrubbed)."""
        d = self.doc
        self.changes = None
        if d.result is None:
            self._say("")
            return
        a = d.scrubbed
        if d.compare_mode != "off" and d.compare_target == "scrub" and a is not None:
            self.show_changes(d.result, a.scan)
            return
        if d.compare_mode != "off" and d.compare_target == "baseline":
            self._say(
                "Compare with the baseline: the baseline is the reference the detectors measure against, not judged "
                f"on its own, so there are no baseline findings to compare. Showing the {d.view_label} findings."
            )
        elif d.compare_mode != "off" and a is None:
            self._say("Nothing to compare yet: apply a scrub (Scrub tab) to see which findings it removes.")
        elif d.shows_scrubbed and a is not None:
            self._say(f"Showing the <b>scrubbed copy</b> ({html.escape(a.plan.describe())}).{self._inputs_note()}")
        else:
            self._say("")
        result = d.view_result
        if result is not None:
            self.show_result(result, prefix="AFTER SCRUB · " if d.shows_scrubbed else "")

    def _inputs_note(self) -> str:
        """A warning when the scrubbed copy was judged without inputs the original was judged with."""
        d, a = self.doc, self.doc.scrubbed
        if d.result is None or a is None:
            return ""
        missing = inputs_missing(d.result.options, a.scan.options)
        if not missing:
            return ""
        return (
            f" <span style='color:{P.WARNING_COLOR.name()}'>Judged without {', '.join(missing)} (the original had "
            "them): its verdict is not comparable family by family.</span>"
        )

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    @staticmethod
    def _verdict_text(result: ScanResult) -> tuple[str, str]:
        if result.verdict == "suspicious":
            return f"SUSPICIOUS · score {result.score:.2f}", P.SUSPICIOUS_COLOR.name()
        if result.verdict == "incomplete":  # never green: some family of attacks was not assessed
            missing = ", ".join(f.title for f in result.families if f.status == "not-assessed")
            return f"INCOMPLETE · not assessed: {missing}", P.WARNING_COLOR.name()
        return f"CLEAN · score {result.score:.2f}", P.CLEAN_COLOR.name()

    def _item(self, f: Finding, mark: str = "●", score: str = "") -> QTreeWidgetItem:
        layer = f.tensor or "(model)"
        parts = layer.split(".")
        if len(parts) > 3:  # a deep model's names say most at their end: "…9.mlp.fc1.weight"
            layer = "…" + ".".join(parts[-4:])
        item = QTreeWidgetItem([mark, score or f"{f.score:.2f}", layer, f.message])
        color = P.SEVERITY_COLORS.get(f.severity, P.EXPECT_COLOR)
        item.setForeground(0, QBrush(color))
        item.setToolTip(3, f"{f.detector} · {f.attack} · {f.severity}\n{f.message}")
        item.setToolTip(2, f.tensor or "the whole model")
        item.setData(0, Qt.ItemDataRole.UserRole, f)
        return item

    def show_changes(self, before: ScanResult, after: ScanResult) -> None:
        """Original vs scrubbed: the verdicts, then the findings that disappeared, appeared and stayed."""
        ch = finding_changes(before.findings, after.findings)
        self.changes = ch
        (b_text, _), (a_text, a_color) = self._verdict_text(before), self._verdict_text(after)
        self._set_banner(f"ORIGINAL {b_text.split(' · ')[0]} → SCRUBBED {a_text}", a_color)
        self._say(
            f"Original vs scrubbed: <b>{len(ch.gone)}</b> finding(s) disappeared, <b>{len(ch.new)}</b> appeared, "
            f"{len(ch.kept)} in both (score before → after).{self._inputs_note()}"
        )
        self.summary.setText(f"original: {b_text} · scrubbed: {a_text}")
        self.tree.clear()
        self.detail.setVisible(False)
        bold = self.tree.font()
        bold.setBold(True)
        for title, rows in (
            (f"Disappeared after the scrub ({len(ch.gone)})", [(f, "−", f"{f.score:.2f} → –") for f in ch.gone]),
            (f"Appeared after the scrub ({len(ch.new)})", [(f, "+", f"– → {f.score:.2f}") for f in ch.new]),
            (
                f"In both ({len(ch.kept)})",
                [(g, "=", f"{f.score:.2f} → {g.score:.2f}") for f, g in ch.kept],
            ),
        ):
            head = QTreeWidgetItem(["", "", "", title])
            head.setFont(3, bold)
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(head)
            for f, mark, score in rows:
                self.tree.addTopLevelItem(self._item(f, mark, score))
            if not rows:
                self.tree.addTopLevelItem(QTreeWidgetItem(["", "", "", "none"]))
        status_color = self._status_colors()
        after_by = {f.title: f for f in after.families}
        lines: list[str] = []
        for fam in before.families:
            other = after_by.get(fam.title)
            gs = other.status if other is not None else "–"
            lines.append(
                f"<tr><td>{html.escape(fam.title)}</td><td style='color:{status_color.get(fam.status, '#888')}'>"
                f"{fam.status.replace('-', ' ')}</td><td>→</td><td style='color:{status_color.get(gs, '#888')}'><b>"
                f"{gs.replace('-', ' ')}</b></td></tr>"
            )
        self.notes.setHtml(
            "<b>Attack families: original → scrubbed</b><table cellspacing='4'>" + "".join(lines) + "</table>"
        )

    @staticmethod
    def _status_colors() -> dict[str, str]:
        return {
            "detected": P.SUSPICIOUS_COLOR.name(),
            "not-assessed": P.WARNING_COLOR.name(),
            "cannot-rule-out": P.WARNING_COLOR.name(),
            "not-detected": P.CLEAN_COLOR.name(),
        }

    def show_result(self, result: ScanResult, prefix: str = "") -> None:
        n_susp = sum(f.severity == "suspicious" for f in result.findings)
        n_warn = sum(f.severity == "warning" for f in result.findings)
        text, color = self._verdict_text(result)
        self._set_banner(prefix + text, color)
        m = result.model
        self.summary.setText(
            f"{m.tensors} tensors · {m.parameters:,} parameters · {m.format} · "
            f"{n_susp} suspicious, {n_warn} warning finding(s) · scanned in {result.seconds:.1f} s"
        )
        self.tree.clear()
        self.detail.setVisible(False)
        for f in result.findings:
            self.tree.addTopLevelItem(self._item(f))
        if not result.findings:
            self.tree.addTopLevelItem(QTreeWidgetItem(["", "", "", "No findings."]))
        checked = "".join(f"<li>{c}</li>" for c in result.checked) or "<li>–</li>"
        limits = "".join(f"<li>{c}</li>" for c in result.limits) or "<li>–</li>"
        status_color = self._status_colors()
        families = "".join(
            f"<tr><td>{html.escape(f.title)}</td><td style='color:"
            f"{status_color['cannot-rule-out'] if f.warning else status_color.get(f.status, '#888')}'><b>"
            f"{html.escape(f.words)}</b></td><td>{html.escape(f.text)}</td></tr>"
            for f in result.families
        )
        self.notes.setHtml(
            (f"<b>Attack families</b><table cellspacing='4'>{families}</table>" if families else "")
            + f"<b>What was checked</b><ul style='margin-left:-20px'>{checked}</ul>"
            f"<b>What this cannot rule out</b><ul style='margin-left:-20px'>{limits}</ul>"
        )

    def select_finding(self, finding: Finding) -> None:
        """Make ``finding`` the current row (shows its details and selects its layer)."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and self._finding(item) == finding:
                self.tree.setCurrentItem(item)
                return

    def current_finding(self) -> Optional[Finding]:
        return self._finding(self.tree.currentItem())

    def _finding(self, item: Optional[QTreeWidgetItem]) -> Optional[Finding]:
        if item is None:
            return None
        f = item.data(0, Qt.ItemDataRole.UserRole)
        return f if isinstance(f, Finding) else None

    def _on_current_changed(self, item: Optional[QTreeWidgetItem], _prev) -> None:
        f = self._finding(item)
        self.detail.setVisible(f is not None)
        if f is None:
            return
        where = f.tensor or "the whole model"
        self.detail.setText(
            f"<b style='color:{P.SEVERITY_COLORS[f.severity].name()}'>{f.severity}</b> · {f.detector} · "
            f"{f.attack} · score {f.score:.2f} · <b>{where}</b><br>{f.message}"
            f"<br><i style='color:{P.EXPECT_COLOR.name()}'>double-click: show the evidence</i>"
        )
        if f.tensor:
            self.doc.select(f.tensor)

    def _on_item_activated(self, item: QTreeWidgetItem, _col: int) -> None:
        f = self._finding(item)
        if f is not None:
            if f.tensor:
                self.doc.select(f.tensor)
            self.finding_activated.emit(f)
