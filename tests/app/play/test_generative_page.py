"""The Play panel's generative page under Xvfb, driven by real mouse events, with a tiny diffusion model
trained and exported by the real pipeline: paint buildings, place the transmitter, generate (watching the
denoising and the progress), cancel, and read the samples, their mean and spread against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from generative_runs import train_tiny
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

pytestmark = pytest.mark.gui

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NO_MOD = Qt.KeyboardModifier.NoModifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("generative-play"))


@pytest.fixture
def page(qtbot, tiny):
    from fieldcast.app.play.generative_view import GenerativeView

    view = GenerativeView(model=tiny.model)
    view.resize(1300, 950)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.shutdown()


def drag(view, points, button=LEFT) -> None:
    """Press on the condition at the first cell, move through the others, release at the last."""
    QTest.mouseMove(view, view.cell_pixel(*points[0]))
    QTest.mousePress(view, button, NO_MOD, view.cell_pixel(*points[0]))
    for p in points[1:]:
        QTest.mouseMove(view, view.cell_pixel(*p))
    QTest.mouseRelease(view, button, NO_MOD, view.cell_pixel(*points[-1]))


def click(view, x, y) -> None:
    QTest.mouseClick(view, LEFT, NO_MOD, view.cell_pixel(x, y))


def pixel(view, x, y) -> tuple[int, int, int]:
    """The colour the condition picture shows at cell (x, y)."""
    image = view.picture.pixmap().toImage()
    point = view.picture.mapFrom(view, view.cell_pixel(x, y))
    c = image.pixelColor(point)
    return c.red(), c.green(), c.blue()


def test_paint_place_generate_cancel_and_compare(page, qtbot, tiny):
    from fieldcast.engine.systems.thermal_imaging import reference

    assert page.session is not None and page.drawing.shape == (16, 16)
    assert "model.onnx" in page.model_box.model_label.text()
    cond = page.condition_view

    # Paint a wall of buildings, then erase its top with the right button.
    QTest.mouseClick(page.draw_box.tool_buttons["paint"], LEFT)
    page.draw_box.brush.setValue(1.0)
    drag(cond, [(3.5, 2.5), (3.5, 7.5), (3.5, 12.5)])
    assert page.drawing.buildings[3, 2:13].min() == 1.0 and page.drawing.buildings[10:].max() == 0.0
    assert sum(pixel(cond, 3.5, 7.5)) > 500  # light grey building on dark street
    drag(cond, [(3.5, 12.5), (3.5, 11.5)], RIGHT)
    assert page.drawing.buildings[3, 12] == 0.0 and page.drawing.buildings[3, 5] == 1.0

    # Place the transmitter with a click.
    QTest.mouseClick(page.draw_box.tool_buttons["transmitter"], LEFT)
    click(cond, 12.5, 8.5)
    assert page.drawing.transmitter is not None
    assert (int(page.drawing.transmitter[0]), int(page.drawing.transmitter[1])) == (12, 8)
    r, g, b = pixel(cond, 12.5, 8.5)
    assert r > 200 and g < 120  # the transmitter shows in red

    # A long generation shows its progress and its denoising step by step, and cancels.
    page.sampling.steps.setValue(100)
    page.sampling.samples.setValue(3)
    QTest.mouseClick(page.sampling.generate_button, LEFT)
    assert page.busy and not page.sampling.generate_button.isEnabled()
    qtbot.waitUntil(lambda: page.steps_seen >= 2 and page.progress.bar.value() >= 2, timeout=30_000)
    assert page.progress.isVisible() and "/ 100 steps" in page.progress.bar.format()
    assert "Denoising: step" in page.denoise_view.title.text()
    assert page.denoise_view.data.shape == (16, 16)
    assert page.reference_view.data is not None  # the reference generator answered before denoising
    QTest.mouseClick(page.progress.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not page.busy and page.last_status == "Generation cancelled", timeout=30_000)
    assert page.result is None and page.sampling.generate_button.isEnabled()
    assert not page.progress.isVisible() and not page.message.isVisible()

    # A short one runs to the end: samples, their mean and spread beside the reference, and the scores.
    page.sampling.steps.setValue(4)
    with qtbot.waitSignal(
        page.sig_status, check_params_cb=lambda t: t == "Generation finished", timeout=60_000
    ):
        QTest.mouseClick(page.sampling.generate_button, LEFT)
    result = page.result
    assert result.samples.shape == (3, 16, 16) and np.isfinite(result.samples).all()
    condition = page.drawing.radio_condition()
    np.testing.assert_allclose(result.reference, reference("radio", condition), rtol=1e-6)
    np.testing.assert_array_equal(page.mean_view.data, result.samples.mean(axis=0))
    np.testing.assert_allclose(page.spread_view.data, result.samples.std(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        page.error_view.data, result.samples.mean(axis=0) - result.reference, atol=1e-4
    )
    assert result.spread.max() > 0  # different noise, different samples
    assert [v.isVisible() for v in page.sample_views[:3]] == [True] * 3
    text = page.readouts.text()
    assert "NMSE" in text and "SSIM" in text and f"{result.metrics['nmse']:.4f}" in text
    assert page.reference_view.bar.high.text().endswith(" " + page.session.info.target_units)


def test_dataset_condition_and_bad_files(page, qtbot, tiny, tmp_path):
    from fieldcast.engine.data.reader import open_dataset

    # A file that is not a dataset, and a dataset of another kind, are refused with the file named.
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert not page.open_dataset(junk)
    assert page.message.isVisible() and str(junk) in page.message.text()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07garbage")
    assert not page.open_model(garbage)
    assert str(garbage) in page.message.text() and page.session is not None  # the tiny model stays

    assert page.open_dataset(tiny.data)
    assert page.condition_box.mode == "dataset" and page.condition_box.sample_spin.maximum() == 23
    page.condition_box.sample_spin.setValue(5)  # trajectory 1, frame 1
    with open_dataset(tiny.data) as ds:
        truth = ds.read_frame(1, 1, "power_db")
    np.testing.assert_array_equal(page.reference, truth)
    page.sampling.steps.setValue(3)
    page.sampling.samples.setValue(2)
    with qtbot.waitSignal(
        page.sig_status, check_params_cb=lambda t: t == "Generation finished", timeout=60_000
    ):
        QTest.mouseClick(page.sampling.generate_button, LEFT)
    np.testing.assert_array_equal(page.result.reference, truth)
    assert "trajectory 1 frame 1" in page.reference_view.title.text()


def test_the_play_panel_routes_a_generative_model_to_this_page(qtbot, tiny, tmp_path):
    from fieldcast.app.play.panel import PlayPanel
    from fieldcast.app.play.routing import route_file

    assert route_file(tiny.model).page == "generative"
    panel = PlayPanel(runs=tmp_path / "runs", autoplay=False)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    try:
        assert panel.open_model(tiny.model)
        assert panel.pages.currentWidget() is panel.generative
        assert panel.generative.model_path == tiny.model
    finally:
        panel.shutdown()


def test_without_a_model_the_page_says_so(qtbot):
    from fieldcast.app.play.generative_view import GenerativeView, default_generative_model

    view = GenerativeView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    if default_generative_model("radio") is None:
        assert view.session is None and view.message.isVisible()
        assert "radio_default.onnx" in view.message.text()
        assert not view.sampling.generate_button.isEnabled()
    else:
        assert view.session is not None and view.sampling.generate_button.isEnabled()
    view.shutdown()


@pytest.fixture(scope="module")
def tiny_ir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("generative-play-ir"), "ir")


def test_draw_a_laser_path_and_generate_its_infrared_frame(qtbot, tiny_ir):
    from fieldcast.app.play.generative_view import GenerativeView
    from fieldcast.engine.systems.thermal_imaging import reference_ir_from_path

    view = GenerativeView(model=tiny_ir.model)
    view.resize(1300, 950)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    try:
        assert view.source == "ir" and view.draw_box.power.isVisible()
        assert not view.draw_box.tool_buttons["paint"].isVisible()
        drag(view.condition_view, [(2.5, 3.5), (7.5, 3.5), (12.5, 4.5), (12.5, 11.5)])
        path = view.drawing.path
        assert len(path) >= 3  # a cell is 15 pixels: the mouse lands within a fifteenth of a cell
        np.testing.assert_allclose([path[0], path[-1]], [(2.5, 3.5), (12.5, 11.5)], atol=0.1)
        r, g, b = pixel(view.condition_view, 7.5, 3.5)
        assert b > 150 and r < 150  # the drawn path shows in cyan
        view.draw_box.power.setValue(200.0)
        view.draw_box.speed.setValue(600.0)
        view.sampling.steps.setValue(3)
        view.sampling.samples.setValue(2)
        with qtbot.waitSignal(
            view.sig_status, check_params_cb=lambda t: t == "Generation finished", timeout=60_000
        ):
            QTest.mouseClick(view.sampling.generate_button, LEFT)
        _, target = reference_ir_from_path(path, 200.0, 600.0, 16, view.sampling.seed.value())
        np.testing.assert_allclose(view.result.reference, target, rtol=1e-6)
        assert view.result.samples.shape == (2, 16, 16)
        assert "reference melt solver" in view.reference_view.title.text()
    finally:
        view.shutdown()


def test_a_random_infrared_scene_is_drawn_while_the_window_keeps_turning(qtbot, tiny_ir):
    from fieldcast.app.play.generative_view import GenerativeView
    from fieldcast.engine.systems.thermal_imaging import sample_condition

    view = GenerativeView(model=tiny_ir.model)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    try:
        view.sampling.seed.setValue(5)
        QTest.mouseClick(view.condition_box.random_button, LEFT)
        # The click returns with the melt solver still running in a worker; the page leaves its busy state
        # only when the event loop handles the job's end. (A heartbeat timer here counted nothing when the
        # tiny scene took less than one of its periods on a quiet machine.)
        assert view.busy
        qtbot.waitUntil(lambda: not view.busy, timeout=60_000)
        assert view.last_status == "Random condition drawn"
        condition, target = sample_condition("ir", np.random.default_rng(5), view.drawing.size)
        np.testing.assert_allclose(view.fixed[1], target, rtol=1e-6)
    finally:
        view.shutdown()


def test_a_random_city_goes_into_the_drawing(page, qtbot):
    from fieldcast.engine.systems.thermal_imaging import sample_condition

    page.sampling.seed.setValue(3)
    QTest.mouseClick(page.condition_box.random_button, LEFT)
    assert page.busy or page.last_status == "Random condition drawn"  # drawn off the GUI thread
    qtbot.waitUntil(lambda: not page.busy and page.last_status == "Random condition drawn", timeout=30_000)
    condition, _ = sample_condition("radio", np.random.default_rng(3), 16)
    np.testing.assert_array_equal(page.drawing.buildings, condition["buildings"] > 0.5)
    np.testing.assert_allclose(
        page.drawing.radio_condition()["transmitter"], condition["transmitter"], atol=1e-6
    )
    # It stays editable: one more building.
    QTest.mouseClick(page.draw_box.tool_buttons["paint"], LEFT)
    before = page.drawing.buildings.sum()
    free = np.argwhere(page.drawing.buildings + page.drawing.radio_condition()["transmitter"] < 0.01)[0]
    page.draw_box.brush.setValue(0.5)
    click(page.condition_view, free[0] + 0.5, free[1] + 0.5)
    assert page.drawing.buildings.sum() == before + 1


def test_a_regression_model_gives_one_answer_without_spread(qtbot, tmp_path_factory):
    from fieldcast.app.play.generative_view import GenerativeView

    regression = train_tiny(tmp_path_factory.mktemp("generative-play-regression"), objective="regression")
    view = GenerativeView(model=regression.model)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    try:
        assert "regression" in view.model_box.model_label.text() and not view.sampling.steps.isEnabled()
        view.sampling.samples.setValue(3)
        with qtbot.waitSignal(
            view.sig_status, check_params_cb=lambda t: t == "Generation finished", timeout=60_000
        ):
            QTest.mouseClick(view.sampling.generate_button, LEFT)
        samples = view.result.samples
        assert samples.shape == (3, 16, 16) and np.ptp(samples, axis=0).max() == 0.0
        assert view.spread_view.data.max() == 0.0 and "spread–error" not in view.readouts.text()
    finally:
        view.shutdown()


def test_the_model_list_offers_the_runs_models_of_the_source(qtbot, tiny, tiny_ir, tmp_path):
    import shutil

    from fieldcast.app.play.generative_view import GenerativeView

    runs = tmp_path / "runs"
    for name, made in (("radio_run", tiny), ("ir_run", tiny_ir)):
        (runs / name).mkdir(parents=True)
        shutil.copy(made.model, runs / name / "model.onnx")
    (runs / "broken").mkdir()
    (runs / "broken" / "model.onnx").write_bytes(b"not onnx")
    view = GenerativeView(runs=runs)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    try:
        combo = view.model_box.model_combo
        labels = [combo.itemText(i) for i in range(combo.count())]
        assert "Run radio_run" in labels and "Run ir_run" not in labels and "Run broken" not in labels
        if view.session is None:  # no shipped radio model: choose the run's with the keyboard
            combo.setFocus()
            while combo.currentText() != "Run radio_run":
                QTest.keyClick(combo, Qt.Key.Key_Down)
            qtbot.waitUntil(lambda: view.model_path == runs / "radio_run" / "model.onnx", timeout=30_000)
            assert view.sampling.generate_button.isEnabled() and not view.message.isVisible()
        view.model_box.set_source("ir")
        labels = [combo.itemText(i) for i in range(combo.count())]
        assert "Run ir_run" in labels and "Run radio_run" not in labels
    finally:
        view.shutdown()


def test_the_window_opens_a_generative_model_in_play(window, qtbot, tiny):
    """As ``fieldcast play MODEL``, File > Open or a drop do: the model lands on the generative page."""
    assert window.open_paths([tiny.model]) == []  # nothing refused
    play = window.panels["play"]
    qtbot.waitUntil(lambda: play.pages.currentWidget() is play.generative, timeout=10_000)
    assert play.generative.model_path == tiny.model and not play.generative.message.isVisible()
