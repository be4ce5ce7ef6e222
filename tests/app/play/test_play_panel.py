"""The Play panel under Xvfb: painting with synthesised mouse events, transport, compare, recording."""

from __future__ import annotations

import numpy as np
import pytest
from play_models import write_foreign_model
from PySide6.QtCore import Qt
from qt_events import canvas_stroke

pytestmark = pytest.mark.gui

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


def stroke(panel, points: list[tuple[float, float]], button=LEFT) -> None:
    canvas_stroke(panel.canvas, points, button)


def run_frames(qtbot, panel, n: int) -> None:
    for _ in range(n):
        start = panel.frame.index
        panel.stepper.step_once()
        qtbot.waitUntil(lambda: panel.frame.index > start, timeout=10_000)  # noqa: B023 - waited at once


def test_paint_emitter_and_collider_then_smoke_appears(qtbot, panel):
    panel.transport.clear_button.click()
    qtbot.waitUntil(lambda: panel.frame.stats["total_smoke"] == 0.0 and not panel.frame.emitter.any())
    panel.tools.set_tool("emitter")
    panel.tools.brush.setValue(3)
    stroke(panel, [(20.5, 10.5), (24.5, 10.5)])
    panel.tools.set_tool("collider")
    stroke(panel, [(40.5, 40.5)])
    emitter, collider = panel.simulation.controls.masks()
    assert emitter[20, 10] == 1.0 and emitter[24, 10] == 1.0 and emitter[22, 10] == 1.0
    assert emitter[20, 40] == 0.0 and emitter[50, 10] == 0.0
    assert collider[40, 40] == 1.0 and collider[40, 10] == 0.0 and collider[20, 10] == 0.0
    run_frames(qtbot, panel, 5)
    frame = panel.frame
    assert frame.density[22, 10:16].max() > 0.3  # smoke at the emitter and rising above it
    assert frame.density[collider > 0.5].max() == 0.0
    assert frame.stats["total_smoke"] > 10
    qtbot.waitUntil(lambda: panel.readouts.text().count("total smoke") == 1)


def test_eraser_and_right_button_clear_masks(qtbot, panel):
    controls = panel.simulation.controls
    panel.tools.set_tool("collider")
    panel.tools.brush.setValue(4)
    stroke(panel, [(30.5, 30.5), (34.5, 30.5)])
    assert controls.masks()[1][32, 30] == 1.0
    panel.tools.set_tool("erase")
    stroke(panel, [(30.5, 30.5)])
    # The eraser's disc (radius 4 around x = 30.5) ends near x = 34.5; a cell well beyond it stays solid.
    assert controls.masks()[1][30, 30] == 0.0 and controls.masks()[1][36, 30] == 1.0
    panel.tools.set_tool("emitter")
    panel.tools.brush.setValue(6)  # wide enough to sweep the whole painted bar whatever sub-cell offsets
    stroke(panel, [(24.5, 30.5), (40.5, 30.5)], button=RIGHT)  # right button erases whatever the tool
    assert not controls.masks()[1].any()


def test_velocity_drag_pushes_the_flow(qtbot, panel):
    panel.transport.clear_button.click()
    # Clearing runs in the stepper thread: wait for the cleared frame (the scene's emitter gone), or the
    # clear could land after the stroke and wipe its force.
    qtbot.waitUntil(lambda: not panel.frame.emitter.any() and not panel.frame.velocity.any())
    panel.tools.set_tool("velocity")
    panel.tools.brush.setValue(4)
    panel.tools.strength.setValue(0.2)
    stroke(panel, [(20.5, 32.5), (26.5, 32.5), (32.5, 32.5)])
    force = panel.simulation.controls.force_field()
    assert force[26, 32, 0] > 0.5 and force[..., 0].max() <= 0.75 + 1e-9 and abs(force[26, 32, 1]) < 1e-6
    # Two frames: a step already in flight when the stroke landed may not carry the force yet.
    run_frames(qtbot, panel, 2)
    assert panel.frame.velocity[20:34, 28:37, 0].mean() > 0.05
    decayed = panel.simulation.controls.force_field()
    decay = panel.tools.decay.value()
    assert force.max() * decay**2 - 1e-9 <= decayed.max() <= force.max() * decay + 1e-9


def test_play_pause_step_and_reset(qtbot, panel):
    panel.transport.play_button.click()
    assert panel.stepper.running and panel.transport.play_button.text() == "Pause"
    start = panel.frame.index
    qtbot.waitUntil(lambda: panel.frame.index >= start + 5, timeout=10_000)
    panel.transport.play_button.click()
    qtbot.waitUntil(lambda: not panel.stepper.running)
    qtbot.wait(100)
    paused = panel.frame.index
    qtbot.wait(150)
    assert panel.frame.index == paused
    panel.transport.step_button.click()
    qtbot.waitUntil(lambda: panel.frame.index == paused + 1)
    panel.transport.reset_button.click()
    qtbot.waitUntil(lambda: panel.frame.index == 0)
    assert panel.frame.emitter.any()  # the plume's emitter is back


def test_compare_with_solver_runs_and_plots_errors(qtbot, panel, tiny_model):
    assert panel.load_model(str(tiny_model))
    panel.output.compare_check.setChecked(True)
    assert panel.compare.isVisible()
    run_frames(qtbot, panel, 6)
    qtbot.waitUntil(lambda: len(panel.compare.errors) >= 5, timeout=10_000)
    assert all(np.isfinite(panel.compare.errors))
    assert max(panel.compare.errors) > 0  # the untrained model differs from the solver
    xs, ys = panel.compare.curve.getData()
    assert len(xs) >= 5
    assert panel.frame.reference_density.shape == (64, 64)
    panel.output.compare_check.setChecked(False)
    assert not panel.compare.isVisible()


def test_bounds_readout_and_turning_them_off(qtbot, panel, tiny_model):
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    assert panel.load_model(str(tiny_model))
    run_frames(qtbot, panel, 2)
    qtbot.waitUntil(lambda: "bounds changed" in panel.readouts.text())
    assert "of cells" in panel.readouts.text()
    box = panel.output.bounds_check
    assert box.isChecked()
    # A real click on the check box's indicator (its left edge).
    QTest.mouseClick(box, LEFT, Qt.KeyboardModifier.NoModifier, QPoint(8, box.height() // 2))
    assert not box.isChecked()
    qtbot.waitUntil(lambda: panel.simulation.bounds is False)
    run_frames(qtbot, panel, 2)
    qtbot.waitUntil(lambda: "bounds off" in panel.readouts.text())
    assert panel.frame.stats["bounded_cells"] == 0.0


def test_foreign_onnx_is_refused_with_a_message(qtbot, panel, tmp_path):
    foreign = write_foreign_model(tmp_path / "someone_else.onnx")
    playing = panel.canvas.title_label.text()
    with qtbot.waitSignal(panel.sig_status) as status:
        panel.open_path(foreign)
    assert "not a Fieldcast model" in status.args[0]
    assert panel.message.isVisible() and "someone_else.onnx" in panel.message.text()
    assert panel.picker.model_combo.findData(str(foreign)) < 0
    run_frames(qtbot, panel, 2)  # still playing what it played before
    assert panel.canvas.title_label.text() == playing


def test_opened_model_plays_and_is_offered(qtbot, panel, tiny_model):
    with qtbot.waitSignal(panel.sig_file_opened):
        panel.open_path(tiny_model)
    assert panel.picker.model_combo.currentData() == str(tiny_model)
    assert "CPU" in panel.picker.device_label.text()
    run_frames(qtbot, panel, 3)
    assert panel.frame.finite and panel.frame.ms_model > 0
    assert "model.onnx" in panel.canvas.title_label.text()
    panel.picker.model_combo.setCurrentIndex(0)
    panel.picker.model_combo.activated.emit(0)
    qtbot.waitUntil(lambda: "Reference solver" in panel.canvas.title_label.text())


def test_recording_writes_a_gif_and_a_screenshot(qtbot, panel, tmp_path):
    from PIL import Image

    panel.start_recording(str(tmp_path / "clip.gif"))
    assert panel.recorder is not None
    panel.transport.play_button.click()
    qtbot.waitUntil(lambda: panel.recorder is not None and len(panel.recorder.frames) >= 5, timeout=10_000)
    panel.transport.play_button.click()
    panel.output.record_button.click()  # stop
    with Image.open(tmp_path / "clip.gif") as gif:
        assert gif.n_frames >= 5 and min(gif.size) >= 384
    shot = panel.save_screenshot(str(tmp_path / "shot.png"))
    with Image.open(shot) as png:
        assert png.size[0] >= 384


def test_display_channels_and_self_check(qtbot, panel):
    for name in ("speed", "vorticity", "divergence", "velocity x", "velocity y", "density"):
        panel.display.channel_combo.setCurrentText(name)
        qtbot.waitUntil(lambda: not panel._dirty)
    panel.display.auto_check.setChecked(False)
    panel.display.high_spin.setValue(0.5)
    qtbot.waitUntil(lambda: panel.canvas.high_label.text() == "0.5")
    assert panel.self_check() == []
