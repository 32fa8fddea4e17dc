"""The module tree (hierarchy, natural order, summaries, search) and the Depth view (bands, strips, click)."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.judge.findings import Finding
from inspector.qt.panels.module_tree import build_tree, natural_key
from tests.qt.conftest import wait_scanned


@pytest.fixture
def deep_model(tmp_path):
    """12 blocks of 4 tensors plus an embedding: names where text order is wrong (layers.10 < layers.2)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    t = {"embed.weight": rng.normal(0, 0.02, (50, 16)).astype(np.float32)}
    for i in range(12):
        scale = 0.3 if i == 7 else 0.05  # one odd layer
        t[f"layers.{i}.attn.weight"] = rng.normal(0, scale, (16, 16)).astype(np.float32)
        t[f"layers.{i}.attn.bias"] = rng.normal(0, 0.01, 16).astype(np.float32)
        t[f"layers.{i}.mlp.weight"] = rng.laplace(0, 0.05, (32, 16)).astype(np.float32)
        t[f"layers.{i}.norm.weight"] = np.ones(16, np.float32)
    path = tmp_path / "deep.safetensors"
    save_file(t, str(path))
    return path


def test_natural_key_orders_numbers_as_numbers():
    names = ["layers.10.w", "layers.2.w", "layers.1.w", "head", "layers.2.b"]
    assert sorted(names, key=natural_key) == ["head", "layers.1.w", "layers.2.b", "layers.2.w", "layers.10.w"]


def test_build_tree_counts_and_worst_finding():
    names = [("layers.10.w", 6), ("layers.2.w", 4), ("layers.2.b", 2), ("emb.weight", 10)]
    f1 = Finding("sign", "sign", "layers.2.w", "warning", 0.4, "odd")
    f2 = Finding("lsb", "lsb", "layers.10.w", "suspicious", 0.9, "bits")
    info = Finding("x", "lsb", "emb.weight", "info", 0.1, "fyi")
    root = build_tree(names, {"layers.2.w": [f1], "layers.10.w": [f2], "emb.weight": [info]})
    assert [n.label for n in root.ordered()] == ["emb", "layers"]
    layers = root.children["layers"]
    assert [n.label for n in layers.ordered()] == ["2", "10"]
    assert (layers.tensors, layers.params) == (3, 12)
    assert layers.worst is f2 and layers.children["2"].worst is f1
    assert root.children["emb"].worst is None  # info findings are not flags
    assert root.tensors == 4 and root.params == 22


def test_module_tree_in_the_window(qtbot, main_window, deep_model):
    w = main_window()
    w.open_path(deep_model)
    wait_scanned(qtbot, w)
    tree = w.tree
    assert tree.top_level_labels() == ["embed", "layers"]
    assert tree.child_labels("layers") == [str(i) for i in range(12)]
    row = tree.block_row("layers")
    assert row is not None and row[1] == "48" and row[2] == f"{12 * (256 + 16 + 512 + 16):,}"
    # selecting a tensor in the tree selects it everywhere; selecting elsewhere moves the tree
    leaf = tree.items["layers.10.mlp.weight"]
    tree.view.setCurrentIndex(tree.proxy.mapFromSource(leaf.index()))
    assert w.doc.selected == "layers.10.mlp.weight"
    w.doc.select("layers.3.attn.bias")
    cur = tree.proxy.mapToSource(tree.view.currentIndex())
    assert tree.model.itemFromIndex(cur.siblingAtColumn(0)) is tree.items["layers.3.attn.bias"]
    # search keeps the matches and their ancestors; a bad regex searches the text as typed
    tree.search.setText(r"layers\.1[01]\.")
    assert tree.count_label.text() == "8 / 49"
    tree.search.setText("layers.1[")
    assert tree.count_label.text() == "0 / 49" and "not a valid" in tree.search.toolTip()
    tree.search.setText("")
    assert tree.count_label.text() == "49 / 49"


def test_flat_table_sorts_names_naturally(qtbot, main_window, deep_model):
    from PySide6.QtCore import Qt

    w = main_window()
    w.open_path(deep_model)
    wait_scanned(qtbot, w)
    w.layers.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    shown = [w.layers.proxy.index(r, 1).data() for r in range(w.layers.proxy.rowCount())]
    blocks = [n.split(".")[1] for n in shown if n.startswith("layers.")]
    assert blocks == sorted(blocks, key=int)


def test_depth_view_bands_strips_and_click(qtbot, main_window, deep_model):
    from inspector.core.formats import open_model, read_tensor

    w = main_window()
    w.open_path(deep_model)
    # by default the weight matrices (norms and biases live on other scales), in model order
    with qtbot.waitSignal(w.depth_view.drawn, timeout=20_000, check_params_cb=lambda n: n == 25):
        wait_scanned(qtbot, w)
    d = w.depth_view
    assert d.names[:4] == ["embed.weight", "layers.0.attn.weight", "layers.0.mlp.weight", "layers.1.attn.weight"]
    assert d.names[-1] == "layers.11.mlp.weight"
    with qtbot.waitSignal(d.drawn, timeout=5000, check_params_cb=lambda n: n == 49):
        d.scope.setCurrentIndex(d.scope.findData("floats"))
    assert d.names == sorted(w.doc.scans, key=natural_key)
    assert d.names[1:5] == ["layers.0.attn.bias", "layers.0.attn.weight", "layers.0.mlp.weight", "layers.0.norm.weight"]
    i = d.names.index("layers.7.attn.weight")
    values = read_tensor(open_model(deep_model)["layers.7.attn.weight"]).astype(np.float64)
    edges = w.doc.scans["layers.7.attn.weight"].stats.histogram.edges
    width = float(edges[1] - edges[0])
    for k, pct in ((2, 15.87), (3, 50.0), (4, 84.13)):
        assert d.bands[i, k] == pytest.approx(np.percentile(values, pct), abs=2 * width)
    # the odd layer's ±1σ band is the widest of the attention weights
    attn = [j for j, n in enumerate(d.names) if n.endswith("attn.weight")]
    assert max(attn, key=lambda j: d.bands[j, 4] - d.bands[j, 2]) == i
    kurt = d.strip_values["kurtosis"]
    assert kurt[i] == pytest.approx(w.doc.scans["layers.7.attn.weight"].stats.kurtosis)
    d.select_index(i)
    assert w.doc.selected == "layers.7.attn.weight"
    assert all(c.isVisible() and c.value() == i for c in d.cursors)
    w.doc.select("embed.weight")
    assert d.cursors[0].value() == d.names.index("embed.weight")


def test_table_keeps_the_name_column_when_scrolled_sideways(qtbot, main_window, deep_model):
    w = main_window(size=(1024, 680))
    w.open_path(deep_model)
    wait_scanned(qtbot, w)
    w.layer_views.setCurrentWidget(w.layers)
    view = w.layers.view
    qtbot.waitUntil(lambda: view.horizontalScrollBar().maximum() > 0, timeout=5000)
    view.horizontalScrollBar().setValue(view.horizontalScrollBar().maximum())
    frozen = view.frozen
    assert frozen.isVisible() and not frozen.isColumnHidden(1) and frozen.isColumnHidden(5)
    assert frozen.width() == view.columnWidth(0) + view.columnWidth(1)
    assert frozen.selectionModel() is view.selectionModel()  # a click on a frozen name selects the layer
    view.verticalScrollBar().setValue(10)
    assert frozen.verticalScrollBar().value() == 10
    row = w.layers.proxy.mapFromSource(w.layers.model.index(w.layers.model.row_of["layers.5.mlp.weight"], 1))
    frozen.setCurrentIndex(row)
    assert w.doc.selected == "layers.5.mlp.weight"


def test_depth_view_compares_with_the_baseline(qtbot, main_window, deep_model, tmp_path):
    import shutil

    ref = tmp_path / "ref.safetensors"
    shutil.copy(deep_model, ref)  # the same weights: the baseline's bands must coincide with the model's
    w = main_window()
    w.open_path(deep_model)
    wait_scanned(qtbot, w)
    d = w.depth_view
    assert not d.base_median.isVisible()
    w.set_baseline_path(str(ref))
    qtbot.waitUntil(lambda: bool(w.doc.baseline_scans) and d.base_median.isVisible(), timeout=20_000)
    np.testing.assert_allclose(d.base_bands[:, 2:5], d.bands[:, 2:5])
    xs, ys = d.base_median.getData()
    assert len(xs) == len(d.names)
