"""The live plots frame their data themselves, so the axes (and their cached pixmaps) rarely change."""

from __future__ import annotations

import math

import pytest

from fieldcast.widgets.loss_plot import LossPlot, fit_interval


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (1.0, 137.0), (-3.2, -0.4), (2.0, 4.0), (5.0, 5.0)])
def test_fit_interval_holds_the_data_with_room_on_round_steps(lo, hi):
    a, b = fit_interval(lo, hi, before=0.05, after=0.5)
    assert a < lo <= hi < b
    assert b - a <= 3 * max(hi - lo, 0.2 * abs(hi), 1e-9) + 1e-9  # not absurdly wide


@pytest.fixture
def plot(qtbot):
    plot = LossPlot("Loss", "step", "loss", log_y=True, refresh_hz=None)
    qtbot.addWidget(plot)
    plot.resize(500, 300)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


def test_ten_thousand_steps_move_the_axes_a_few_times_and_keep_every_point_in_view(plot):
    view = plot.getPlotItem().getViewBox()
    plot.add_marker(0, "stage 1")
    changes, last = 0, None
    for step in range(1, 10_001):
        plot.append("train", step, 2.0 * math.exp(-step / 2000) + 0.01 * (step % 7))
        if step % 25 == 0:  # a flush every 25 steps
            plot.flush()
            if view.viewRange() != last:
                changes, last = changes + 1, view.viewRange()
    (x0, x1), (y0, y1) = view.viewRange()
    xs, ys = plot.points("train")
    assert x0 <= 0 and xs.max() < x1
    assert y0 < math.log10(ys.min()) and math.log10(ys.max()) < y1
    assert plot.drawn_count("train") == 10_000
    # Growth by half a span on x, and a loss falling two decades on y: about a dozen changes each, where
    # pyqtgraph's auto-range changes the range (and redraws the axes) at every one of the 400 flushes.
    assert changes <= 40, f"the range changed at {changes} of 400 flushes"


def test_zooming_by_hand_stops_the_framing_and_auto_range_gives_it_back(plot):
    view = plot.getPlotItem().getViewBox()
    for step in range(1, 50):
        plot.append("train", step, 1.0 / step)
    plot.flush()
    view.sigRangeChangedManually.emit([True, True])  # what a mouse zoom emits
    view.setRange(xRange=(10, 20), padding=0)
    for step in range(50, 500):
        plot.append("train", step, 1.0 / step)
    plot.flush()
    assert view.viewRange()[0] == [10, 20]
    view.enableAutoRange()  # the "A" button
    plot.append("train", 500, 1e-3)
    plot.flush()
    assert not any(view.autoRangeEnabled())
    assert view.viewRange()[0][1] > 500


def test_every_metric_with_a_baseline_partner_is_drawn_beside_it_dashed(qtbot):
    from fieldcast.app.train.live_plots import LivePlots, baselines_of
    from fieldcast.training.events import ValidationEvent

    metrics = {"loss": 0.4, "rmse_um": 3.0, "zero_rmse_um": 5.0, "linear_rmse_um": 4.0, "r2": 0.6,
               "linear_r2": 0.2, "mae_um": 2.0, "persistence_mse": 0.1}  # fmt: skip
    assert baselines_of(metrics) == {"rmse_um": ["zero_rmse_um", "linear_rmse_um"], "r2": ["linear_r2"]}
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.clear(task="sequence")
    for step in (1, 2):
        plots.on_event(ValidationEvent(0, step, metrics))
    plots.flush()
    assert {"rmse_um", "zero_rmse_um", "linear_rmse_um"} <= set(plots.metrics.curve_keys())
    assert "mae_um" not in plots.metrics.curve_keys()  # no baseline beside it: not drawn
    assert plots.scores.curve_keys() == ["r2", "linear_r2"] and not plots.scores.isHidden()
    assert plots.rollout.isHidden()
    assert all(plots.metrics.drawn_count(k) == 2 for k in ("rmse_um", "zero_rmse_um", "linear_rmse_um"))

    plots.clear(task="field_rollout")
    plots.on_event(ValidationEvent(0, 1, {"loss": 0.5, "persistence_loss": 0.9, "mse/density": 0.4}))
    plots.flush()
    assert plots.loss.drawn_count("persistence_loss") == 1 and plots.loss.drawn_count("valid") == 1
    assert plots.metrics.curve_keys() == ["mse/density"] and plots.scores.isHidden()
    plots.stop()
