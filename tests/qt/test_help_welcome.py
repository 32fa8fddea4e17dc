"""Help that teaches (F1 per view, shortcuts sheet from the actions) and the welcome page (demo, recent)."""

from __future__ import annotations

from tests.qt.conftest import wait_scanned


def test_welcome_page_until_a_model_opens_then_recent_files(qtbot, main_window, tiny_model):
    w = main_window()
    assert w.center.currentWidget() is w.welcome and not w.welcome.recent.isVisible()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    assert w.center.currentWidget() is w.tabs
    w.close()
    w2 = main_window()
    assert w2.center.currentWidget() is w2.welcome
    item = w2.welcome.recent.item(0)
    assert item.data(0x0100) == str(tiny_model)  # Qt.UserRole
    with qtbot.waitSignal(w2.doc.opened, timeout=10_000):
        w2.welcome.recent.itemActivated.emit(item)


def test_demo_button_opens_the_demo_against_its_baseline(qtbot, main_window):
    w = main_window()
    assert w.welcome.demo_btn.isVisibleTo(w.welcome)
    w.welcome.demo_btn.click()
    result = wait_scanned(qtbot, w)
    assert result.model.path.endswith("mlp-sgn-l100.safetensors") and w.doc.baseline.kind == "model"
    assert result.verdict == "suspicious"


def test_f1_opens_the_guide_of_the_current_view_and_shortcuts_list_the_actions(qtbot, main_window, tiny_model):
    from inspector.qt import help as H

    w = main_window()
    w.open_path(tiny_model)
    wait_scanned(qtbot, w)
    w.tabs.setCurrentWidget(w.depth_view)
    w.show_guide()
    text = w.help_dialog.browser.toPlainText()
    assert w.help_dialog.isVisible() and text.startswith("Depth")  # the current view's section first
    for title, _ in H.FAMILY_GUIDE.values():
        assert title in text
    assert "arcsine law" in text and "√η²" in text and "Wasserstein σ" in text  # terms the app shows, explained
    keys = dict(H.shortcuts(w))
    assert {"F1", "Ctrl+F", "Ctrl+Z", "Alt+3", "Ctrl+Shift+F", "Ctrl+Shift+T"} <= set(keys)
    w.show_shortcuts()
    assert "Export table" in w.help_dialog.browser.toPlainText()
    w.show_tab(2)
    assert w.tabs.currentWidget() is w.depth_view
    w.focus_search()
    assert w.layers_dock.isVisible()


def test_the_guide_shows_a_picture_per_view_and_family_and_explains_scores(qtbot, main_window):
    """Each picture exists, is small, is shown once, and loads in the guide; the scores are explained."""
    import re
    from pathlib import Path

    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    from inspector.qt import help as H

    names = {n for names in H.PICTURES.values() for n in names}
    assert set(H.PICTURES) >= {"histogram", "grid", "depth", "bits", "image"} | set(H.FAMILY_GUIDE)
    for name in names:
        path = Path(H.picture_path(name))
        assert path.is_file() and path.stat().st_size < 100_000, name
    html = H.guide_html("bits")
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == len(names) == len(set(sources))  # each picture once
    assert html.index("bits-lsb.png") < html.index("Scores")  # the view asked for comes first, then the scores
    w = main_window()
    w.tabs.setCurrentWidget(w.views["bits"])
    w.show_guide()
    doc = w.help_dialog.browser.document()
    for src in sources:
        img = doc.resource(QTextDocument.ResourceType.ImageResource, QUrl(src))
        assert img is not None and not img.isNull(), src
    text = w.help_dialog.browser.toPlainText()
    assert text.startswith("Bit planes") and "1 − 0.3" in text and "0.70" in text and "Sign-off" in text


def test_findings_layer_names_stay_readable_when_narrow(qtbot, main_window, tmp_path):
    """The layer column never wraps (a wrap after "…" showed "……"): one line, elided in the middle, wide enough
    for the end of a deep model's name, the full name in the tooltip."""
    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QStyleOptionViewItem
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    w0 = rng.normal(0, 0.05, (256, 64)).astype(np.float32)
    text = (b"training record: patient 4711, diagnosis ... " * 800)[: w0.size * 2]
    low = np.frombuffer(text, dtype="<u2").astype(np.uint32).reshape(w0.shape)
    name = "model.layers.9.mlp.fc1.weight"
    path = tmp_path / "deep-name.safetensors"
    save_file({name: ((w0.view(np.uint32) & 0xFFFF0000) | low).view(np.float32)}, str(path))
    w = main_window(size=(1024, 680))
    w.open_path(path)
    wait_scanned(qtbot, w)
    tree = w.findings.tree
    item = next(
        tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).toolTip(2) == name
    )
    opt = QStyleOptionViewItem()
    tree.itemDelegateForColumn(2).initStyleOption(opt, tree.indexFromItem(item, 2))
    assert not opt.features & QStyleOptionViewItem.ViewItemFeature.WrapText
    assert opt.textElideMode == Qt.TextElideMode.ElideMiddle
    assert opt.text.endswith("9.mlp.fc1.weight")
    assert tree.header().sectionSize(2) >= opt.fontMetrics.horizontalAdvance(opt.text)  # whole at the default width
