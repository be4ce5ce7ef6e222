"""The recipe form checks values as they are typed and says why a value is refused."""

from __future__ import annotations

from PySide6.QtTest import QTest
from train_gui import type_into, write_foreign_well

from fieldcast.app.train.panel import shipped_recipes


def test_a_bad_value_is_marked_with_its_reason_and_blocks_start(ready_panel, qtbot):
    panel = ready_panel()
    form = panel.form
    editor = form.editors["optim.weight_decay"]
    editor.selectAll()
    QTest.keyClicks(editor, "-0.5")
    label = form.error_labels["optim.weight_decay"]
    assert label.isVisible() and label.text() == "must be ≥ 0"
    assert not panel.start_button.isEnabled()
    assert "fix the fields" in panel.start_button.toolTip()
    editor.selectAll()
    QTest.keyClicks(editor, "0.01")
    assert not label.isVisible() and panel.start_button.isEnabled()
    assert all(stage["optim"]["weight_decay"] == 0.01 for stage in form.stages())


def test_curriculum_cells_and_strict_recipe_checks(ready_panel, qtbot):
    panel = ready_panel()
    form = panel.form
    form.stage_table.item(0, 2).setText("fast")
    assert form.general_error.isVisible() and "learning rate: must be a number" in form.general_error.text()
    assert not panel.start_button.isEnabled()
    form.stage_table.item(0, 2).setText("2e-3")
    assert form.is_valid() and form.stages()[0]["optim"]["lr"] == 2e-3

    name = form.editors["model.name"]
    name.setCurrentText("transformerz")  # well-formed, but no such family: the recipe loader says so
    qtbot.waitUntil(lambda: form.error_labels["model.name"].isVisible(), timeout=5_000)
    assert "unknown model family" in form.error_labels["model.name"].text()
    assert not panel.start_button.isEnabled()


def test_shipped_curricula_load_with_all_their_stages(train_panel, qtbot):
    names = [p.stem for p in shipped_recipes()]
    assert "smoke_k4" in names and "smoke_base" not in names
    combo = train_panel.recipe_combo
    with qtbot.waitSignal(train_panel.controller.sig_recipe_loaded, timeout=60_000):
        combo.setCurrentIndex(combo.findText("smoke_k3"))
        combo.activated.emit(combo.currentIndex())
    table = train_panel.form.stage_table
    assert table.rowCount() == 3
    assert [table.item(r, 0).text() for r in range(3)] == ["1", "2", "3"]
    assert "smoke_k1 → smoke_k2 → smoke_k3" in train_panel.recipe_status.text()
    assert not train_panel.start_button.isEnabled()  # no dataset chosen yet


def test_without_pytorch_the_panel_says_so_instead_of_failing(qtbot, monkeypatch, tmp_path):
    from fieldcast.app.train import panel as train_panel

    monkeypatch.setattr(train_panel, "training_available", lambda: False)
    panel = train_panel.TrainPanel()
    qtbot.addWidget(panel)
    assert not panel.start_button.isEnabled() and not panel.recipe_combo.isEnabled()
    assert "PyTorch" in panel.recipe_status.text()
    panel.set_dataset(write_foreign_well(tmp_path / "foreign.h5"))  # no default recipe is built for it
    qtbot.waitUntil(lambda: "Split" in panel.dataset_note.text(), timeout=10_000)
    assert "PyTorch" in panel.recipe_status.text() and panel.recipe is None


def test_the_split_note_follows_the_split_typed_in_the_form(ready_panel, qtbot):
    panel = ready_panel()
    note = panel.dataset_note
    qtbot.waitUntil(lambda: "by trajectory: 1 train, 1 valid, 1 test" in note.text(), timeout=10_000)
    editor = panel.form.editors["data.split"]
    type_into(editor, "12:6:6")
    qtbot.waitUntil(
        lambda: "along time 12:6:6 of every trajectory (3 trajectories)" in note.text(), timeout=10_000
    )
    assert panel.form.stages()[-1]["data"]["split"] == [12.0, 6.0, 6.0]
    type_into(editor, "12:6")
    assert panel.form.error_labels["data.split"].isVisible() and not panel.start_button.isEnabled()
