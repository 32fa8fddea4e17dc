"""The Accuracy tab says up front which architecture recipe builds the model, or that none exists and what to do."""

from __future__ import annotations

from dataclasses import replace

from tests.qt.conftest import wait_scanned


def test_accuracy_says_up_front_that_no_recipe_exists_and_what_to_do(qtbot, main_window, tiny_model):
    from inspector.core.evaluate import RECIPES

    w = main_window()
    acc = w.views["accuracy"]
    w.open_path(tiny_model)  # its metadata names no architecture
    wait_scanned(qtbot, w)
    note = acc.recipe_note.text()
    assert "No architecture recipe" in note and "tiny.safetensors" in note and "Inputs panel" in note
    assert acc.recipe_source() == (None, "") and not acc.table.isVisibleTo(acc)  # no empty table either
    acc.data.setText(str(tiny_model))
    acc.evaluate()  # refused with the same advice, nothing started
    assert not acc.slot.busy and "names no architecture recipe" in w.message_bar.label.text()
    name = sorted(RECIPES)[0]
    w.doc.options = replace(w.doc.options, arch=name)  # what the Inputs panel sets when applied
    acc.show_recipe()
    assert acc.recipe_source() == (name, "the Inputs panel's architecture") and name in acc.recipe_note.text()
    acc.arch.setCurrentText(sorted(RECIPES)[-1])
    assert acc.recipe_note.text().startswith("Recipe: ") and "chosen here" in acc.recipe_note.text()
