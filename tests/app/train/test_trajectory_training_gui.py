"""The trajectory LSTM (task sequence) trains from the Train panel through the one pipeline, driven with
real clicks: the form shows the sequence settings, validation is plotted beside the zero and linear-filter
baselines, and the run stops, resumes and takes a new learning rate like every other task."""

from __future__ import annotations

import json
import time

import yaml
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from train_gui import LEFT, choose_recipe, edit_cell, type_into

from fieldcast.app.train.texts import NO_SAMPLES
from fieldcast.training.events import DataEvent, FinishedEvent, StepEvent


def _record_thread_events(panel) -> list:
    seen: list = []
    panel.controller.worker.sig_event.connect(
        lambda e: seen.append((time.monotonic(), e)), Qt.ConnectionType.DirectConnection
    )
    return seen


def _wait_idle(panel, qtbot) -> None:
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=60_000)


def _prepare(panel, qtbot, dataset, epochs: str) -> None:
    panel.set_dataset(dataset)
    choose_recipe(panel, qtbot, "trajectory_lstm")
    edit_cell(qtbot, panel.form.stage_table, 0, "epochs", epochs)
    type_into(panel.form.editors["model.args.hidden_size"], "16")
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=5_000)


def test_the_trajectory_lstm_trains_with_its_baselines_beside_it(train_panel, qtbot, trajectory_dataset):
    panel = train_panel
    _prepare(panel, qtbot, trajectory_dataset, "3")
    form = panel.form
    assert panel.recipe.task == "sequence"
    assert form.editors["sequence.seq_len"].isVisible() and form.editors["sequence.seq_len"].text() == "50"
    assert form.editors["sequence.warmup"].text() == "10"
    assert not form.editors["rollout.gamma"].isVisible() and not form.editors["recurrent.context"].isVisible()
    # Checked as typed, by the recipe loader too: a warm-up as long as the window leaves nothing to learn.
    type_into(form.editors["sequence.warmup"], "50")
    qtbot.waitUntil(lambda: form.error_labels["sequence.warmup"].isVisible(), timeout=5_000)
    assert "sequence.seq_len" in form.error_labels["sequence.warmup"].text()
    assert not panel.start_button.isEnabled()
    type_into(form.editors["sequence.warmup"], "10")
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=5_000)
    # Two trajectories: the panel says, before training, that later samples of each validate.
    qtbot.waitUntil(lambda: "along time 70:15:15" in panel.dataset_note.text(), timeout=10_000)
    assert "2 trajectories" in panel.dataset_note.text()

    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    _wait_idle(panel, qtbot)

    data = [e for _, e in seen if isinstance(e, DataEvent)]
    assert [d.task for d in data] == ["sequence"] and "along time" in data[0].split
    assert "sequence" in panel.data_label.text() and "validation trajectories" in panel.data_label.text()
    assert [e.status for _, e in seen if isinstance(e, FinishedEvent)] == ["completed"]
    plots = panel.plots
    plots.flush()
    for key in ("rmse_um", "zero_rmse_um", "linear_rmse_um"):
        assert plots.metrics.drawn_count(key) == 3, key
    assert plots.scores.isVisible() and plots.scores.has_curve("linear_r2")
    assert not plots.rollout.isVisible()
    assert panel.samples.caption.text() == NO_SAMPLES

    run = panel.controller.run_dir
    assert json.loads((run / "run.json").read_text())["task"] == "sequence"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["args"]["hidden_size"] == 16 and config["train"]["epochs"] == 3


def test_a_trajectory_run_stops_takes_a_new_lr_and_resumes(train_panel, qtbot, trajectory_dataset):
    panel = train_panel
    _prepare(panel, qtbot, trajectory_dataset, "100000")
    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    metrics = panel.plots.metrics
    qtbot.waitUntil(
        lambda: metrics.has_curve("rmse_um") and metrics.drawn_count("rmse_um") >= 1, timeout=60_000
    )
    type_into(panel.lr_edit, "3e-4")
    QTest.mouseClick(panel.lr_button, LEFT)
    at_lr = max(e.step for _, e in seen if isinstance(e, StepEvent))
    qtbot.waitUntil(lambda: max(e.step for _, e in seen if isinstance(e, StepEvent)) > at_lr + 1)
    QTest.mouseClick(panel.pause_button, LEFT)
    assert panel.controller.state == "paused"
    QTest.mouseClick(panel.resume_button, LEFT)
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)

    assert [e.status for _, e in seen if isinstance(e, FinishedEvent)] == ["cancelled"]
    run = panel.controller.run_dir
    saved = json.loads((run / "checkpoints" / "last.json").read_text())["step"]
    assert any(
        json.loads(line).get("base_lr") == 3e-4 for line in (run / "metrics.jsonl").read_text().splitlines()
    )
    QTest.mouseClick(panel.resume_button, LEFT)
    resumed = _record_thread_events(panel)
    qtbot.waitUntil(lambda: any(isinstance(e, StepEvent) for _, e in resumed), timeout=60_000)
    assert next(e for _, e in resumed if isinstance(e, StepEvent)).step == saved + 1
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"
