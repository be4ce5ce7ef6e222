"""The melt microstructure ConvLSTM (task recurrent_field) trains from the Train panel through the one
pipeline, driven with real clicks: its recipe is edited in the form, its validation is plotted beside the
persistence baseline, and it stops, resumes and takes a new learning rate like every other task."""

from __future__ import annotations

import json
import time

import yaml
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from train_gui import LEFT, choose_recipe, edit_cell, type_into

from fieldcast.app.runs.run_watcher import read_records
from fieldcast.training.events import DataEvent, FinishedEvent, StepEvent


def _record_thread_events(panel) -> list:
    seen: list = []
    panel.controller.worker.sig_event.connect(
        lambda e: seen.append((time.monotonic(), e)), Qt.ConnectionType.DirectConnection
    )
    return seen


def _wait_idle(panel, qtbot) -> None:
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=60_000)


def test_the_shipped_melt_recipe_trains_in_the_form_with_persistence_beside_it(
    train_panel, qtbot, melt_dataset
):
    panel = train_panel
    panel.set_dataset(melt_dataset)
    choose_recipe(panel, qtbot, "melt_convlstm")
    form = panel.form
    assert panel.recipe.task == "recurrent_field" and form.isVisible()
    # The form shows the recurrent task's own settings, and not the field-rollout ones.
    assert form.editors["recurrent.context"].isVisible() and form.editors["recurrent.context"].text() == "3"
    assert form.editors["recurrent.condition_channels"].text() == "temperature"
    assert form.editors["data.split"].text() == "12:6:6"
    assert form.editors["model.args.hidden"].isVisible()
    assert not form.editors["rollout.gamma"].isVisible() and not form.editors["model.args.depth"].isVisible()
    assert form.stage_table.isColumnHidden(0)  # no K-step rollout for this task
    qtbot.waitUntil(lambda: "along time 12:6:6" in panel.dataset_note.text(), timeout=10_000)

    edit_cell(qtbot, form.stage_table, 0, "epochs", "3")
    type_into(form.editors["data.batch_size"], "4")
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=5_000)
    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    _wait_idle(panel, qtbot)

    data = [e for _, e in seen if isinstance(e, DataEvent)]
    assert [d.task for d in data] == ["recurrent_field"] and "12:6:6" in data[0].split
    assert "recurrent field" in panel.data_label.text() and data[0].split in panel.data_label.text()
    finished = [e for _, e in seen if isinstance(e, FinishedEvent)]
    assert [f.status for f in finished] == ["completed"]
    plots = panel.plots
    plots.flush()
    assert plots.loss.drawn_count("train_epoch") == 3
    for key in ("mse", "front_mse", "persistence_mse", "persistence_front_mse"):
        assert plots.metrics.drawn_count(key) == 3, key
    assert not plots.rollout.isVisible() and not plots.scores.isVisible()  # no scores: metrics span the row
    qtbot.waitUntil(lambda: panel.samples.image_count() > 0)  # the ConvLSTM's next frame beside the truth
    assert "Finished: completed" in panel.stage_label.text()

    run = panel.controller.run_dir
    status = json.loads((run / "run.json").read_text())
    assert status["status"] == "completed" and status["task"] == "recurrent_field"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["name"] == "convlstm" and config["train"]["epochs"] == 3
    assert config["data"]["batch_size"] == 4
    kinds = [r["kind"] for r in read_records(run / "metrics.jsonl")]
    assert kinds.count("validation") == 3 and kinds.count("epoch") == 3


def test_a_melt_run_stops_within_one_batch_takes_a_new_lr_and_resumes(train_panel, qtbot, melt_dataset):
    panel = train_panel
    panel.set_dataset(melt_dataset)
    choose_recipe(panel, qtbot, "melt_convlstm")
    edit_cell(qtbot, panel.form.stage_table, 0, "epochs", "10000")
    type_into(panel.form.editors["data.batch_size"], "4")
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=5_000)

    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    metrics = panel.plots.metrics
    qtbot.waitUntil(
        lambda: metrics.has_curve("front_mse") and metrics.drawn_count("front_mse") >= 1, timeout=60_000
    )
    assert panel.lr_button.isEnabled()
    type_into(panel.lr_edit, "2e-4")
    QTest.mouseClick(panel.lr_button, LEFT)
    at_lr = max(e.step for _, e in seen if isinstance(e, StepEvent))
    qtbot.waitUntil(lambda: max(e.step for _, e in seen if isinstance(e, StepEvent)) > at_lr + 1)
    QTest.mouseClick(panel.stop_button, LEFT)
    clicked = time.monotonic()
    _wait_idle(panel, qtbot)

    late = [e.step for t, e in seen if t > clicked and isinstance(e, StepEvent)]
    assert len(late) <= 1, f"steps after stop: {late}"
    assert [e.status for _, e in seen if isinstance(e, FinishedEvent)] == ["cancelled"]
    run = panel.controller.run_dir
    saved = json.loads((run / "checkpoints" / "last.json").read_text())["step"]
    changes = [r for r in read_records(run / "metrics.jsonl") if r["kind"] == "lr_change"]
    assert changes and changes[0]["base_lr"] == 2e-4

    assert panel.resume_button.isEnabled()
    QTest.mouseClick(panel.resume_button, LEFT)
    resumed = _record_thread_events(panel)
    qtbot.waitUntil(lambda: any(isinstance(e, StepEvent) for _, e in resumed), timeout=60_000)
    assert next(e for _, e in resumed if isinstance(e, StepEvent)).step == saved + 1
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"
