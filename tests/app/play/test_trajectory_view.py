"""The trajectory view: the shipped model's prediction by default (opened and dropped files), its R²
beside the physics filter's, re-simulation on printer changes, scrub, layers, a user's streaming model,
and the progress (moves, samples) and cancel of a long file."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from qt_events import drop_files
from sequence_model_files import write_tiny_lstm_model

from fieldcast.app.play.trajectory_job import TrajectoryResult, shipped_model_path, trajectory_job
from fieldcast.app.play.trajectory_view import TrajectoryView
from fieldcast.engine.jobs import Cancelled, CancelToken, Progress
from fieldcast.engine.systems.trajectory import INPUTS, OUT_HZ, PROFILE, TARGETS, Machine
from fieldcast.engine.systems.trajectory.features import PhysicsFeatures
from fieldcast.engine.systems.trajectory.synthetic_gcode import write_synthetic_gcode
from fieldcast.resources import resource_path
from fieldcast.widgets.toolpath_plot import ALL_LAYERS

SAMPLE = resource_path("gcode", "calibration_square_prusaslicer.gcode")
WAIT_MS = 30_000


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    return folder


@pytest.fixture
def view(qtbot, runs):
    v = TrajectoryView(runs=runs)
    v.resize(1400, 900)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.shutdown()


def _open(qtbot, view: TrajectoryView, path) -> dict:
    with qtbot.waitSignal(view.sig_result_shown, timeout=WAIT_MS) as blocker:
        view.open_gcode(path)
    return blocker.args[0]


def _r2(pred: np.ndarray, truth: np.ndarray) -> float:
    return 1.0 - np.sum((pred - truth) ** 2) / np.sum((truth - truth.mean()) ** 2)


def _check_shipped_prediction(qtbot, view: TrajectoryView) -> None:
    """The shown result is the shipped model's prediction: colouring, curves and readouts agree with it."""
    result = view.result
    assert view.source.model_combo.currentIndex() == 0 and view.source.model_path == str(shipped_model_path())
    assert result.model == "trajectory_default.onnx" and view.source.show_predicted.isChecked()
    sim = result.sim
    truth = np.column_stack([sim[c] for c in TARGETS])
    pred = result.predicted
    assert pred.shape == truth.shape and np.isfinite(pred).all()
    plot = view.toolpath
    np.testing.assert_allclose(plot._values, np.hypot(pred[:, 0], pred[:, 1]))
    assert plot.bar.axis.labelText == "|error| predicted (µm)"
    assert len({tuple(c) for c in plot.segment_colours()}) > 10
    _, curve = view.curves["pred_y"].getOriginalDataset()
    np.testing.assert_allclose(curve, pred[:, 1])
    # The physics filter, run here from the simulation's own profile channels.
    raw = np.column_stack([sim[c] for c in (*INPUTS, *PROFILE)])
    physics = PhysicsFeatures((*INPUTS, *PROFILE), 1.0 / OUT_HZ).transform(raw)[1]
    for k, axis in enumerate("xy"):
        model_r2, physics_r2 = _r2(pred[:, k], truth[:, k]), _r2(physics[:, k], truth[:, k])
        assert view.readout_box.text(f"r2_{axis}") == f"{model_r2:.3f}"
        assert view.readout_box.text(f"phys_r2_{axis}") == f"{physics_r2:.3f}"
        assert model_r2 > physics_r2 > 0.5  # the model beats the printer's physics filter on this file
    assert view.readout_box.text("mae") == f"{np.mean(np.abs(pred - truth)):.2f} µm"
    assert view.readout_box.text("phys_mae") == f"{np.mean(np.abs(physics - truth)):.2f} µm"
    assert np.mean(np.abs(pred - truth)) < np.mean(np.abs(physics - truth))
    assert not view.message.isVisible()
    qtbot.waitUntil(lambda: not view.progress.isVisible(), timeout=WAIT_MS)  # the job has ended

    # Switching the colouring to the simulated error, with the mouse.
    by_prediction = plot.segment_colours().copy()
    qtbot.mouseClick(view.source.show_simulated, Qt.MouseButton.LeftButton)
    assert view.source.show_simulated.isChecked() and not view.source.show_predicted.isChecked()
    assert plot.bar.axis.labelText == "|error| simulated (µm)"
    np.testing.assert_allclose(plot._values, np.hypot(truth[:, 0], truth[:, 1]))
    assert not np.array_equal(plot.segment_colours(), by_prediction)
    qtbot.mouseClick(view.source.show_predicted, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(plot.segment_colours(), by_prediction)


def test_opened_gcode_is_coloured_by_the_shipped_models_prediction(qtbot, view):
    with qtbot.waitSignal(view.sig_file_opened, timeout=WAIT_MS) as opened:
        view.open_gcode(SAMPLE)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT_MS)
    assert opened.args == [str(SAMPLE)]
    assert view.toolpath.shown_segments().size > 2000
    _check_shipped_prediction(qtbot, view)
    assert view.readout_box.text("ms").endswith(")") and view.readout_box.text("rms_pred").endswith("µm")
    t, ex = view.curves["sim_x"].getOriginalDataset()
    np.testing.assert_allclose(ex, view.result.sim["error_x"])


def test_dropped_gcode_shows_the_shipped_models_prediction(qtbot, window):
    assert drop_files(window, [SAMPLE])
    view = window.panels["play"].trajectory
    assert window.current_panel().name == "play" and view.isVisible()
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT_MS)
    assert view.path == SAMPLE
    _check_shipped_prediction(qtbot, view)


def test_without_a_model_the_path_shows_the_simulation_and_the_physics_filter(qtbot, view):
    combo = view.source.model_combo
    assert combo.itemData(1) == "" and combo.count() >= 2
    _open(qtbot, view, SAMPLE)
    combo.setFocus()
    with qtbot.waitSignal(view.sig_result_shown, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(combo, Qt.Key.Key_Down)  # shipped → none
    values = blocker.args[0]
    assert view.session is None and view.result.predicted is None
    assert view.source.show_simulated.isChecked() and not view.source.show_predicted.isEnabled()
    assert (
        view.readout_box.text("r2_x") == "–"
        and view.readout_box.text("phys_r2_x") == f"{values['phys_r2_x']:.3f}"
    )
    x_pred, _ = view.curves["pred_x"].getOriginalDataset()
    assert x_pred is None or len(x_pred) == 0  # no model, no predicted curve


def test_prediction_reports_samples_and_cancel_stops_it(monkeypatch):
    from fieldcast.app.play import trajectory_job as job_module

    # Reports every 2 ms instead of 0.2 s: on a quiet machine the whole prediction takes less than 0.2 s.
    monkeypatch.setattr(job_module, "_PREDICT_REPORT_S", 0.002)
    model = shipped_model_path()
    events = list(trajectory_job(CancelToken(), 1, SAMPLE, Machine(), model))
    result = events[-1]
    assert isinstance(result, TrajectoryResult) and result.session is not None
    samples = result.sim["time"].size
    predict = [e for e in events if isinstance(e, Progress) and e.stage == "predict" and e.total]
    assert all(e.total == samples for e in predict) and predict[-1].done == samples
    assert any(0 < e.done < samples for e in predict)  # counted while the model streams
    token = CancelToken()
    job = trajectory_job(token, 2, SAMPLE, Machine(), result.session, result.toolpath, result.sim)
    with pytest.raises(Cancelled):
        for event in job:
            if isinstance(event, Progress) and event.stage == "predict" and event.total:
                token.cancel()
            assert not isinstance(event, TrajectoryResult)


def test_changing_acceleration_resimulates(qtbot, view):
    before = _open(qtbot, view, SAMPLE)
    spin = view.machine_box.accel_spin
    spin.setFocus()
    spin.selectAll()
    with qtbot.waitSignal(view.sig_result_shown, timeout=WAIT_MS) as blocker:
        qtbot.keyClicks(spin, "250")
        qtbot.keyClick(spin, Qt.Key.Key_Return)
    after = blocker.args[0]
    assert view.result.machine.limits.accel == 250.0
    assert after["rms_sim"] != pytest.approx(before["rms_sim"], rel=1e-3)
    assert view.result.sim["time"][-1] > 60.0  # gentler acceleration: the print takes longer


def test_layer_selector_changes_the_shown_path(qtbot, view):
    _open(qtbot, view, SAMPLE)
    plot = view.toolpath
    all_segments = plot.shown_segments()
    assert plot.current_layer == ALL_LAYERS and plot.layer_combo.count() == 4  # all + 3 layers
    plot.layer_combo.setFocus()
    with qtbot.waitSignal(plot.sig_layer_changed, timeout=5_000) as blocker:
        qtbot.keyClick(plot.layer_combo, Qt.Key.Key_Down)
    assert blocker.args == [0] and plot.current_layer == 0
    shown = plot.shown_segments()
    layer = view.result.sim["layer"]
    assert 0 < shown.size < all_segments.size and np.all(layer[shown] == 0) and np.all(layer[shown + 1] == 0)
    qtbot.keyClick(plot.layer_combo, Qt.Key.Key_Down)
    assert plot.current_layer == 1 and np.all(layer[plot.shown_segments()] == 1)
    first = int(np.flatnonzero(layer == 1)[0])
    assert plot.current_index == first  # the scrubber jumps to the layer's start


def test_scrubber_moves_the_marker(qtbot, view):
    _open(qtbot, view, SAMPLE)
    plot = view.toolpath
    start = plot.marker_position()
    plot.scrubber.setFocus()
    with qtbot.waitSignal(plot.sig_position_changed, timeout=5_000):
        for _ in range(6):
            qtbot.keyClick(plot.scrubber, Qt.Key.Key_PageUp)
    i = plot.current_index
    assert i > 0
    xy = view.result.sim["x_ref"][i], view.result.sim["y_ref"][i]
    assert plot.marker_position() == pytest.approx(xy) and plot.marker_position() != start
    assert view.time_line.value() == pytest.approx(view.result.sim["time"][i])
    assert plot.time_label.text() == f"t = {view.result.sim['time'][i]:.2f} s"


def test_malformed_gcode_shows_a_message_and_the_view_recovers(qtbot, view, tmp_path):
    bad = tmp_path / "bad.gcode"
    bad.write_text("G90\nG1 X10 Y10 F6000\nG2 X20 Y10\n")
    view.open_gcode(bad)
    qtbot.waitUntil(view.message.isVisible, timeout=WAIT_MS)
    assert view.message.text() == f"{bad}:3: an arc needs I/J (centre offset) or R (radius)"
    assert view.toolpath.shown_segments().size == 0 and view.result is None
    _open(qtbot, view, SAMPLE)
    assert not view.message.isVisible() and view.toolpath.shown_segments().size > 0


def test_tiny_lstm_model_adds_the_predicted_error(qtbot, runs, tmp_path):
    model = write_tiny_lstm_model(runs / "lstm-run" / "model.onnx")
    view = TrajectoryView(runs=runs)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    try:
        combo = view.source.model_combo
        qtbot.waitUntil(lambda: combo.count() == 3, timeout=WAIT_MS)  # shipped, none, found under runs/**
        assert combo.itemData(0) == str(shipped_model_path()) and combo.itemData(2) == str(model)
        _open(qtbot, view, SAMPLE)
        combo.setFocus()
        with qtbot.waitSignal(view.sig_result_shown, timeout=WAIT_MS):
            qtbot.keyClick(combo, Qt.Key.Key_Down)  # shipped → none
        with qtbot.waitSignal(view.sig_result_shown, timeout=WAIT_MS) as blocker:
            qtbot.keyClick(combo, Qt.Key.Key_Down)  # none → the run's model
        values = blocker.args[0]
        assert view.session is not None and view.session.path == model
        t, pred = view.curves["pred_x"].getOriginalDataset()
        assert len(pred) == view.result.sim["time"].size and np.isfinite(pred).all()
        np.testing.assert_allclose(pred, view.result.predicted[:, 0])
        assert np.isfinite(values["r2"]) and values["ms_mean"] > 0
        assert view.readout_box.text("ms").endswith(")") and view.readout_box.text("rms_pred").endswith("µm")
        by_prediction = view.toolpath.segment_colours().copy()
        qtbot.mouseClick(view.source.show_simulated, Qt.MouseButton.LeftButton)
        assert view.source.show_simulated.isChecked()
        assert not np.array_equal(view.toolpath.segment_colours(), by_prediction)
        junk = tmp_path / "junk.onnx"
        junk.write_bytes(b"not a model")
        assert view.open_model(junk) is False
        assert view.message.isVisible() and str(junk) in view.message.text()
        assert view.session.path == model and combo.currentData() == str(model)
    finally:
        view.shutdown()


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    return write_synthetic_gcode(tmp_path_factory.mktemp("gcode") / "long.gcode", 5_000, seed=1)


def test_job_counts_moves_while_reading_and_stops_when_cancelled(long_file):
    events = list(trajectory_job(CancelToken(), 1, long_file, Machine()))
    assert isinstance(events[-1], TrajectoryResult)
    parse = [e for e in events if isinstance(e, Progress) and e.stage == "parse" and e.total]
    assert len(parse) >= 5 and [e.done for e in parse] == sorted({e.done for e in parse})
    moves = events[-1].toolpath.n_segments
    simulate = [e for e in events if isinstance(e, Progress) and e.stage == "simulate"]
    assert simulate[0].done == 0 and simulate[-1].done == simulate[-1].total == moves
    assert [e.done for e in simulate] == sorted(e.done for e in simulate)  # counted in moves
    token = CancelToken()
    job = trajectory_job(token, 2, long_file, Machine())
    with pytest.raises(Cancelled):
        for event in job:
            if isinstance(event, Progress) and event.done > 0:
                token.cancel()  # mid-file: the next block is not read
            assert not isinstance(event, TrajectoryResult)


def test_long_file_shows_its_moves_and_cancel_stops_it(qtbot, view, long_file, monkeypatch):
    shown = []
    draw = view.progress.show_progress

    def record(event):
        draw(event)
        shown.append((event.stage, view.progress.bar.format(), view.progress.bar.value()))

    monkeypatch.setattr(view.progress, "show_progress", record)
    assert view.open_model("")  # the moves are counted here; the prediction's samples elsewhere
    _open(qtbot, view, long_file)
    counted = [(text, value) for stage, text, value in shown if stage == "parse" and text.endswith(" moves")]
    assert len(counted) >= 5 and [v for _, v in counted] == sorted({v for _, v in counted})
    total = counted[-1][1]
    assert counted[-1][0] == f"{total:,} / {total:,} moves"
    qtbot.waitUntil(lambda: not view.progress.isVisible(), timeout=WAIT_MS)  # gone once the job ends

    # A second file, cancelled with the mouse as soon as it reports progress.
    def cancel_on_first(event):
        draw(event)
        if not view.progress.cancelling:
            assert view.progress.isVisible() and view.progress.cancel_button.isEnabled()
            qtbot.mouseClick(view.progress.cancel_button, Qt.MouseButton.LeftButton)

    monkeypatch.setattr(view.progress, "show_progress", cancel_on_first)
    other = write_synthetic_gcode(long_file.with_name("other.gcode"), 5_000, seed=2)
    view.open_gcode(other)
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=WAIT_MS)
    qtbot.waitUntil(view.message.isVisible, timeout=WAIT_MS)
    assert view.message.text() == "Cancelled: other.gcode was not simulated"
    assert view.result is None and view.toolpath.shown_segments().size == 0
    assert not view.progress.isVisible()
