"""Play's safety bounds for smoke models: optional, and they say what they changed."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.systems.smoke.play import SPEED_MAX, impose_controls

N = 32


def _frame():
    previous = np.zeros((N, N), np.float32)
    previous[4:8, 4:8] = 0.5  # the only smoke there was
    rho = previous.copy()
    rho[20:25, 20:30] = 0.9  # 50 cells of smoke from nothing
    vx = np.zeros((N, N), np.float32)
    vy = np.zeros((N, N), np.float32)
    vx[0, :10] = 10.0  # 10 cells far too fast
    return {"density": rho, "velocity_x": vx, "velocity_y": vy}, {"density": previous}


def _controls():
    emitter = np.zeros((N, N), np.float32)
    collider = np.zeros((N, N), np.float32)
    collider[28:30, 2:4] = 1.0
    return {"emitter": emitter, "collider": collider}


def test_without_bounds_only_the_controls_and_the_density_range_are_imposed():
    fields, previous = _frame()
    fields["density"][0, 0] = 1.7
    fields["velocity_x"][28, 2] = 3.0
    readout = impose_controls(fields, _controls(), previous=previous, bounds=False)
    assert set(readout.values()) == {0.0}
    assert fields["density"][0, 0] == 1.0  # clipped to [0, 1]
    assert fields["velocity_x"][28, 2] == 0.0  # no flow in colliders
    assert np.allclose(fields["density"][20:25, 20:30], 0.9)  # smoke from nothing stays: no safety net
    assert fields["velocity_x"][0, 0] == 10.0


def test_bounds_report_the_cells_they_changed_and_the_smoke_they_removed():
    fields, previous = _frame()
    readout = impose_controls(fields, _controls(), previous=previous, bounds=True)
    assert readout["advection_cells"] == pytest.approx(50 / N**2)
    assert readout["speed_cells"] == pytest.approx(10 / N**2)
    assert readout["bounded_cells"] == pytest.approx(60 / N**2)
    assert readout["smoke_removed"] == pytest.approx(50 * 0.9, rel=1e-5)
    assert fields["density"][20:25, 20:30].max() == 0.0
    assert np.hypot(fields["velocity_x"], fields["velocity_y"]).max() <= SPEED_MAX + 1e-5


def test_the_advection_bound_reaches_as_far_as_the_frames_of_a_step():
    previous = np.zeros((N, N), np.float32)
    previous[10, 10] = 0.8
    rho = np.zeros((N, N), np.float32)
    rho[15, 10] = 0.8  # moved 5 cells in +x by a flow of 1 cell/frame
    vx = np.ones((N, N), np.float32)
    vy = np.zeros((N, N), np.float32)

    def run(frames):
        fields = {"density": rho.copy(), "velocity_x": vx.copy(), "velocity_y": vy.copy()}
        return impose_controls(fields, {}, previous={"density": previous}, frames=frames), fields

    readout, fields = run(5)
    assert readout["bounded_cells"] == 0.0 and fields["density"][15, 10] == pytest.approx(0.8)
    readout, fields = run(1)  # a one-frame step cannot have carried it so far
    assert readout["advection_cells"] == pytest.approx(1 / N**2) and fields["density"][15, 10] == 0.0


def test_the_smoke_budget_counts_every_frame_of_a_step():
    previous = np.zeros((N, N), np.float32)
    emitter = np.zeros((N, N), np.float32)
    emitter[10:12, 10:12] = 1.0  # 4 cells at 0.2 per frame: 0.8 smoke per frame
    rho = np.zeros((N, N), np.float32)
    rho[10:12, 10:14] = 0.35  # 2.8 in all: within what 5 frames of emission make, carried along the flow
    vy = np.full((N, N), 0.5, np.float32)

    def run(frames):
        fields = {"density": rho.copy(), "velocity_x": np.zeros_like(vy), "velocity_y": vy.copy()}
        readout = impose_controls(
            fields, {"emitter": emitter, "emitter_rate": 0.2}, previous={"density": previous}, frames=frames
        )
        return readout, fields

    readout, fields = run(5)
    assert readout["budget_cells"] == 0.0 and readout["smoke_removed"] == 0.0
    readout, fields = run(1)  # one frame of emission (0.8) and the re-imposition's (0.8) cannot make 3.6
    assert readout["budget_cells"] > 0.0 and fields["density"].sum() <= 1.6 + 1e-4
    assert readout["smoke_removed"] == pytest.approx(3.6 - 1.6, abs=1e-4)
