"""A dataset from elsewhere goes through the panels with no hand-written recipe, driven with real clicks:
the Train panel picks the dataset's default recipe by itself and says how the data will be split; the
edited recipe trains, stops, resumes and finishes; the run appears in the Runs panel with its task and
split, exports to ONNX and opens on Play's generic field page."""

from __future__ import annotations

import json

import yaml
from PySide6.QtTest import QTest
from train_gui import (
    FOREIGN_NAME,
    LEFT,
    choose_in_combo,
    choose_recipe,
    click_tab,
    edit_cell,
    type_into,
    write_foreign_well,
)

from fieldcast.app.paths import app_paths
from fieldcast.app.runs.run_table import COLUMNS
from fieldcast.app.train.panel import DEFAULT_LABEL

ONE_TRAJECTORY_SPLIT = "along time 70:15:15 of every trajectory (1 trajectory)"


def _row_cell(table, name: str, column: str) -> str:
    proxy = table.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name)
    return proxy.index(row, COLUMNS.index(column)).data()


def test_a_foreign_well_file_trains_with_its_default_recipe_and_shows_in_runs(make_window, qtbot):
    paths = app_paths()
    paths.data.mkdir(parents=True, exist_ok=True)
    data = write_foreign_well(paths.data / "lab_run.h5")
    window = make_window()
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    # The window opens on Play, simulating; pause it so the training has the machine's two cores.
    play_button = window.panels["play"].transport.play_button
    qtbot.waitUntil(play_button.isChecked, timeout=10_000)
    QTest.mouseClick(play_button, LEFT)
    assert not play_button.isChecked()
    click_tab(qtbot, window, "train")
    train = window.panels["train"]

    # Choosing a dataset of a system Fieldcast does not ship picks its default recipe by itself.
    with qtbot.waitSignal(train.controller.sig_recipe_loaded, timeout=60_000) as loaded:
        choose_in_combo(qtbot, train.dataset_combo, str(data))
    assert loaded.args[0].is_default and loaded.args[0].dataset == data
    assert train.recipe_combo.currentText() == DEFAULT_LABEL
    note = train.dataset_note.text()
    assert f"generic:{FOREIGN_NAME}" in note and "built from the file's own fields" in note
    assert ONE_TRAJECTORY_SPLIT in note and "only 1 trajectory, so later frames of each validate" in note
    form = train.form
    assert form.editors["task"].currentText() == "field_rollout"
    assert form.editors["model.name"].currentText() == "unet" and form.editors["data.split"].text() == "auto"
    assert "Default recipe for lab_run.h5" in train.recipe_status.text()

    # A shipped recipe of another system is refused in words; the default comes back with two clicks.
    choose_recipe(train, qtbot, "smoke_tiny")
    assert "holds generic:" in train.recipe_status.text()
    choose_recipe(train, qtbot, DEFAULT_LABEL)
    assert train.recipe.is_default

    edit_cell(qtbot, form.stage_table, 0, "epochs", "4")
    type_into(form.editors["data.batch_size"], "4")
    type_into(form.editors["model.args.base_width"], "8")
    qtbot.waitUntil(train.start_button.isEnabled, timeout=5_000)
    QTest.mouseClick(train.start_button, LEFT)
    qtbot.waitUntil(lambda: train.data_label.isVisible(), timeout=60_000)
    assert "field rollout" in train.data_label.text() and ONE_TRAJECTORY_SPLIT in train.data_label.text()
    valid = train.plots.loss
    qtbot.waitUntil(lambda: valid.drawn_count("valid") >= 1, timeout=60_000)
    QTest.mouseClick(train.stop_button, LEFT)
    qtbot.waitUntil(lambda: train.controller.state == "idle", timeout=60_000)
    run = train.controller.run_dir
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"
    QTest.mouseClick(train.resume_button, LEFT)
    qtbot.waitUntil(lambda: train.controller.state == "idle", timeout=60_000)
    assert "Finished: completed" in train.stage_label.text(), train.stage_label.text()

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["system"] == "auto" and config["train"]["epochs"] == 4
    assert config["data"]["split"] == [70.0, 15.0, 15.0]  # the split really used, written down
    assert config["model"]["args"]["base_width"] == 8
    assert json.loads((run / "run.json").read_text())["task"] == "field_rollout"

    click_tab(qtbot, window, "runs")
    runs = window.panels["runs"]
    table = runs.table
    qtbot.waitUntil(lambda: table.runs.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: _row_cell(table, run.name, "status") == "completed", timeout=10_000)
    assert _row_cell(table, run.name, "task") == "field_rollout"
    assert _row_cell(table, run.name, "split") == ONE_TRAJECTORY_SPLIT
    assert _row_cell(table, run.name, "system") == f"generic:{FOREIGN_NAME}"
    row = next(r for r in range(table.proxy.rowCount()) if table.proxy.index(r, 0).data() == run.name)
    QTest.mouseClick(table.viewport(), LEFT, pos=table.visualRect(table.proxy.index(row, 0)).center())
    details = runs.details.text()
    assert runs.details.isVisible() and "task field_rollout" in details
    assert "only 1 trajectory, so later frames of each validate" in details

    QTest.mouseClick(runs.export_button, LEFT)
    qtbot.waitUntil(lambda: runs.export_worker is None, timeout=60_000)
    report = runs.report_dialog
    assert report.windowTitle() == "Exported to ONNX", report.text()
    assert "matches torch" in report.informativeText()
    report.close()
    assert runs.play_button.isEnabled()
    QTest.mouseClick(runs.play_button, LEFT)
    play = window.panels["play"]
    assert window.current_panel() is play
    qtbot.waitUntil(lambda: play.pages.currentWidget() is play.field, timeout=10_000)
