"""The Play panel's stress page under Xvfb: play the load, drag the slider back, click a grain's material."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_models import make_conv_model
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from fieldcast.engine.model_format import ModelInfo

pytestmark = pytest.mark.gui


def write_stress_model(path, increments: int = 1):
    """A linear stand-in: next sigma_vM = sigma_vM + 0.2 MPa/GPa * E (an elastic step of 2e-4 in uniaxial
    stress), so its error against the solver is known to be nonzero and finite; with ``increments`` K it
    predicts the next K increments in one call (sigma_vM + 0.2 E k for k = 1..K)."""
    info = ModelInfo(
        system="stress",
        input_channels=("sigma_vM", "E", "nu", "xi0", "h0"),
        output_channels=("sigma_vM",),
        history=1,
        layout={
            "state": ["sigma_vM"],
            "history_state": ["sigma_vM"],
            "controls": ["E", "nu", "xi0", "h0"],
            "vectors": [],
            "solid": None,
            "nonnegative": [],
        },
        input_units=("MPa", "GPa", "1", "MPa", "GPa"),
        output_units=("MPa",),
        grid=(64, 64),
        grid_multiple=8,
        dt=0.2,
        time_units="s",
        increments=increments,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    k = np.arange(1, increments + 1, dtype=np.float32)[:, None]
    weight = np.concatenate([np.ones_like(k), 0.2 * k, np.zeros((increments, 3), np.float32)], axis=1)
    return make_conv_model(path, info, weight.reshape(increments, 5, 1, 1), np.zeros(increments, np.float32))


@pytest.fixture
def stress(qtbot, tmp_path):
    from fieldcast.app.play.panel import PlayPanel

    panel = PlayPanel(runs=tmp_path / "runs", autoplay=False)
    panel.resize(1300, 850)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    model = write_stress_model(tmp_path / "stress" / "model.onnx")
    assert panel.open_model(model)  # routed to the stress page
    view = panel.stress
    qtbot.waitUntil(view.isVisible)
    assert panel.system_combo.currentText() == "Polycrystal stress"
    yield view
    panel.shutdown()


def test_play_loads_the_cell_and_the_slider_goes_back(qtbot, stress):
    QTest.mouseClick(stress.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stress.frames) > 4, timeout=120_000)
    QTest.mouseClick(stress.play_button, Qt.MouseButton.LeftButton)  # pause
    # The stepping thread appends to the history before its frame reaches the window, and a step may still
    # be running at the pause: wait until the window shows the newest increment, and read both at once.
    shown: list = []

    def settled() -> bool:
        if stress.stepper.running or stress.stepper._busy_since is not None:
            return False
        frames = list(stress.frames)
        if stress.slider.value() != frames[-1].increment:
            return False
        if f"MAE {frames[-1].mae:.2f} MPa" not in stress.readouts.text():
            return False
        shown[:] = frames
        return True

    qtbot.waitUntil(settled, timeout=30_000)
    frames = shown
    last = frames[-1]
    assert last.solver.mean() > frames[1].solver.mean() > 0  # the solver's stress grows with the load
    # the stand-in network's own rollout: E * 0.2 MPa per increment, exactly
    for frame in (frames[1], last):  # every increment keeps its own field
        expected = stress.play.controls["E"] * 0.2 * frame.increment
        np.testing.assert_allclose(frame.network, expected, rtol=1e-4)
    assert f"MAE {last.mae:.2f} MPa" in stress.readouts.text()
    assert "ms per increment" in stress.readouts.text()
    # dragging the slider back to increment 2 shows that increment again (kept, not recomputed)
    stress.slider.setFocus()
    stress.slider.setValue(stress.slider.value())
    for _ in range(stress.slider.value() - 2):
        QTest.keyClick(stress.slider, Qt.Key.Key_Left)
    assert "increment 2 of" in stress.load_label.text()
    pixels = stress.solver_image.pixels.copy()
    stress._show(frames[2])
    assert np.array_equal(pixels, stress.solver_image.pixels)


def test_clicking_a_grain_gives_it_the_chosen_material(qtbot, stress):
    stress.material.fields["E"].setValue(290.0)
    QTest.mouseClick(stress.material.paint, Qt.MouseButton.LeftButton)
    assert stress.material.paint.isChecked()
    # the picture is 256 px for 64 cells: 4 px per cell, top row = highest y
    ix, iy = 10, 50
    grain = int(stress.micro.grains[ix, iy])
    QTest.mouseClick(
        stress.solver_image, Qt.MouseButton.LeftButton, pos=QPoint(4 * ix + 2, 4 * (63 - iy) + 2)
    )
    assert stress.micro.properties[grain, 0] == pytest.approx(290e3)
    assert stress.play.controls["E"][ix, iy] == pytest.approx(290.0)
    assert len(stress.frames) == 1  # a new material unloads the cell


def test_new_microstructure_from_the_chooser(qtbot, stress):
    stress.kind.setCurrentText("Circular inclusion")
    assert stress.micro.n_grains == 2
    assert stress.micro.grains[32, 32] == 1
    stress.kind.setCurrentText("Voronoi, 20 grains")
    QTest.mouseClick(stress.new_button, Qt.MouseButton.LeftButton)
    assert stress.micro.n_grains == 20


def _pixel(ix: int, iy: int) -> QPoint:
    """The picture pixel of cell (ix, iy): 4 px per cell, the top row is the highest y."""
    return QPoint(4 * ix + 2, 4 * (63 - iy) + 2)


def test_the_brush_paints_a_new_grain_with_its_material_and_both_run_on_it(qtbot, stress):
    n = stress.micro.n_grains
    # a click on a grain selects it and shows its material
    ix, iy = 20, 20
    QTest.mouseClick(stress.solver_image, Qt.MouseButton.LeftButton, pos=_pixel(ix, iy))
    grain = int(stress.micro.grains[ix, iy])
    assert stress.material.grain.value() == grain
    assert stress.material.fields["xi0"].value() == pytest.approx(stress.micro.properties[grain, 2], abs=0.5)
    # a new grain, stiff and soft-yielding, then a stroke of the brush from (10, 30) to (30, 30)
    stress.material.fields["E"].setValue(300.0)
    stress.material.fields["xi0"].setValue(60.0)
    QTest.mouseClick(stress.material.new_grain, Qt.MouseButton.LeftButton)
    assert stress.micro.n_grains == n + 1 and stress.material.grain.value() == n
    assert stress.material.brush.isChecked()
    stress.material.radius.setValue(2)
    image = stress.network_image
    no_mod = Qt.KeyboardModifier.NoModifier
    QTest.mouseMove(image, _pixel(10, 30))
    QTest.mousePress(image, Qt.MouseButton.LeftButton, no_mod, _pixel(10, 30))
    for x in range(12, 31, 2):
        QTest.mouseMove(image, _pixel(x, 30))
    QTest.mouseRelease(image, Qt.MouseButton.LeftButton, no_mod, _pixel(30, 30))
    painted = stress.micro.grains == n
    assert painted[10:31, 30].all() and painted[20, 28] and painted[20, 32]  # a band 5 cells wide
    assert not painted[20, 36] and not painted[40, 30]
    assert 21 * 5 <= painted.sum() <= 25 * 5
    # the solver and the network run on the painted cell: its material maps hold the new grain
    assert stress.play.controls["E"][20, 30] == pytest.approx(300.0)
    assert stress.play.controls["xi0"][20, 30] == pytest.approx(60.0)
    assert len(stress.frames) == 1
    QTest.mouseClick(stress.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stress.frames) > 2, timeout=120_000)
    QTest.mouseClick(stress.play_button, Qt.MouseButton.LeftButton)
    frame = stress.frames[2]
    np.testing.assert_allclose(frame.network, stress.play.controls["E"] * 0.2 * 2, rtol=1e-4)
    assert frame.solver[20, 30] > 0
    # setting the selected grain's material from the fields
    stress.material.fields["h0"].setValue(40.0)
    QTest.mouseClick(stress.material.apply, Qt.MouseButton.LeftButton)
    assert stress.micro.properties[n, 3] == pytest.approx(40e3)
    assert stress.play.controls["h0"][20, 30] == pytest.approx(40.0)


def test_a_model_of_20_increments_per_call_plays_the_load_path_from_one_call(qtbot, stress, tmp_path):
    model = write_stress_model(tmp_path / "block" / "model.onnx", increments=20)
    assert stress.open_model(model)
    assert stress.play.increments == 20
    QTest.mouseClick(stress.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stress.frames) > 3, timeout=120_000)
    QTest.mouseClick(stress.play_button, Qt.MouseButton.LeftButton)
    for frame in stress.frames[1:4]:  # frames 1..3 of the one call's 20
        np.testing.assert_allclose(
            frame.network, stress.play.controls["E"] * 0.2 * frame.increment, rtol=1e-4
        )
    # the window shows a frame after the thread has stored it (under load, a little later)
    qtbot.waitUntil(lambda: "ms per increment, one call per 20 increments" in stress.readouts.text())
    seconds = {f.network_seconds for f in stress.frames[1:4]}
    assert len(seconds) == 1 and seconds.pop() > 0  # the call's time, shared by its increments


def test_the_shipped_models_are_offered_on_the_page(qtbot, stress):
    from fieldcast.app.play.stress_view import shipped_stress_models

    shipped = shipped_stress_models()
    assert any(label.startswith("stress_default.onnx") for label in shipped)
    assert stress.shipped.count() == 1 + len(shipped)
    stress.shipped.setFocus()
    QTest.keyClick(stress.shipped, Qt.Key.Key_Down)  # the first shipped model, chosen from the keyboard
    first = stress.shipped.itemText(1).split(" ")[0]
    qtbot.waitUntil(lambda: stress.model_path is not None and stress.model_path.name == first)
    assert stress.shipped.currentIndex() == 0  # back to its prompt, ready for the next choice
    assert stress.play.increments == stress.session.info.increments
