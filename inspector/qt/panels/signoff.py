"""Sign-off: the reviewer's name, decision and notes, and an acknowledgement of each finding that needs one.

The rule is the report's (:meth:`inspector.core.report.SignOff.check`, the same that ``model-inspector report
--reviewer --decision --notes --ack`` applies): a decision needs a name, and an approval needs every suspicious or
warning finding acknowledged. "Sign off" records the sign-off (with the time) only when the rule holds; the next
exported report carries it in its sign-off block. Drafts and sign-offs are remembered per model while the app
runs; editing a recorded sign-off, or findings that change under it (another baseline, other inputs), take the
record back until the reviewer signs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.errors import InspectorError
from inspector.core.judge import Finding
from inspector.core.pipeline import ScanResult
from inspector.core.report import FindingView, SignOff
from inspector.qt import plotting as P
from inspector.qt.document import ModelDocument

#: The decisions offered: (the report's value, the words shown).
DECISIONS = (("", "no decision yet"), ("approve", "Approve"), ("reject", "Reject"), ("needs-work", "Needs changes"))
#: Severities a reviewer must acknowledge before approving (the report's rule).
ACTIONABLE = ("suspicious", "warning")

#: A finding's identity across re-judgements (its rank may change when findings come and go).
FindingKey = tuple[str, str, str, str]


def finding_key(f: Finding) -> FindingKey:
    return (f.detector, f.attack, f.tensor or "", f.message)


def finding_views(findings: tuple[Finding, ...] | list[Finding]) -> tuple[FindingView, ...]:
    """The findings numbered as the report numbers them (1 = most severe), for the report's sign-off rule."""
    return tuple(
        FindingView(
            rank=i,
            severity=f.severity,
            attack=f.attack,
            attack_label=f.attack,
            detector=f.detector,
            tensor=f.tensor,
            score=f.score,
            message=f.message,
        )
        for i, f in enumerate(findings, start=1)
    )


@dataclass
class Draft:
    """One model's sign-off as the reviewer left it; ``signed`` is the recorded one (``None``: not signed)."""

    reviewer: str = ""
    decision: str = ""
    notes: str = ""
    acked: set[FindingKey] = field(default_factory=set)
    signed: Optional[SignOff] = None


class SignOffPanel(QWidget):
    """Name, decision, notes, a checklist of the findings to acknowledge, and "Sign off"."""

    #: a sign-off was recorded (``SignOff``) or taken back (``None``)
    signed_changed = Signal(object)

    def __init__(self, doc: ModelDocument, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.drafts: dict[str, Draft] = {}  # per model path, while the app runs
        self._last_reviewer = ""
        self._loading = False
        self.reviewer = QLineEdit(placeholderText="your name")
        self.decision = QComboBox()
        for value, words in DECISIONS:
            self.decision.addItem(words, value)
        self.decision.setToolTip(
            "Approve needs every suspicious and warning finding acknowledged below; reject and needs changes do not"
        )
        self.notes = QPlainTextEdit(placeholderText="notes for the report: what you checked, conditions, follow-ups")
        self.notes.setMinimumHeight(60)
        self.notes.setMaximumHeight(110)
        self.checklist = QListWidget()
        self.checklist.setWordWrap(True)
        self.checklist.setSpacing(2)  # findings of several lines apart
        self.checklist.setToolTip("Tick a finding once you have read it and its evidence (double-click it there)")
        self.checklist.setMinimumHeight(80)
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)  # never what widens the dock (it set a 460 px minimum)
        P.mute(self.count_label)
        self.sign_btn = QPushButton("Sign off")
        self.sign_btn.setToolTip("record this sign-off (checked by the report's rule); the exported report carries it")
        self.sign_btn.clicked.connect(self.sign)
        self.clear_btn = QPushButton("Clear")
        self.clear_btn.setToolTip("empty the form for this model (the report then has blank lines to sign on paper)")
        self.clear_btn.clicked.connect(self.clear)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("reviewer", self.reviewer)
        form.addRow("decision", self.decision)
        form.addRow("notes", self.notes)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sign_btn)
        buttons.addWidget(self.clear_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Findings to acknowledge"))
        lay.addWidget(self.checklist, 1)
        lay.addWidget(self.count_label)
        lay.addLayout(buttons)
        lay.addWidget(self.status)

        self.reviewer.textEdited.connect(self._edited)
        self.decision.currentIndexChanged.connect(self._edited)
        self.notes.textChanged.connect(self._edited)
        self.checklist.itemChanged.connect(self._edited)
        doc.opened.connect(self._on_opened)
        doc.rescanning.connect(self._refresh)
        doc.scan_finished.connect(self._on_findings)
        self._fit_palette()
        self._refresh()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._fit_palette()

    def _fit_palette(self) -> None:
        """Unticked boxes readable in a dark palette: Fusion outlines them in the window colour darkened, which
        on a dark list is the list's own colour; a lighter window colour for the list alone outlines them."""
        if self.palette().color(QPalette.ColorRole.Base).lightness() < 128:
            pal = QPalette()
            pal.setColor(QPalette.ColorRole.Window, QColor(150, 152, 158))
            self.checklist.setPalette(pal)
        else:
            self.checklist.setPalette(QPalette())  # inherit everything

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def draft(self) -> Optional[Draft]:
        """The open model's draft (``None`` when no model is open)."""
        if self.doc.path is None:
            return None
        return self.drafts.setdefault(self.doc.path, Draft(reviewer=self._last_reviewer))

    def findings(self) -> tuple[Finding, ...]:
        """The findings the report will number: the finished scan's (of the original model)."""
        result = self.doc.result
        return result.findings if result is not None else ()

    def current(self) -> SignOff:
        """The form as a :class:`SignOff` (acknowledgements as the report's finding numbers); not checked."""
        d = self.draft
        if d is None:
            return SignOff()
        ranks = tuple(i for i, f in enumerate(self.findings(), start=1) if finding_key(f) in d.acked)
        return SignOff(reviewer=d.reviewer.strip(), decision=d.decision, notes=d.notes.strip(), acknowledged=ranks)

    def signoff(self) -> Optional[SignOff]:
        """The recorded sign-off of the open model, for the report (``None``: not signed off)."""
        d = self.draft
        return d.signed if d is not None else None

    # -- actions -------------------------------------------------------------------------------------------------
    def sign(self) -> bool:
        """Record the sign-off when the report's rule allows it; else say why (and record nothing)."""
        d = self.draft
        if d is None or self.doc.result is None:
            self._say("Open a model and let its scan finish before signing off.", "warning")
            return False
        s = self.current()
        if s.empty:
            self._say("Nothing to sign: give your name and a decision.", "warning")
            return False
        try:
            s.check(finding_views(self.findings()))
        except InspectorError as e:
            self._refuse(s, e)
            return False
        d.signed = s.stamped()
        self._show_status()
        self.signed_changed.emit(d.signed)
        return True

    def clear(self) -> None:
        d = self.draft
        if d is None:
            return
        was_signed = d.signed is not None
        self.drafts[self.doc.path or ""] = Draft()
        self._refresh()
        if was_signed:
            self.signed_changed.emit(None)

    def acknowledge(self, rank: int, on: bool = True) -> None:
        """Tick (or untick) finding number ``rank`` (1 = most severe), as the reviewer would."""
        for i in range(self.checklist.count()):
            item = self.checklist.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == rank:
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                return
        raise KeyError(f"finding #{rank} needs no acknowledgement or does not exist")

    def set_decision(self, value: str) -> None:
        i = self.decision.findData(value)
        if i < 0:
            raise ValueError(f"unknown decision {value!r}")
        self.decision.setCurrentIndex(i)

    # -- reacting ------------------------------------------------------------------------------------------------
    def _on_opened(self, _model: object) -> None:
        self._refresh()

    def _on_findings(self, _result: ScanResult) -> None:
        """New findings (a scan, or a re-judgement): a recorded sign-off stands only if the rule still holds."""
        d = self.draft
        if d is not None:
            keys = {finding_key(f) for f in self.findings()}
            d.acked &= keys  # an acknowledgement of a finding that went away is dropped
            if d.signed is not None:
                try:
                    s = replace(self.current(), signed=d.signed.signed)
                    s.check(finding_views(self.findings()))
                    d.signed = s  # the same sign-off, its acknowledgements renumbered
                except InspectorError:
                    d.signed = None
                    self.signed_changed.emit(None)
                    self._refresh()
                    self._say("The findings changed since you signed off: read the new ones and sign again.", "warning")
                    return
        self._refresh()

    def _edited(self, *_args: object) -> None:
        if self._loading:
            return
        d = self.draft
        if d is None:
            return
        d.reviewer = self.reviewer.text()
        if d.reviewer.strip():
            self._last_reviewer = d.reviewer.strip()
        d.decision = str(self.decision.currentData() or "")
        d.notes = self.notes.toPlainText()
        for i in range(self.checklist.count()):
            item = self.checklist.item(i)
            key = item.data(Qt.ItemDataRole.UserRole + 1)
            if item.checkState() == Qt.CheckState.Checked:
                d.acked.add(key)
            else:
                d.acked.discard(key)
        if d.signed is not None and self.current() != replace(d.signed, signed=""):
            d.signed = None  # changed since it was recorded: not signed until signed again
            self.signed_changed.emit(None)
        self._show_status()

    # -- drawing -------------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Fill the form from the open model's draft and the checklist from its findings."""
        d = self.draft
        self._loading = True
        try:
            self.reviewer.setText(d.reviewer if d else "")
            self.decision.setCurrentIndex(max(0, self.decision.findData(d.decision if d else "")))
            self.notes.setPlainText(d.notes if d else "")
            self.checklist.clear()
            for rank, f in enumerate(self.findings(), start=1):  # none while a scan runs (no result)
                if f.severity not in ACTIONABLE:
                    continue
                where = f.tensor or "model"
                item = QListWidgetItem(f"#{rank} {f.severity} · {f.attack} · {where}: {f.message}")
                item.setToolTip(f"#{rank} {f.severity} (score {f.score:.2f}) from {f.detector}\n{where}\n{f.message}")
                item.setData(Qt.ItemDataRole.UserRole, rank)
                item.setData(Qt.ItemDataRole.UserRole + 1, finding_key(f))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                checked = d is not None and finding_key(f) in d.acked
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                item.setForeground(QBrush(P.SEVERITY_COLORS[f.severity]))
                self.checklist.addItem(item)
        finally:
            self._loading = False
        ready = d is not None and self.doc.result is not None
        for w in (self.reviewer, self.decision, self.notes, self.checklist, self.sign_btn, self.clear_btn):
            w.setEnabled(ready)
        self._show_status()

    def _show_status(self) -> None:
        d = self.draft
        need = self.checklist.count()
        done = sum(self.checklist.item(i).checkState() == Qt.CheckState.Checked for i in range(need))
        info = sum(f.severity not in ACTIONABLE for f in self.findings())
        extra = f"; {info} informational finding{'s' if info != 1 else ''} need no acknowledgement" if info else ""
        self.count_label.setText(
            f"{done} of {need} acknowledged{extra}" if need else f"No finding needs acknowledging{extra}"
        )
        if d is None or self.doc.result is None:
            self._say("Open a model; once its scan has finished you can sign it off.", "muted")
        elif d.signed is not None:
            s = d.signed
            words = s.decision_words or "no decision"
            self._say(f"Signed off by {s.reviewer}: {words} ({s.signed}). The exported report carries it.", "ok")
        else:
            self._say("Not signed off: the exported report has blank lines to sign on paper.", "muted")

    def _refuse(self, s: SignOff, e: InspectorError) -> None:
        if s.decision and not s.reviewer:
            hint = "Type your name first."
        elif s.decision == "approve":
            hint = "Tick each finding after reading it, or decide Reject or Needs changes."
        else:
            hint = ""
        problem = e.problem[:1].upper() + e.problem[1:]
        self._say(f"Cannot sign off: {problem}. {hint}".strip(), "error")

    def _say(self, text: str, level: str) -> None:
        color = {
            "error": P.SUSPICIOUS_COLOR.name(),
            "warning": P.WARNING_COLOR.name(),
            "ok": P.CLEAN_COLOR.name(),
        }.get(level)
        self.status.setStyleSheet(f"color: {color}" if color else "")
        if level == "muted":
            P.mute(self.status)
        self.status.setText(text)
        self.status.setProperty("level", level)
