"""The Play panel's melt page under Xvfb: a laser path drawn with mouse events, models, comparison."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_models import make_model, write_melt_microstructure_model, write_melt_temperature_model
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from qt_events import canvas_pixel, canvas_stroke

from fieldcast.engine.systems.melt import Material

pytestmark = pytest.mark.gui

LIQUIDUS = Material().liquidus
DX = 5e-6


@pytest.fixture
def melt(qtbot, tmp_path):
    """The Play panel showing the melt page (paused, solver sources, runs folder empty)."""
    from fieldcast.app.play.panel import PlayPanel

    panel = PlayPanel(runs=tmp_path / "runs", autoplay=False)
    panel.resize(1300, 850)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.system_combo.setCurrentText("Laser melting")
    view = panel.melt
    qtbot.waitUntil(lambda: view.isVisible() and view.temperature_canvas.view is not None)
    view.transport.speed_combo.setCurrentText("Max")
    assert view.play_state.temperature_session is not None  # the shipped models play by default
    assert view.play_state.microstructure_session is not None
    for kind in ("temperature", "microstructure"):
        view.use_model(kind, "")  # these tests drive the solver unless they choose a model
    yield view
    panel.shutdown()


def test_drawn_path_melts_the_plate_and_grows_new_grains(qtbot, melt):
    start = melt.frame
    canvas_stroke(melt.temperature_canvas, [(12.5, 44.5), (30.5, 44.5), (50.5, 40.5), (70.5, 44.5)])
    drawn = melt.play_state.beam.drawn()
    assert drawn[0] == pytest.approx(12.5 * DX, abs=1.5 * DX)
    assert drawn[-1] == pytest.approx(70.5 * DX, abs=1.5 * DX)
    assert np.all(np.diff(drawn) > 0)  # the path as drawn, left to right
    assert melt.stepper.running  # drawing starts the simulation
    hottest = []

    def melted_then_done() -> bool:
        f = melt.frame
        hottest.append(f.stats.get("peak_temperature", 0.0))
        return f.index > 5 and not melt.play_state.beam.on and f.stats["peak_temperature"] < LIQUIDUS

    qtbot.waitUntil(melted_then_done, timeout=60_000)
    assert max(hottest) > LIQUIDUS
    end = melt.frame
    changed = np.abs(end.ipf - start.ipf).max(axis=0) > 0  # (nx, ny)
    assert changed[20:65, -4:].mean() > 0.5  # the track regrew with new grains along the path
    assert not changed[:, :20].any() and not changed[85:].any()  # deep plate and beyond the path untouched
    assert "peak" in melt.readouts.text() and "laser off" in melt.readouts.text()


def test_shipped_models_melt_the_plate_under_a_drawn_path(qtbot, melt):
    from fieldcast.app.play.melt_view import shipped_melt_models

    for kind, path in shipped_melt_models():
        assert melt.use_model(kind, str(path))
    melt.source_box.compare_check.click()
    canvas_stroke(melt.temperature_canvas, [(20.5, 44.5), (60.5, 44.5)])
    peaks = []

    def done() -> bool:
        peaks.append(melt.frame.stats.get("peak_temperature", 0.0))
        return melt.frame.index > 5 and not melt.play_state.beam.on

    qtbot.waitUntil(done, timeout=60_000)
    frame = melt.frame
    assert max(peaks) > LIQUIDUS and frame.error_temperature is not None
    assert frame.error_temperature < 150.0  # the shipped temperature model follows the solver closely
    assert "melt_temperature.onnx" in melt.temperature_canvas.title_label.text()


def test_drag_beam_is_on_only_while_the_button_is_down(qtbot, melt):
    melt.laser.drag_radio.click()
    canvas = melt.temperature_canvas
    native = canvas.view.native
    no_mod = Qt.KeyboardModifier.NoModifier
    QTest.mouseMove(native, canvas_pixel(canvas, 30.5, 40.5))
    QTest.mousePress(native, Qt.MouseButton.LeftButton, no_mod, canvas_pixel(canvas, 30.5, 40.5))
    QTest.mouseMove(native, canvas_pixel(canvas, 45.5, 40.5))
    beam = melt.play_state.beam
    assert beam.on
    qtbot.waitUntil(lambda: abs(beam.x / DX - 45.5) < 1.0, timeout=30_000)
    qtbot.waitUntil(lambda: melt.frame.power > 0, timeout=10_000)
    QTest.mouseRelease(native, Qt.MouseButton.LeftButton, no_mod, canvas_pixel(canvas, 45.5, 40.5))
    assert not beam.on
    qtbot.waitUntil(lambda: melt.frame.power == 0.0, timeout=10_000)
    assert beam.drawn() == []


def test_models_run_with_the_solver_alongside_and_errors_are_plotted(qtbot, melt, tmp_path):
    temperature = write_melt_temperature_model(tmp_path / "models" / "temperature.onnx")
    micro = write_melt_microstructure_model(tmp_path / "models" / "grains.onnx")
    assert melt.open_model(temperature) and melt.open_model(micro)
    assert melt.source_box.temperature_combo.currentData() == str(temperature)
    assert melt.source_box.microstructure_combo.currentData() == str(micro)
    melt.source_box.compare_check.click()
    assert melt.error_plot.isVisible() and melt.ref_temperature_canvas.isVisible()
    canvas_stroke(melt.grain_canvas, [(20.5, 44.5), (60.5, 44.5)])  # either view draws the path
    qtbot.waitUntil(lambda: melt.frame.index >= 12 and bool(melt.frame.error_temperature), timeout=60_000)
    melt.pause()
    frame = melt.frame
    assert frame.reference_temperature is not None and frame.ms_temperature > 0
    assert frame.error_temperature > 0  # the toy temperature model is not the solver
    qtbot.waitUntil(lambda: melt.t_curve.getData()[0] is not None and len(melt.t_curve.getData()[0]) >= 5)
    assert "vs solver" in melt.readouts.text()
    assert "temperature.onnx" in melt.temperature_canvas.title_label.text()
    # Back to the solver for temperature, from the combo as a user would.
    combo = melt.source_box.temperature_combo
    combo.setCurrentIndex(0)
    combo.activated.emit(0)
    qtbot.waitUntil(lambda: melt.play_state.temperature_session is None)


def test_a_model_of_another_system_is_refused_and_the_page_keeps_running(qtbot, melt, tmp_path):
    smoke = make_model(tmp_path / "smoke.onnx")
    assert not melt.open_model(smoke)
    assert melt.message.isVisible() and "smoke.onnx" in melt.message.text()
    assert melt.source_box.temperature_combo.findData(str(smoke)) < 0
    index = melt.frame.index
    melt.transport.step_button.click()
    qtbot.waitUntil(lambda: melt.frame.index > index, timeout=10_000)


def test_a_melt_model_that_cannot_run_on_the_plate_is_refused(qtbot, melt, tmp_path):
    from dataclasses import replace

    from onnx_models import make_conv_model

    from fieldcast.engine.runtime import ModelSession

    good = write_melt_temperature_model(tmp_path / "ok.onnx")
    info = replace(ModelSession(good).info, grid_multiple=0, grid=(64, 32))  # only its training grid
    odd = make_conv_model(tmp_path / "odd.onnx", info, np.ones((1, 3, 1, 1), np.float32), np.zeros(1))
    assert not melt.open_model(odd)
    assert "odd.onnx" in melt.message.text() and "96 × 48" in melt.message.text()
    assert melt.play_state.temperature_session is None  # the solver still runs the page


def test_runs_folder_models_are_offered_and_screenshot_is_written(qtbot, tmp_path):
    from fieldcast.app.play.melt_view import MeltView

    runs = tmp_path / "runs"
    write_melt_temperature_model(runs / "melt_t" / "model.onnx")
    view = MeltView(runs)
    qtbot.addWidget(view)
    view.show()
    combo = view.source_box.temperature_combo
    qtbot.waitUntil(lambda: combo.findData(str(runs / "melt_t" / "model.onnx")) >= 0)
    out = view.save_screenshot(tmp_path / "melt.png")
    from PIL import Image

    with Image.open(out) as image:
        assert image.size[0] > 2 * image.size[1] > 0  # temperature and grains side by side
    view.shutdown()


def test_opening_a_melt_model_file_brings_up_the_melt_page(qtbot, tmp_path):
    from fieldcast.app.play.panel import PlayPanel

    panel = PlayPanel(runs=tmp_path / "runs", autoplay=False)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    model = write_melt_temperature_model(tmp_path / "mine" / "temperature.onnx")
    with qtbot.waitSignal(panel.sig_file_opened, timeout=10_000):
        panel.open_path(model)  # what File > Open, a drop or `fieldcast play FILE` does
    assert panel.system_combo.currentText() == "Laser melting"
    assert panel.melt.source_box.temperature_combo.currentData() == str(model)
    panel.shutdown()
