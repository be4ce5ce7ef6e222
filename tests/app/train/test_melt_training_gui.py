"""Issue #9: the melt microstructure ConvLSTM trains from the Train panel, driven with real clicks."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from fieldcast.app.runs.run_watcher import read_records
from fieldcast.resources import resource_path
from fieldcast.training.events import FinishedEvent, StepEvent

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(scope="session")
def melt_dataset(tmp_path_factory):
    """Two simulated melt trajectories of sixteen 16×8 frames: with the recipes' 12:6:6 time split and
    windows of four frames, each trajectory gives five training windows and one validation window."""
    from fieldcast.engine.generation import generate_dataset

    path = tmp_path_factory.mktemp("melt-data") / "melt16.h5"
    for _ in generate_dataset("melt", path, trajectories=2, frames=16, size=16, seed=0):
        pass
    return path


def _choose_recipe(panel, qtbot, name: str) -> None:
    """Open the recipe list and click ``name`` in it."""
    combo = panel.recipe_combo
    QTest.mouseClick(combo, LEFT)
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    index = combo.model().index(combo.findText(name), 0)
    view.scrollTo(index)
    # The list ignores a release that comes sooner than a double click after it opened (a press-drag-release
    # on the combo box), as a user's hand never does.
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    with qtbot.waitSignal(panel.controller.sig_recipe_loaded, timeout=60_000):
        QTest.mouseClick(view.viewport(), LEFT, pos=view.visualRect(index).center())


def _record_thread_events(panel) -> list:
    seen: list = []
    panel.controller.worker.sig_event.connect(
        lambda e: seen.append((time.monotonic(), e)), Qt.ConnectionType.DirectConnection
    )
    return seen


def test_the_shipped_melt_recipe_trains_to_the_end_with_live_curves(train_panel, qtbot, melt_dataset):
    panel = train_panel
    panel.set_dataset(melt_dataset)
    _choose_recipe(panel, qtbot, "melt_convlstm")
    assert panel.recipe.kind == "melt"
    assert panel.form_note.isVisible() and not panel.form.isVisible()
    assert "does not apply" in panel.form_note.text() and "melt_convlstm.yaml" in panel.form_note.text()
    assert panel.start_button.isEnabled()

    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    assert panel.controller.state == "running"
    loss, metrics = panel.plots.loss, panel.plots.metrics
    qtbot.waitUntil(lambda: loss.drawn_count("train") >= 3, timeout=60_000)
    assert not panel.lr_button.isEnabled()  # the melt loop has no learning-rate control
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=120_000)

    finished = [e for _, e in seen if isinstance(e, FinishedEvent)]
    assert [f.status for f in finished] == ["completed"]
    epochs = yaml.safe_load((resource_path("recipes") / "melt" / "melt_convlstm.yaml").read_text())["train"]
    panel.plots.flush()
    assert loss.drawn_count("train_epoch") == epochs["epochs"]
    for key in ("mse", "front_mse", "persistence_mse", "persistence_front_mse"):
        assert metrics.drawn_count(key) == epochs["epochs"], key
    assert not panel.plots.rollout.isVisible()
    assert "Finished: completed" in panel.stage_label.text()

    run = panel.controller.run_dir
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert (run / "checkpoints" / "best.safetensors").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["name"] == "convlstm"
    kinds = [r["kind"] for r in read_records(run / "metrics.jsonl")]
    assert kinds.count("validation") == epochs["epochs"] and "step" in kinds
    assert not panel.resume_button.isEnabled()


def test_stop_ends_a_melt_run_within_one_batch(train_panel, qtbot, melt_dataset, tmp_path):
    recipe = yaml.safe_load((resource_path("recipes") / "melt" / "melt_convlstm.yaml").read_text())
    recipe["train"]["epochs"] = 10_000
    recipe["data"]["batch_size"] = 4
    path = tmp_path / "melt_long.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    panel = train_panel
    panel.set_dataset(melt_dataset)
    with qtbot.waitSignal(panel.controller.sig_recipe_loaded, timeout=60_000):
        panel.open_path(path)
    assert panel.recipe.kind == "melt" and panel.start_button.isEnabled()

    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    qtbot.waitUntil(lambda: panel.plots.metrics.drawn_count("front_mse") >= 2, timeout=60_000)
    QTest.mouseClick(panel.stop_button, LEFT)
    clicked = time.monotonic()  # the click has set the trainer's cancel token: at most the batch on the way
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=60_000)

    late_steps = [e.step for t, e in seen if t > clicked and isinstance(e, StepEvent)]
    assert len(late_steps) <= 1, f"steps after stop: {late_steps}"
    finished = [e for _, e in seen if isinstance(e, FinishedEvent)]
    assert [f.status for f in finished] == ["cancelled"]
    run = panel.controller.run_dir
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"
    assert (run / "checkpoints" / "last.safetensors").is_file()  # from the last finished epoch
    assert not panel.resume_button.isEnabled()  # train_melt cannot continue a run
