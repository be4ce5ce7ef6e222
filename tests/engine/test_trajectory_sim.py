"""Trajectory system: planner and axis dynamics against analytic results, generator determinism."""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np
import pytest

from fieldcast.engine.jobs import Cancelled, CancelToken
from fieldcast.engine.systems.trajectory import (
    PROFILE,
    SHAPERS,
    TRAJECTORY_SPEC,
    Machine,
    iter_write_dataset,
    simulate_toolpath,
    simulate_trajectory,
    writer_options,
)
from fieldcast.engine.systems.trajectory import spec as trajectory_spec
from fieldcast.engine.systems.trajectory.dynamics import (
    AxisParams,
    AxisSimulator,
    axis_matrices,
    simulate_axis,
)
from fieldcast.engine.systems.trajectory.gcode import parse_gcode
from fieldcast.engine.systems.trajectory.paths import random_toolpath
from fieldcast.engine.systems.trajectory.planner import (
    MotionLimits,
    junction_speed,
    plan_moves,
    shaper_impulses,
)

LINEAR_X = AxisParams(mass=0.35, stiffness=8000.0, damping=15.0)


def _move(length: float, feed: float, limits: MotionLimits):
    return plan_moves(np.array([[0.0, 0.0], [length, 0.0]]), np.array([feed]), limits)


def test_single_move_trapezoid_and_triangle_times():
    limits = MotionLimits(accel=1000.0, max_velocity=250.0)
    assert _move(100.0, 100.0, limits).duration == pytest.approx(100 / 100 + 100 / 1000)
    tri = _move(1.0, 100.0, limits)  # never reaches 100 mm/s: peak √(a·d)
    assert tri.duration == pytest.approx(2 * math.sqrt(1.0 / 1000.0))
    assert tri.v_cruise[0] == pytest.approx(math.sqrt(1000.0))
    capped = _move(100.0, 400.0, limits)  # feed above the machine limit
    assert capped.v_cruise[0] == pytest.approx(250.0)


def test_square_time_with_junction_deviation_corners():
    a, jd, side, feed = 500.0, 0.013, 20.0, 80.0
    square = np.array([[0, 0], [side, 0], [side, side], [0, side], [0, 0]], dtype=float)
    plan = plan_moves(square, np.full(4, feed), MotionLimits(accel=a, junction_deviation=jd, lookahead=0))
    s = math.sin(math.pi / 4)  # 90° corner: θ = 90°
    vj = math.sqrt(a * jd * s / (1 - s))
    np.testing.assert_allclose(plan.v_entry[1:], vj, rtol=1e-12)
    expected = 0.0
    for v0, v1 in ((0, vj), (vj, vj), (vj, vj), (vj, 0)):
        d_a, d_d = (feed**2 - v0**2) / (2 * a), (feed**2 - v1**2) / (2 * a)
        expected += (feed - v0) / a + (feed - v1) / a + (side - d_a - d_d) / feed
    assert plan.duration == pytest.approx(expected, rel=1e-12)


def test_junction_speed_limits():
    east, north, west = np.array([[1.0, 0]]), np.array([[0, 1.0]]), np.array([[-1.0, 0]])
    acc = np.array([1000.0])
    assert junction_speed(east, east, acc, 0.05)[0] == np.inf
    assert junction_speed(east, west, acc, 0.05)[0] == 0.0
    s = math.sin(math.pi / 4)
    assert junction_speed(east, north, acc, 0.05)[0] == pytest.approx(math.sqrt(1000 * 0.05 * s / (1 - s)))


@pytest.mark.parametrize("lookahead", [0, 4, 16])
def test_planner_never_exceeds_limits_on_random_paths(lookahead):
    rng = np.random.default_rng(3)
    xy = np.cumsum(rng.normal(0.0, 3.0, size=(300, 2)), axis=0)
    feed = rng.uniform(20.0, 300.0, size=299)
    accel = np.where(rng.random(299) < 0.3, rng.uniform(200.0, 5000.0, size=299), np.nan)
    limits = MotionLimits(accel=1500.0, max_velocity=200.0, junction_deviation=0.02, lookahead=lookahead)
    plan = plan_moves(xy, feed, limits, accel=accel)
    eps = 1e-9
    assert np.all(plan.accel <= 1500.0 + eps)
    assert np.all(plan.v_cruise <= np.minimum(feed, 200.0) + eps)
    junction = junction_speed(
        plan.unit[:-1], plan.unit[1:], np.minimum(plan.accel[:-1], plan.accel[1:]), 0.02
    )
    assert np.all(plan.v_entry[1:] <= junction + eps)
    assert plan.v_entry[0] == 0.0 and plan.v_exit[-1] == 0.0
    np.testing.assert_allclose(plan.v_exit[:-1], plan.v_entry[1:])
    # Every trapezoid fits its block: the reached speeds are consistent with end_v² = start_v² + 2·a·d.
    assert np.all(plan.v_exit**2 <= plan.v_entry**2 + 2 * plan.accel * plan.length + 1e-6)
    assert np.all(plan.v_entry**2 <= plan.v_exit**2 + 2 * plan.accel * plan.length + 1e-6)
    t = np.linspace(0.0, plan.duration, 20001)
    pos, vel, acc = plan.sample(t)
    speed = np.hypot(*vel.T)
    assert speed.max() <= 200.0 + 1e-6
    assert np.hypot(*acc.T).max() <= 1500.0 + 1e-6
    # Position is continuous and ends where the path ends.
    assert np.abs(np.diff(pos, axis=0)).max() <= 200.0 * (t[1] - t[0]) + 1e-9
    np.testing.assert_allclose(pos[-1], xy[-1], atol=1e-9)


def test_constant_acceleration_lag_is_a_over_omega_squared():
    dt, a = 1e-3, 500.0
    t = np.arange(0.0, 1.5, dt)
    e = simulate_axis(dt, 0.5 * a * t**2, a * t, LINEAR_X)
    lag = a / LINEAR_X.omega_n**2  # = m·a/k
    assert lag == pytest.approx(0.35 * 500 / 8000)
    assert e[-1] == pytest.approx(-lag, rel=1e-6)


def test_no_lag_at_constant_velocity_after_acceleration():
    machine = Machine(MotionLimits(accel=200.0, lookahead=0), LINEAR_X, LINEAR_X)
    path = parse_gcode("G1 X0 Y0\nG1 X200 F6000\n")
    sim = simulate_toolpath(path, machine, rate_hz=1000.0, out_hz=1000.0)
    t, err = sim["time"], sim["error_x"]
    lag_um = 1000.0 * 200.0 / LINEAR_X.omega_n**2
    # Accelerating for 0.5 s: the transient (decay time 1/(ζ·ωn) ≈ 47 ms) is gone by 0.45 s.
    assert err[np.searchsorted(t, 0.45)] == pytest.approx(-lag_um, rel=1e-3)
    assert abs(err[np.searchsorted(t, 1.5)]) < 1e-6  # cruising: no lag left
    assert np.abs(sim["error_y"]).max() < 1e-9


@pytest.mark.parametrize("damping", [15.0, 40.0, 80.0])
def test_overshoot_after_a_step_follows_damping_ratio(damping):
    axis = AxisParams(mass=0.35, stiffness=8000.0, damping=damping)
    zeta = axis.zeta
    phi, _ = axis_matrices(axis, 1e-5)
    x = np.array([-1.0, 0.0])  # the command jumped 1 mm ahead of the carriage
    peak = -1.0
    for _ in range(int(2 * math.pi / axis.omega_n / 1e-5)):
        x = phi @ x
        peak = max(peak, x[0])
    assert peak == pytest.approx(math.exp(-math.pi * zeta / math.sqrt(1 - zeta**2)), rel=1e-4)


@pytest.mark.parametrize("damping", [15.0, 40.0])
def test_overshoot_after_the_head_stops(damping):
    axis = AxisParams(mass=0.35, stiffness=8000.0, damping=damping)
    machine = Machine(MotionLimits(accel=300.0, lookahead=0), axis, axis)
    path = parse_gcode("G1 X100 F6000\n")
    sim = simulate_toolpath(path, machine, rate_hz=20000.0, out_hz=20000.0, settle_s=0.3)
    plan_end = sim["time"][np.flatnonzero(np.abs(sim["vx_ref"]) > 0)[-1]]
    stop = np.searchsorted(sim["time"], plan_end)
    e_stop = sim["error_x"][stop]  # quasi-static lead while decelerating: +m·a/k
    assert e_stop == pytest.approx(1000.0 * 300.0 / axis.omega_n**2, rel=2e-3)
    ratio = -sim["error_x"][stop:].min() / e_stop
    assert ratio == pytest.approx(math.exp(-math.pi * axis.zeta / math.sqrt(1 - axis.zeta**2)), rel=5e-3)


def test_input_shaper_cancels_ringing():
    amps, delays = shaper_impulses("zv", 20.0, 0.1)
    assert amps.sum() == pytest.approx(1.0) and np.dot(amps, delays) == pytest.approx(0.0, abs=1e-15)
    ringing = {}
    for shaper in ("none", "zv", "mzv"):
        f = LINEAR_X.omega_n / (2 * math.pi)
        limits = MotionLimits(accel=2000.0, shaper=shaper, shaper_freq=f, shaper_damping=LINEAR_X.zeta)
        sim = simulate_toolpath(
            parse_gcode("G1 X50 F12000\n"), Machine(limits, LINEAR_X, LINEAR_X), out_hz=1000.0
        )
        after = sim["time"] > sim["time"][np.flatnonzero(sim["vx_ref"])[-1]] + 0.05
        ringing[shaper] = np.abs(sim["error_x"][after]).max()
    assert ringing["zv"] < 0.05 * ringing["none"]
    assert ringing["mzv"] < 0.05 * ringing["none"]


def test_generated_trajectory_is_deterministic_and_plausible():
    a = simulate_trajectory(7, 300)
    b = simulate_trajectory(7, 300)
    assert set(a) == {f.name for f in TRAJECTORY_SPEC.fields}
    for name in a:
        assert a[name].shape == (300, 1, 1) and a[name].dtype == np.float32
        np.testing.assert_array_equal(a[name], b[name])
    err = np.hypot(a["error_x"], a["error_y"])
    assert 0.1 < np.sqrt(np.mean(err**2)) < 1000.0  # micrometres
    np.testing.assert_allclose(a["x_act"] - a["x_ref"], a["error_x"] / 1000.0, atol=2e-3)


def test_firmware_effects_add_error():
    quiet = simulate_trajectory(11, 400, firmware_effects=False, shaper="none")
    noisy = simulate_trajectory(11, 400, firmware_effects=True, shaper="none")
    assert not np.allclose(quiet["error_x"], noisy["error_x"])


def test_dataset_round_trip(tmp_path):
    from fieldcast.engine.data import open_dataset
    from fieldcast.resources import resource_path

    out = tmp_path / "traj.h5"
    gcode = str(resource_path("gcode", "calibration_square_prusaslicer.gcode"))
    events = list(iter_write_dataset(out, 3, 200, seed=1, gcode=gcode, gcode_fraction=0.5))
    assert events[-1].done == 3
    assert writer_options(200)["grid"] == (1, 1)
    with open_dataset(out) as ds:
        assert ds.spec.kind == "sequence" and ds.n_frames == 200 and ds.grid == (1, 1)
        window = ds.read_window(2, 0, 200)
    assert window.shape == (200, 8 + len(PROFILE), 1, 1)
    np.testing.assert_allclose(
        window[:, 4, 0, 0],
        simulate_trajectory(np.random.SeedSequence(1).spawn(3)[2], 200, gcode=gcode)["error_x"][:, 0, 0],
    )


def test_profile_channels_are_constant_per_trajectory_and_describe_the_machine():
    sim = simulate_trajectory(7, 120)
    for name in PROFILE:
        assert name in sim and np.ptp(sim[name]) == 0.0
    profile = {name: float(sim[name][0, 0, 0]) for name in PROFILE}
    machine = Machine.from_profile(profile)
    assert machine.profile() == pytest.approx(profile, rel=1e-6)
    assert {f.name for f in TRAJECTORY_SPEC.fields} >= set(PROFILE)
    assert TRAJECTORY_SPEC.extra["profile"] == list(PROFILE)
    assert SHAPERS[int(profile["shaper"])] == machine.limits.shaper


@pytest.mark.parametrize("shaper", ["none", "zv", "mzv"])
def test_physics_filter_reproduces_a_linear_machine_at_100_hz(shaper):
    """No friction, backlash, quantisation or jitter: the causal filter (3 samples late, read back in line)
    explains the simulated 1 kHz error from the 100 Hz reference alone."""
    from fieldcast.engine.systems.trajectory.baseline import error_metrics
    from fieldcast.engine.systems.trajectory.features import PhysicsFeatures
    from fieldcast.engine.systems.trajectory.paths import random_toolpath

    machine = Machine(MotionLimits(shaper=shaper, shaper_freq=24.0))
    sim = simulate_toolpath(random_toolpath(np.random.default_rng(5), 4.0), machine)
    names = ["x_ref", "y_ref", "vx_ref", "vy_ref", *PROFILE]
    _, base = PhysicsFeatures(names, 0.01).transform(np.column_stack([sim[c] for c in names]))
    m = error_metrics(base, np.column_stack([sim["error_x"], sim["error_y"]]))
    assert min(m["r2_x"], m["r2_y"]) > 0.95


def test_physics_features_stream_as_they_transform_and_ignore_the_bed_position():
    from fieldcast.engine.systems.trajectory.features import LATENCY, PhysicsFeatures

    sim = simulate_trajectory(11, 300)
    names = ["x_ref", "y_ref", "vx_ref", "vy_ref", *PROFILE]
    raw = np.column_stack([sim[c][:, 0, 0] for c in names]).astype(np.float64)
    pipe = PhysicsFeatures(names, 0.01)
    feats, base = pipe.transform(raw)
    padded = pipe.pad(raw)
    streamed = [pipe.step(row) for row in padded]
    assert np.allclose(np.stack([f for f, _ in streamed[LATENCY:]]), feats)
    assert np.allclose(np.array([b for _, b in streamed[LATENCY:]]), base)
    shifted = raw.copy()
    shifted[:, :2] += (37.5, -21.25)  # the same part elsewhere on the bed
    f2, b2 = pipe.transform(shifted)
    assert np.allclose(f2, feats, atol=1e-6) and np.allclose(b2, base, atol=1e-6)
    assert not np.allclose(feats[:, 0], raw[:, 0])  # no absolute position among the features


ROUGH = AxisParams(mass=0.4, friction=0.2, backlash=0.01, step=0.00625, jitter=2e-5)


def _run(job):
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as stop:
            return events, stop.value


@pytest.mark.parametrize("shaper", ["none", "mzv"])
def test_simulation_in_stretches_is_the_one_shot_simulation_bit_for_bit(shaper):
    """Friction and backlash (the per-sample path) with jitter: the state and noise carry across stretches."""
    machine = Machine(MotionLimits(shaper=shaper), ROUGH, replace(ROUGH, friction=0.1))
    path = random_toolpath(np.random.default_rng(2), 3.0)
    whole = simulate_toolpath(path, machine, rng=np.random.default_rng(4))
    events, parts = _run(
        trajectory_spec.iter_simulate_toolpath(
            path, machine, rng=np.random.default_rng(4), chunk=250, token=CancelToken()
        )
    )
    assert set(parts) == set(whole)
    for name in whole:
        assert parts[name].tobytes() == whole[name].tobytes(), name
    done = [e.done for e in events]
    assert all(e.stage == "simulate" and e.total == path.n_segments for e in events)
    assert done[0] == 0 and done[-1] == path.n_segments and done == sorted(done) and len(set(done)) >= 5


def test_cancel_lands_between_stretches():
    token = CancelToken()
    job = trajectory_spec.iter_simulate_toolpath(
        random_toolpath(np.random.default_rng(2), 3.0), Machine(), chunk=300, token=token
    )
    seen = []
    with pytest.raises(Cancelled):
        for event in job:
            seen.append(event.done)
            if len(seen) == 3:
                token.cancel()
    assert len(seen) == 3 and seen[-1] > 0


def test_linear_axis_filter_matches_the_per_sample_integration():
    """Without friction the axis runs as an IIR filter: within 1e-9 mm of the per-sample loop (measured
    3e-16 mm on this command: rounding only), also with quantisation, jitter and backlash shaping δ."""
    dt, n = 1e-3, 20_000
    t = np.arange(n) * dt
    u, v = 40.0 * np.sin(3.0 * t) * np.sin(0.5 * t), 120.0 * np.cos(3.0 * t) * np.sin(0.5 * t)
    acc = np.append(np.diff(v) / dt, 0.0)
    for axis in (LINEAR_X, replace(ROUGH, friction=0.0)):
        loop = AxisSimulator(axis, dt, n, np.random.default_rng(1), filter_linear=False)
        fast = AxisSimulator(axis, dt, n, np.random.default_rng(1))
        assert fast.linear and not loop.linear
        expected = loop.advance(u, v, acc)
        got = np.concatenate(
            [fast.advance(u[i : i + 999], v[i : i + 999], acc[i : i + 999]) for i in range(0, n, 999)]
        )
        assert np.abs(expected).max() > 1e-3
        assert np.abs(got - expected).max() < 1e-9


def test_linear_machine_toolpath_matches_the_per_sample_integration(monkeypatch):
    """The reference printer (no friction, no backlash) simulated through the filter and through the loop."""
    machine = Machine()
    path = random_toolpath(np.random.default_rng(6), 3.0)
    fast = simulate_toolpath(path, machine, rng=np.random.default_rng(0))
    monkeypatch.setattr(
        trajectory_spec, "AxisSimulator", functools.partial(AxisSimulator, filter_linear=False)
    )
    loop = simulate_toolpath(path, machine, rng=np.random.default_rng(0))
    for name in ("x_act", "y_act"):
        assert np.abs(fast[name] - loop[name]).max() < 1e-9  # mm
    for name in ("error_x", "error_y"):
        assert np.abs(fast[name] - loop[name]).max() < 1e-6  # µm
    for name in ("x_ref", "y_ref", "vx_ref", "vy_ref", "time"):
        assert fast[name].tobytes() == loop[name].tobytes()
