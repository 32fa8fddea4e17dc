"""The main window: menus, the model and baseline pickers, the layer table, the views and the findings.

It wires panels to the :class:`~inspector.qt.document.ModelDocument` and owns the worker pool, which it cancels
and joins when it closes. Expected problems go to the inline message bar; unexpected ones to the one error
dialog. Nothing here computes: the document and the panels call the core through workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector import __version__
from inspector.core.errors import InspectorError
from inspector.core.judge import Finding
from inspector.core.measure import is_theta
from inspector.core.pipeline import ScanResult
from inspector.qt import compare, exporting, gui_gc
from inspector.qt import help as help_guide
from inspector.qt import settings as S
from inspector.qt.baseline_picker import MODEL_FILTER, BaselinePicker
from inspector.qt.dialogs.error_dialog import ErrorDialog
from inspector.qt.document import ModelDocument
from inspector.qt.help import HelpDialog
from inspector.qt.message_bar import MessageBar
from inspector.qt.panels.bitplanes import BitPlanesPanel
from inspector.qt.panels.depth import DepthPanel
from inspector.qt.panels.findings import VIEW_FOR_ATTACK, FindingsPanel
from inspector.qt.panels.grid import LayerGridPanel
from inspector.qt.panels.histogram import HistogramPanel
from inspector.qt.panels.inputs import InputsPanel
from inspector.qt.panels.layer_table import LayerTablePanel
from inspector.qt.panels.module_tree import ModuleTreePanel
from inspector.qt.panels.properties import PropertiesPanel
from inspector.qt.panels.signoff import SignOffPanel
from inspector.qt.panels.weights_image import WeightsImagePanel
from inspector.qt.report_export import ReportExporter, report_available
from inspector.qt.resources import app_icon
from inspector.qt.scan_status import ScanStatus
from inspector.qt.welcome import WelcomePage, demo_pair
from inspector.qt.workers import WorkerError, WorkerPool

#: The window title carries the version, so a screenshot in a report or a bug says which build it shows.
TITLE = f"Model Inspector {__version__}"
#: The detector that judges the bytes no tensor shows; its findings' evidence is a row of the Properties dock.
HIDDEN_BYTES = "hidden-bytes"


def display_name(path: str | Path) -> str:
    """How the window names a model: its file name, or its folder's for a sharded checkpoint or a Hugging Face
    folder (``gpt2/`` rather than ``model.safetensors.index.json``)."""
    p = Path(path)
    if p.is_dir():
        return p.name + "/"
    if p.name.endswith(".index.json"):
        return p.parent.name + "/"
    if (p.parent / "config.json").is_file():
        return f"{p.parent.name}/{p.name}"
    return p.name


class MainWindow(QMainWindow):
    """Model Inspector's window. ``settings`` lets tests use a temporary store."""

    closed = Signal()
    baseline_picker: BaselinePicker

    def __init__(self, settings: Optional[QSettings] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        gui_gc.hold_for(self)  # from now on garbage is collected on this (the GUI) thread only
        self.setWindowTitle(TITLE)
        self.setWindowIcon(app_icon())
        self.qsettings = settings if settings is not None else S.open_settings()
        self.prefs = S.load(self.qsettings)
        self.pool = WorkerPool(self, max_threads=4)
        self.doc = ModelDocument(self.pool, self)
        self.error_dialog = ErrorDialog(self)
        self._last_error: Optional[WorkerError] = None
        self._exported_scrub: object = None  # the applied scrub that was last exported
        self._export_result: object = None  # and what its export wrote (a ScrubResult, re-judged)
        self._shut_down = False

        self.message_bar = MessageBar()
        self.message_bar.details_requested.connect(self._show_last_error)
        self.layers = LayerTablePanel(self.doc)
        self.tree = ModuleTreePanel(self.doc)
        self.layer_views = QTabWidget()
        self.layer_views.setDocumentMode(True)
        self.layer_views.addTab(self.tree, "Tree")
        self.layer_views.addTab(self.layers, "Table")
        self.layer_views.setTabToolTip(0, "the model's modules from the dotted names, each with its worst finding")
        self.layer_views.setTabToolTip(1, "every tensor with its statistics and detector scores; sortable")
        self.depth_view = DepthPanel(self.doc)
        self.findings = FindingsPanel(self.doc)
        self.histogram = HistogramPanel(self.doc, bins=self.prefs.bins, log_y=self.prefs.log_y)
        self.grid = LayerGridPanel(self.doc)
        self.bitplanes = BitPlanesPanel(self.doc)
        self.weights_image = WeightsImagePanel(self.doc, tile=self.prefs.tile)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.views: dict[str, QWidget] = {}
        for key, title, panel in (
            ("histogram", "Histogram", self.histogram),
            ("grid", "All layers", self.grid),
            ("depth", "Depth", self.depth_view),
            ("bits", "Bit planes", self.bitplanes),
            ("image", "Weights as image", self.weights_image),
        ):
            self.views[key] = panel
            self.tabs.addTab(panel, title)
        self._add_optional_views()

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 0)
        lay.addWidget(self.message_bar)
        self.welcome = WelcomePage()
        self.welcome.open_requested.connect(self.choose_and_open)
        self.welcome.demo_requested.connect(self.open_demo)
        self.welcome.recent_requested.connect(self.open_path)
        self.center = QStackedWidget()  # the welcome page until a model is open, then the views
        self.center.addWidget(self.welcome)
        self.center.addWidget(self.tabs)
        lay.addWidget(self.center, 1)
        self.setCentralWidget(central)
        self.help_dialog = HelpDialog(self)
        self.layers_dock = self._dock("Layers", self.layer_views, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.findings_dock = self._dock("Findings", self.findings, Qt.DockWidgetArea.RightDockWidgetArea)
        self.properties = PropertiesPanel(self.doc)
        self.properties_dock = self._dock("Properties", self.properties, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.findings_dock, self.properties_dock)
        self.inputs = InputsPanel(self.doc, self.qsettings, lambda: self.prefs.last_dir)
        self.inputs_dock = self._dock("Inputs", self.inputs, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.properties_dock, self.inputs_dock)
        self.signoff = SignOffPanel(self.doc)
        self.signoff_dock = self._dock("Sign-off", self.signoff, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.inputs_dock, self.signoff_dock)
        self.findings_dock.raise_()
        self._default_state = self.saveState()  # View ▸ Reset layout returns here

        self._build_actions()
        self.compare_controls = compare.install(self)  # Showing: Original | Scrubbed, Compare: off/side/diff
        self._add_report_action()
        self._build_status_bar()
        self._connect()
        self.setAcceptDrops(True)
        self.resize(1480, 900)
        geometry, state = S.load_geometry(self.qsettings)
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._restored_state = state is not None and self.restoreState(state)
        self._update_title()
        if self.prefs.theme == "dark":
            from inspector.qt import theme

            theme.apply("dark")

    # ------------------------------------------------------------------------------------------------ building
    def _add_optional_views(self) -> None:
        """Scrub and accuracy views exist only when the core has the capability behind them."""
        from inspector.qt.panels import optional_panels

        for key, title, factory in optional_panels():
            panel = factory(self)
            self.views[key] = panel
            self.tabs.addTab(panel, title)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(  # closable: View ▸ shows and hides it (a dock that cannot close greys its action out)
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.open_action = QAction("&Open model…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Open))
        self.open_action.triggered.connect(self.choose_and_open)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.baseline_action = QAction("Choose &baseline model…", self)
        self.baseline_action.triggered.connect(lambda: self.baseline_picker.choose_file())
        file_menu.addAction(self.baseline_action)
        self.rescan_action = QAction("&Rescan", self, shortcut=QKeySequence("F5"))
        self.rescan_action.triggered.connect(self.doc.rescan)
        file_menu.addAction(self.rescan_action)
        self.export_figure_action = QAction("Export &figure…", self, shortcut=QKeySequence("Ctrl+Shift+F"))
        self.export_figure_action.setToolTip("the current tab's plots as PNG or SVG")
        self.export_figure_action.triggered.connect(self.choose_export_figure)
        self.export_table_action = QAction("Export &table…", self, shortcut=QKeySequence("Ctrl+Shift+T"))
        self.export_table_action.setToolTip("the layer tree or table as shown (filter, sort) as CSV or JSON")
        self.export_table_action.triggered.connect(self.choose_export_table)
        self.copy_finding_action = QAction("&Copy finding", self, shortcut=QKeySequence("Ctrl+Shift+C"))
        self.copy_finding_action.triggered.connect(self.copy_finding)
        file_menu.addSeparator()
        for act in (self.export_figure_action, self.export_table_action, self.copy_finding_action):
            file_menu.addAction(act)
        self.export_menu_anchor = file_menu.addSeparator()
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.file_menu = file_menu

        view_menu = mb.addMenu("&View")
        for dock, key in (
            (self.layers_dock, "Ctrl+1"),
            (self.findings_dock, "Ctrl+2"),
            (self.properties_dock, "Ctrl+3"),
            (self.inputs_dock, "Ctrl+4"),
            (self.signoff_dock, "Ctrl+5"),
        ):
            act = dock.toggleViewAction()
            act.setShortcut(QKeySequence(key))
            view_menu.addAction(act)
        reset = QAction("Reset &layout", self)
        reset.triggered.connect(self.reset_layout)
        view_menu.addAction(reset)
        view_menu.addSeparator()
        self.log_action = QAction("&Log y axis", self, checkable=True, checked=self.prefs.log_y)
        self.log_action.setShortcut(QKeySequence("Ctrl+L"))
        self.log_action.toggled.connect(self.histogram.set_log_y)
        view_menu.addAction(self.log_action)
        self.dark_action = QAction("&Dark palette", self, checkable=True, checked=self.prefs.theme == "dark")
        self.dark_action.setToolTip("a dark palette; the plots follow it")
        self.dark_action.toggled.connect(self.set_dark)
        view_menu.addAction(self.dark_action)
        for i in range(self.tabs.count()):  # Alt+1 … Alt+7: the views
            act = QAction(f"Show {self.tabs.tabText(i)}", self, shortcut=QKeySequence(f"Alt+{i + 1}"))
            act.triggered.connect(lambda _=False, i=i: self.show_tab(i))
            self.addAction(act)
        find = QAction("&Find layer", self, shortcut=QKeySequence(QKeySequence.StandardKey.Find))
        find.triggered.connect(self.focus_search)
        view_menu.addAction(find)
        self.undo_action = QAction("&Undo scrub", self, shortcut=QKeySequence(QKeySequence.StandardKey.Undo))
        self.undo_action.triggered.connect(self.doc.undo_scrub)
        self.addAction(self.undo_action)
        help_menu = mb.addMenu("&Help")
        guide = QAction("&Guide to this view", self, shortcut=QKeySequence(QKeySequence.StandardKey.HelpContents))
        guide.triggered.connect(self.show_guide)
        help_menu.addAction(guide)
        keys = QAction("&Keyboard shortcuts", self, shortcut=QKeySequence("Ctrl+/"))
        keys.triggered.connect(self.show_shortcuts)
        help_menu.addAction(keys)
        about = QAction("&About Model Inspector", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        tb.addAction(self.open_action)
        tb.addSeparator()
        tb.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setToolTip("Switch between the models of this session (the demo zoo, recent files)")
        tb.addWidget(self.model_combo)
        tb.addWidget(QLabel("  Baseline "))
        self.baseline_picker = BaselinePicker(self.doc, self, lambda: self.prefs.last_dir, self._report)
        self.matching_label = self.baseline_picker.label
        tb.addWidget(self.baseline_picker.combo)
        tb.addWidget(self.matching_label)
        tb.addSeparator()
        tb.addAction(self.rescan_action)
        self._update_recent_menu()

    def _build_status_bar(self) -> None:
        self.scan_status = ScanStatus(self.doc, self.statusBar())
        self.status_label = self.scan_status.label
        self.cancel_button = self.scan_status.cancel_button

    def _connect(self) -> None:
        d = self.doc
        d.open_failed.connect(self._on_open_failed)
        d.opened.connect(self._on_opened)
        d.scan_finished.connect(self._on_scan_finished)
        d.scan_failed.connect(self._on_scan_failed)
        d.scan_cancelled.connect(self._on_scan_cancelled)
        self.model_combo.activated.connect(self._on_model_combo)
        for view in (self.tree.view, self.layers.view):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(lambda pos, v=view: self._table_menu(v, pos))
        self.findings.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.findings.tree.customContextMenuRequested.connect(self._findings_menu)
        self.findings.finding_activated.connect(self.show_finding)
        self.findings.tree.currentItemChanged.connect(lambda *_: self._follow_hidden_finding())
        self.histogram.log_y_changed.connect(self._on_log_changed)
        self.histogram.bins_changed.connect(lambda n: self._set_pref(bins=n))
        self.weights_image.tile_changed.connect(lambda t: self._set_pref(tile=t))
        scrub = self.views.get("scrub")
        if scrub is not None and hasattr(scrub, "exported"):
            scrub.exported.connect(self._on_scrub_exported)

    # ------------------------------------------------------------------------------------------------ opening
    def choose_and_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self.prefs.last_dir, MODEL_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a model (file, index or folder); the current one stays until the new one reads fine."""
        self.message_bar.clear()
        self.doc.open(str(path))

    def set_model_list(self, entries: list[tuple[str, str]]) -> None:
        """Models offered in the switcher, e.g. the demo zoo: ``(label, path)`` pairs."""
        self.model_combo.clear()
        for label, path in entries:
            self.model_combo.addItem(label, path)
            self.model_combo.setItemData(self.model_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)

    def _on_model_combo(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if path and path != self.doc.path:
            self.open_path(path)

    def _on_opened(self, model) -> None:
        self.center.setCurrentWidget(self.tabs)
        path = str(model.path)
        self.prefs = self.prefs.with_recent(path)
        self._set_pref(last_dir=str(Path(path).parent))
        self._update_recent_menu()
        i = self.model_combo.findData(path)
        if i < 0:
            self.model_combo.addItem(Path(path).name, path)
            i = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(i)
        self._update_title()
        self.baseline_picker.update_matching()
        self.scan_status.scan_started()
        if model.tensors:  # the first float weight matrix is the most telling start
            first = next((t for t in model.tensors if is_theta(t.dtype, t.shape)), model.tensors[0])
            self.doc.select(first.name)

    def open_demo(self) -> None:
        """The bundled demo: the sign-encoding model against its benign baseline."""
        pair = demo_pair()
        if pair is None:
            self.notify("The demo models are not installed with this copy.", "warning")
            return
        model, base = pair
        self.set_baseline_path(base, "benign baseline (demo)")
        self.open_path(model)

    def show_tab(self, i: int) -> None:
        if self.doc.model is not None:
            self.tabs.setCurrentIndex(i)

    def focus_search(self) -> None:
        """Ctrl+F: the search box of the layer view in front."""
        self.layers_dock.show()
        box = self.tree.search if self.layer_views.currentWidget() is self.tree else self.layers.filter_edit
        box.setFocus()
        box.selectAll()

    def show_guide(self) -> None:
        key = next((k for k, v in self.views.items() if v is self.tabs.currentWidget()), None)
        self.help_dialog.show_html("Model Inspector guide", help_guide.guide_html(key))

    def show_shortcuts(self) -> None:
        self.help_dialog.show_html("Keyboard shortcuts", help_guide.shortcuts_html(self))

    def _on_scrub_exported(self, result: object) -> None:
        self._exported_scrub = self.doc.scrubbed
        self._export_result = result

    def report_scrub(self) -> object:
        """The scrub a report describes: the export of the applied scrub when it was exported (the file written
        and its verdict, judged with the original's inputs), else the applied working copy (``None``: none)."""
        applied = self.doc.scrubbed
        if applied is None:
            return None
        return self._export_result if applied is self._exported_scrub else applied.result

    def _on_open_failed(self, err: WorkerError) -> None:
        self._report(err, "Could not open the file")

    # ------------------------------------------------------------------------------------------------ scanning
    def _on_scan_finished(self, result: ScanResult) -> None:
        if result.findings:
            top = next((f for f in result.findings if f.tensor), None)
            if top is not None and top.severity != "info":
                self.doc.select(top.tensor)

    def _on_scan_failed(self, err: WorkerError) -> None:
        self._report(err, "The scan failed")

    def _on_scan_cancelled(self) -> None:
        self.message_bar.show_message("Scan cancelled — statistics are partial and there is no verdict.", "warning")

    # ------------------------------------------------------------------------------------------------ baseline
    def add_baseline_models(self, entries: list[tuple[str, str]]) -> None:
        """Offer reference models in the baseline picker (the demo offers its benign model)."""
        self.baseline_picker.fill(entries)

    def set_baseline_path(self, path: str, label: Optional[str] = None) -> None:
        self.baseline_picker.set_path(path, label)

    def set_analysis_data(self, eval_data: Optional[str] = None, train_sample: Optional[str] = None) -> None:
        """Data the scan's behavioural and data-aware detectors use, and the accuracy panel's default."""
        from dataclasses import replace

        self.doc.options = replace(self.doc.options, data=eval_data, train_sample=train_sample)
        self.inputs.set_values(eval_data, train_sample, self.doc.options.arch)
        set_data_path = getattr(self.views.get("accuracy"), "set_data_path", None)
        if set_data_path is not None and eval_data:
            set_data_path(eval_data)

    # ------------------------------------------------------------------------------------------------ report
    def _add_report_action(self) -> None:
        if not report_available():
            return
        self.report_exporter = ReportExporter(
            self.doc,
            self.pool,
            self,
            lambda: self.prefs.last_dir,
            self.notify,
            self._report,
            self.signoff.signoff,
            self.report_scrub,
        )
        self.report_action = self.report_exporter.action
        self.report_exporter.add_to(self.file_menu, self.export_menu_anchor)

    def export_report(self, path: str) -> None:
        """Write the HTML/PDF report of the current scan (with the applied scrub and accuracy, if any)."""
        self.report_exporter.export(path)

    # ------------------------------------------------------------------------------------------------ findings
    def _follow_hidden_finding(self) -> None:
        """A hidden-bytes finding made current: its region's row becomes current in Properties (the dock
        stays behind the Findings list it shares a tab with; double-click brings it forward)."""
        f = self.findings.current_finding()
        if f is not None and f.tensor is None and f.detector == HIDDEN_BYTES:
            self.properties.show_region(str(f.evidence.get("where", "")))

    def show_finding(self, finding: Finding) -> None:
        """Show the evidence of a finding: its layer, in the view that shows that kind of attack; bytes no
        tensor shows (a hidden-bytes finding): their row in the Properties dock."""
        if finding.tensor is None and finding.detector == HIDDEN_BYTES:
            self.properties_dock.show()
            self.properties_dock.raise_()
            self.properties.show_region(str(finding.evidence.get("where", "")))
            return
        view = VIEW_FOR_ATTACK.get(finding.attack, "histogram")
        if view == "image":
            source = "sign bytes" if finding.attack == "sign" else "values"
            self.weights_image.set_view("weights", source, self.weights_image.tile.currentText())
        elif finding.attack == "lsb" and self.tabs.currentWidget() is self.weights_image:
            self.weights_image.set_view("floats", "low 16 bits", self.weights_image.tile.currentText())
        self.tabs.setCurrentWidget(self.views[view])

    # ------------------------------------------------------------------------------------------------ errors
    def notify(self, text: str, level: str = "info") -> None:
        """An inline message (panels use it for expected outcomes and problems)."""
        self.message_bar.show_message(text, level)

    def report_error(self, err: WorkerError, what: str) -> None:
        """The one error sink: expected problems inline, unexpected ones in the non-modal error dialog."""
        self._report(err, what)

    def _report(self, err: WorkerError, what: str) -> None:
        e = err.exception
        if isinstance(e, InspectorError):
            self.message_bar.show_message(f"{what}: {e}", "error")
        elif isinstance(e, MemoryError):
            self.message_bar.show_message(f"{what}: out of memory. Close other programs and try again.", "error")
        else:
            self._last_error = err
            self.message_bar.show_message(f"{what}: unexpected {type(e).__name__}: {e}", "error", details_link=True)
            self.error_dialog.show_error(f"{what}: {type(e).__name__}: {e}", err.details)

    def _show_last_error(self) -> None:
        if self._last_error is not None:
            e = self._last_error
            self.error_dialog.show_error(f"{type(e.exception).__name__}: {e.exception}", e.details)

    def _about(self) -> None:
        self.message_bar.show_message(
            f"Model Inspector {__version__}: find training data hidden in a model's weights (Song, Ristenpart, "
            "Shmatikov, CCS 2017), scrub it, check accuracy, export sanitized weights.",
            "info",
        )

    # ------------------------------------------------------------------------------------------------ settings
    def _set_pref(self, **changes) -> None:
        from dataclasses import replace

        self.prefs = replace(self.prefs, **changes)
        S.save(self.qsettings, self.prefs)

    def reset_layout(self) -> None:
        """Docks back where they start (all shown, findings in front), sized for the window."""
        self.restoreState(self._default_state)
        for dock in (self.layers_dock, self.findings_dock, self.properties_dock, self.inputs_dock, self.signoff_dock):
            dock.setFloating(False)
            dock.show()
        self.findings_dock.raise_()
        self._size_docks()

    def _size_docks(self) -> None:
        w = self.width()  # at 1024 px the findings need their 260 px more than the plots need the rest
        sizes = [max(230, int(w * 0.26)), max(270, int(w * 0.22))]
        self.resizeDocks([self.layers_dock, self.findings_dock], sizes, Qt.Orientation.Horizontal)

    def set_dark(self, on: bool) -> None:
        """Switch the palette (the whole application's) and remember it."""
        from inspector.qt import theme

        theme.apply("dark" if on else "light")
        if self.dark_action.isChecked() != on:
            self.dark_action.setChecked(on)
        self._set_pref(theme="dark" if on else "light")

    def _on_log_changed(self, on: bool) -> None:
        self.log_action.blockSignals(True)
        self.log_action.setChecked(on)
        self.log_action.blockSignals(False)
        self._set_pref(log_y=on)

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.prefs.recent:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.prefs.recent))
        self.welcome.set_recent(list(self.prefs.recent))

    # ------------------------------------------------------------------------------------------------ exports
    def _save_path(self, title: str, default_name: str, filters: str) -> str:
        start = str(Path(self.prefs.last_dir or ".") / default_name)
        path, _ = QFileDialog.getSaveFileName(self, title, start, filters)
        if path:
            self._set_pref(last_dir=str(Path(path).parent))  # the next dialog opens here
        return path

    def _stem(self) -> str:
        return Path(self.doc.path).name.split(".")[0] if self.doc.path else "model"

    def choose_export_figure(self) -> None:
        key = next((k for k, v in self.views.items() if v is self.tabs.currentWidget()), "figure")
        path = self._save_path("Export figure", f"{self._stem()}-{key}.png", exporting.FIGURE_FILTER)
        if path:
            self.export_figure(path)

    def export_figure(self, path: str) -> None:
        try:
            out = exporting.export_figure(self.tabs.currentWidget(), path)
        except InspectorError as e:
            self.message_bar.show_message(f"Could not export the figure: {e}", "error")
            return
        self.notify(f"Figure written to {out}.", "info")

    def current_table_model(self):
        """The layer view in front (tree or table), as it is filtered and sorted."""
        return self.tree.proxy if self.layer_views.currentWidget() is self.tree else self.layers.proxy

    def choose_export_table(self) -> None:
        kind = "tree" if self.layer_views.currentWidget() is self.tree else "layers"
        path = self._save_path("Export table", f"{self._stem()}-{kind}.csv", exporting.TABLE_FILTER)
        if path:
            self.export_table(path)

    def export_table(self, path: str, model=None) -> None:
        try:
            out = exporting.export_table(model if model is not None else self.current_table_model(), path)
        except (InspectorError, OSError) as e:
            self.message_bar.show_message(f"Could not export the table: {e}", "error")
            return
        self.notify(f"Table written to {out}.", "info")

    def copy_finding(self) -> None:
        """The selected finding's text to the clipboard (to paste into a review)."""
        f = self.findings.current_finding()
        if f is None:
            self.notify("Select a finding first.", "warning")
            return
        QApplication.clipboard().setText(exporting.finding_text(f))
        self.notify("Finding copied.", "info")

    def _table_menu(self, view: QAbstractItemView, pos) -> None:
        menu = QMenu(self)
        menu.addAction(self.export_table_action)
        menu.exec(view.viewport().mapToGlobal(pos))

    def _findings_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction(self.copy_finding_action)
        menu.exec(self.findings.tree.viewport().mapToGlobal(pos))

    def _update_title(self) -> None:
        self.setWindowTitle(f"{display_name(self.doc.path)} — {TITLE}" if self.doc.path else TITLE)

    # ------------------------------------------------------------------------------------------------ drag/drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_path(urls[0].toLocalFile())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._restored_state:  # first run: give the table and the findings room
            self._restored_state = True
            self._size_docks()

    # ------------------------------------------------------------------------------------------------ closing
    def shutdown(self) -> None:
        """Cancel and join every worker, save settings. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        S.save(self.qsettings, self.prefs)
        S.save_geometry(self.qsettings, self.saveGeometry(), self.saveState())
        self.qsettings.sync()
        self.pool.join()
        for panel in self.views.values():  # after the join: no worker still writes their files
            close = getattr(panel, "shutdown", None)
            if close is not None:
                close()
        self.error_dialog.hide()

    def unexported_scrub(self) -> bool:
        """Whether a scrub is applied whose result was never exported (it lives in a temporary folder)."""
        applied = self.doc.scrubbed
        return applied is not None and applied is not self._exported_scrub

    def ask_quit(self, text: str) -> bool:
        """Ask before closing (a modal question; tests replace it)."""
        answer = QMessageBox.question(
            self,
            "Quit Model Inspector",
            text,
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._shut_down and self.unexported_scrub():
            text = (
                "A scrub is applied but was not exported: the scrubbed weights are only in a temporary folder "
                "and are deleted when the app quits. Discard them?"
            )
            if not self.ask_quit(text):
                event.ignore()
                return
        self.shutdown()
        self.closed.emit()
        super().closeEvent(event)
