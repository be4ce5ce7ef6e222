"""The generic field page under Xvfb: models of systems Fieldcast does not know, opened through the Play
panel, painted with real mouse events, stepped, reset, started from dataset frames."""

from __future__ import annotations

import numpy as np
import pytest
from generic_models import (
    REACTION,
    drift_frames,
    write_drift_data,
    write_drift_model,
    write_reaction_model,
)
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from qt_events import canvas_stroke, drop_files

from fieldcast.engine.systems.base import get_spec

pytestmark = pytest.mark.gui

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


@pytest.fixture
def play_panel(qtbot, tmp_path):
    """A shown, paused Play panel whose runs folder is empty."""
    from fieldcast.app.play.panel import PlayPanel

    p = PlayPanel(runs=tmp_path / "runs", autoplay=False)
    p.resize(1300, 850)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.shutdown()


def click(widget) -> None:
    QTest.mouseClick(widget, LEFT)


def step(qtbot, view) -> None:
    start = view.frame.index
    click(view.transport.step_button)
    qtbot.waitUntil(lambda: view.frame.index == start + 1, timeout=10_000)


def shown_channel(view) -> np.ndarray:
    """The field the canvas was last given (the channel on screen)."""
    return view.canvas._field


def test_a_model_of_an_unknown_system_opens_in_the_field_page_and_its_control_paints(
    qtbot, play_panel, tmp_path
):
    with pytest.raises(KeyError):
        get_spec(REACTION.name)  # the system is not built in: everything comes from the model
    model = write_reaction_model(tmp_path / "run" / "model.onnx")
    with qtbot.waitSignal(play_panel.sig_file_opened):
        play_panel.open_path(model)
    view = play_panel.field
    assert play_panel.pages.currentWidget() is view
    assert play_panel.system_combo.currentText() == "Field model (any system)"
    qtbot.waitUntil(lambda: view.frame is not None and view.isVisible(), timeout=10_000)
    assert REACTION.name in view.canvas.title_label.text()
    combo = view.display.channel_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["u", "v", "src"]
    assert view.paint_box.isVisible() and view.paint_box.control == "src"
    assert view.start_box.source_combo.currentText() == "Zeros"

    # Paint the control with a real drag, value 2, radius 2 cells.
    view.paint_box.value_spin.setValue(2.0)
    view.paint_box.brush_spin.setValue(2)
    canvas_stroke(view.canvas, [(4.5, 8.5), (8.5, 8.5), (11.5, 8.5)])
    painted = view.play_state.controls.take()["src"]
    assert painted[8, 8] == pytest.approx(2.0) and painted[4, 8] == pytest.approx(2.0)
    assert painted[1, 1] == 0.0 and painted[8, 14] == 0.0
    qtbot.waitUntil(lambda: view.canvas._overlay is not None and view.canvas._overlay[8, 8, 3] > 0)

    # The next step feeds the painted control to the model: u' = u + src, then v' = v + u / 2.
    step(qtbot, view)
    np.testing.assert_allclose(view.frame.controls["src"], painted)
    np.testing.assert_allclose(view.frame.state["u"], painted, atol=1e-6)
    assert not view.frame.state["v"].any()
    step(qtbot, view)
    np.testing.assert_allclose(view.frame.state["u"], 2 * painted, atol=1e-6)
    np.testing.assert_allclose(view.frame.state["v"], 0.5 * painted, atol=1e-6)
    qtbot.waitUntil(lambda: "step <b>2</b>" in view.readouts.text())
    assert "ms/step" in view.readouts.text()

    # The channel combo switches what the canvas shows.
    qtbot.waitUntil(lambda: np.array_equal(shown_channel(view), view.frame.state["u"]))
    view.display.set_channel("v")
    assert view.display.cmap == "viridis"  # the colour map the carried spec gives v
    qtbot.waitUntil(lambda: np.array_equal(shown_channel(view), view.frame.state["v"]))
    assert "v min 0 · max 1" in view.readouts.text()

    # The right button erases the control where it passes.
    canvas_stroke(view.canvas, [(8.5, 8.5), (8.5, 9.5)], RIGHT)
    erased = view.play_state.controls.take()["src"]
    assert erased[8, 8] == 0.0 and erased[4, 8] == pytest.approx(2.0)

    # Reset goes back to the start: zero state, the start's (zero) controls, step 0.
    click(view.transport.reset_button)
    qtbot.waitUntil(lambda: view.frame.index == 0, timeout=10_000)
    assert not any(a.any() for a in view.frame.state.values())
    assert not view.play_state.controls.take()["src"].any()

    # Play runs the model in its own thread until paused.
    click(view.transport.play_button)
    qtbot.waitUntil(lambda: view.frame.index >= 3, timeout=10_000)
    click(view.transport.play_button)
    assert not view.stepper.running and view.frame.finite


def test_a_model_without_controls_plays_from_its_dataset_frames(qtbot, play_panel, tmp_path):
    data = write_drift_data(tmp_path / "data" / "drift.h5")
    model = write_drift_model(tmp_path / "run" / "model.onnx", data)
    with qtbot.waitSignal(play_panel.sig_file_opened):
        play_panel.open_path(model)
    view = play_panel.field
    qtbot.waitUntil(lambda: view.frame is not None, timeout=10_000)
    assert not view.paint_box.isVisible()
    combo = view.display.channel_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["a", "flow_x", "flow_y"]
    box = view.start_box
    assert box.source_combo.currentText() == "Dataset frame" and box.path == data
    np.testing.assert_allclose(view.frame.state["a"], drift_frames(0)[0])

    box.trajectory_spin.setValue(1)
    box.frame_spin.setValue(2)
    qtbot.waitUntil(lambda: "trajectory 1, frame 2" in view.play_state.start.source, timeout=10_000)
    qtbot.waitUntil(lambda: np.allclose(view.frame.state["a"], drift_frames(1)[2]), timeout=10_000)
    # a' = 2 a - a(t-1): the next stored frame exactly, because the history holds the stored frame 1.
    step(qtbot, view)
    np.testing.assert_allclose(view.frame.state["a"], drift_frames(1)[3], atol=1e-5)
    np.testing.assert_allclose(view.frame.state["flow_x"], 1.5)
    step(qtbot, view)
    np.testing.assert_allclose(view.frame.state["a"], drift_frames(1)[4], atol=1e-5)

    box.source_combo.setCurrentText("Zeros")
    qtbot.waitUntil(lambda: view.frame.index == 0 and not view.frame.state["a"].any(), timeout=10_000)


def test_a_dataset_dropped_on_the_page_becomes_the_start(qtbot, play_panel, tmp_path):
    data = write_drift_data(tmp_path / "elsewhere.h5", trajectories=1)
    model = write_drift_model(tmp_path / "run" / "model.onnx", data_path=tmp_path / "gone.h5")
    play_panel.open_path(model)
    view = play_panel.field
    qtbot.waitUntil(lambda: view.frame is not None, timeout=10_000)
    assert view.start_box.source_combo.currentText() == "Zeros"  # the training file is not here
    assert drop_files(view, [data])
    qtbot.waitUntil(lambda: np.allclose(view.frame.state["a"], drift_frames(0)[0]), timeout=10_000)
    assert view.start_box.path == data


def test_a_dataset_without_the_models_channels_is_refused_with_a_message(qtbot, play_panel, tmp_path):
    model = write_reaction_model(tmp_path / "run" / "model.onnx")
    play_panel.open_path(model)
    view = play_panel.field
    qtbot.waitUntil(lambda: view.frame is not None, timeout=10_000)
    data = write_drift_data(tmp_path / "drift.h5", trajectories=1)
    assert not view.open_dataset(data)
    assert view.message.isVisible() and "drift.h5" in view.message.text() and "'u'" in view.message.text()
    assert view.start_box.path is None


def test_the_smoke_pickers_choice_of_a_generic_model_opens_the_field_page(qtbot, play_panel, tmp_path):
    model = write_reaction_model(tmp_path / "run" / "model.onnx")
    picker = play_panel.picker
    playing = play_panel.canvas.title_label.text()
    picker.add_file(model)
    picker.model_combo.activated.emit(picker.model_combo.currentIndex())
    assert play_panel.pages.currentWidget() is play_panel.field
    qtbot.waitUntil(lambda: play_panel.field.frame is not None, timeout=10_000)
    assert play_panel.canvas.title_label.text() == playing  # the smoke page plays what it played
    assert play_panel.field.picker.model_combo.currentData() == str(model)
