"""The Runs panel lists, resumes and exports runs of every task (field rollout on an imported generic
dataset, the melt recurrent field, the trajectory sequence), driven with real clicks."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from fieldcast.app.paths import app_paths
from fieldcast.app.runs.run_table import COLUMNS
from fieldcast.training.events import StepEvent

LEFT = Qt.MouseButton.LeftButton
TASKS = ("field_rollout", "recurrent_field", "sequence")


def _row(panel, name: str) -> int:
    proxy = panel.table.proxy
    return next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name)


def _cell(panel, name: str, column: str) -> str:
    return panel.table.proxy.index(_row(panel, name), COLUMNS.index(column)).data()


def _click_row(panel, name: str) -> None:
    view = panel.table
    QTest.mouseClick(
        view.viewport(), LEFT, pos=view.visualRect(view.proxy.index(_row(panel, name), 0)).center()
    )


def test_runs_of_every_task_are_listed_with_their_task_split_and_baselines(runs_panel, task_run, qtbot):
    runs = {task: task_run(task, runs_panel.runs_dir) for task in TASKS}
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 3, timeout=10_000)
    for task, run in runs.items():
        qtbot.waitUntil(lambda r=run: _cell(runs_panel, r.name, "status") == "completed", timeout=10_000)
        assert _cell(runs_panel, run.name, "task") == task
        assert _cell(runs_panel, run.name, "split").startswith("along time"), task
        assert _cell(runs_panel, run.name, "parameters") not in ("", "0"), task
    field, melt, seq = (runs[t].name for t in TASKS)
    assert _cell(runs_panel, field, "system").startswith(
        "generic:"
    )  # carried by the run: the recipe said auto
    assert _cell(runs_panel, melt, "model") == "convlstm h64"
    assert _cell(runs_panel, seq, "model") == "lstm h8 l2"
    assert "smoke" in _cell(runs_panel, field, "best per channel")  # the imported channel's MSE
    assert "(persistence " in _cell(runs_panel, melt, "best per channel")
    best = _cell(runs_panel, seq, "best per channel")
    assert "rmse_um" in best and "zero " in best and "linear " in best

    _click_row(runs_panel, seq)
    details = runs_panel.details.text()
    assert "task sequence" in details and "only 2 trajectories, so later frames of each validate" in details
    assert "traj.h5" in details


@pytest.mark.parametrize("task", TASKS)
def test_a_stopped_run_of_every_task_resumes_in_the_train_panel(make_window, task_run, qtbot, task):
    run = task_run(task, app_paths().runs, cancel_at=2)
    saved = json.loads((run / "checkpoints" / "last.json").read_text())["step"]
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    window.show_panel("runs")
    runs, train = window.panels["runs"], window.panels["train"]
    qtbot.waitUntil(lambda: runs.table.runs.rowCount() == 1, timeout=10_000)
    _click_row(runs, run.name)
    assert _cell(runs, run.name, "status") == "cancelled" and runs.resume_button.isEnabled()

    QTest.mouseClick(runs.resume_button, LEFT)
    assert window.current_panel().name == "train" and train.controller.state == "running"
    seen: list = []
    train.controller.worker.sig_event.connect(seen.append, Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: any(isinstance(e, StepEvent) for e in seen), timeout=60_000)
    assert next(e for e in seen if isinstance(e, StepEvent)).step == saved + 1
    assert train.plots.task == task
    QTest.mouseClick(train.stop_button, LEFT)
    qtbot.waitUntil(lambda: train.controller.state == "idle", timeout=60_000)


def test_an_export_that_fails_says_why_and_keeps_the_run(runs_panel, qtbot):
    run = runs_panel.runs_dir / "no-weights"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"status": "completed", "name": "no-weights", "task": "sequence"}')
    (run / "config.yaml").write_text("name: no-weights\ntask: sequence\n")
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 1, timeout=10_000)
    _click_row(runs_panel, "no-weights")
    QTest.mouseClick(runs_panel.export_button, LEFT)
    qtbot.waitUntil(lambda: runs_panel.export_worker is None, timeout=60_000)
    dialog = runs_panel.report_dialog
    assert dialog is not None and dialog.windowTitle() == "Export failed"
    assert "unchanged" in dialog.informativeText()
    assert run.is_dir() and not (run / "model.onnx").exists()
    assert not runs_panel.play_button.isEnabled()
    dialog.close()


@pytest.mark.parametrize("task", TASKS)
def test_a_run_of_every_task_exports_and_opens_in_play(runs_panel, task_run, qtbot, task):
    run = task_run(task, runs_panel.runs_dir)
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 1, timeout=10_000)
    _click_row(runs_panel, run.name)
    QTest.mouseClick(runs_panel.export_button, LEFT)
    qtbot.waitUntil(lambda: runs_panel.export_worker is None, timeout=120_000)
    dialog = runs_panel.report_dialog
    assert dialog is not None and dialog.windowTitle() == "Exported to ONNX", dialog.text()
    assert "fp32" in dialog.informativeText()
    dialog.close()
    assert (run / "model.onnx").is_file() and runs_panel.play_button.isEnabled()
    with qtbot.waitSignal(runs_panel.sig_open_paths) as opened:
        QTest.mouseClick(runs_panel.play_button, LEFT)
    assert opened.args == [[str(run / "model.onnx")]]
