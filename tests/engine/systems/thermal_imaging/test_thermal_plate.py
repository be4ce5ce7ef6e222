"""The plan-view plate solver against the thin-plate analytic solution, its energy balance, and IR runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import k0

from fieldcast.engine.systems.melt.thermal import Laser, Material
from fieldcast.engine.systems.thermal_imaging.ir import (
    IR_FIELDS,
    MEMORY,
    IRRun,
    IRSettings,
    sample_ir_run,
    simulate_ir,
)
from fieldcast.engine.systems.thermal_imaging.plate import (
    PlateSolver,
    Stroke,
    beam_at,
    hatch_strokes,
    path_strokes,
)
from fieldcast.engine.systems.thermal_imaging.spec import reference_ir_from_path


def test_a_stationary_spot_settles_to_the_thin_plate_solution():
    # Linear conduction (no latent heat) in a layer with a sink: (k lap - beta) dT = -q. A point source of
    # A P / layer W/m gives dT = A P / (2 pi k layer) K0(r / L), L = sqrt(k / beta); the Gaussian spot
    # (variance R²/4 per axis) multiplies the far field by exp(R² / (8 L²)). The insulated edges of the
    # square plate act as mirrors: the source at the centre has images on a lattice of the plate's side.
    m = Material().without_latent_heat()
    n, dx, layer, lateral = 64, 12e-6, 100e-6, 2.0
    solver = PlateSolver(n, n, dx, m, layer=layer, lateral=lateral)
    laser = Laser(radius=40e-6, absorptivity=0.35)
    power = 20.0
    c = n * dx / 2
    tau = m.density * m.specific_heat / solver.beta
    solver.scan(12 * tau, c, c, c, c, power, laser)
    big_l = math.sqrt(m.conductivity / solver.beta)
    x = (np.arange(n) + 0.5) * dx - c
    gx, gy = np.meshgrid(x, x, indexing="ij")
    r = np.hypot(gx, gy)
    side = n * dx
    images = sum(
        k0(np.hypot(gx - i * side, gy - j * side) / big_l) for i in range(-2, 3) for j in range(-2, 3)
    )
    amplitude = laser.absorptivity * power / (2 * math.pi * m.conductivity * layer)
    analytic = amplitude * images * math.exp(laser.radius**2 / (8 * big_l**2))
    ring = (r > 2.5 * big_l) & (r < 4.5 * big_l)
    rise = solver.temperature - 300.0
    np.testing.assert_allclose(rise[ring], analytic[ring], rtol=0.03)


def test_the_plate_keeps_its_energy_account_while_melting():
    solver = PlateSolver(24, 24, 15e-6, Material(), layer=100e-6, lateral=2.0)
    laser = Laser(radius=50e-6, absorptivity=0.35)
    solver.scan(4e-4, 60e-6, 180e-6, 300e-6, 180e-6, 250.0, laser)
    assert solver.temperature.max() > Material().liquidus  # the pass melted the plate
    assert solver.total_energy() == pytest.approx(solver.deposited - solver.lost_below, rel=1e-9)
    # Nothing fell off the plate: the spot deposited A P t.
    assert solver.deposited == pytest.approx(0.35 * 250.0 * 4e-4, rel=1e-3)


def test_the_beam_follows_strokes_and_pauses():
    strokes = [Stroke(0.0, 0.0, 1e-3, 0.0, 1.0, 100.0, pause=2e-4), Stroke(1e-3, 1e-4, 0.0, 1e-4, 0.5, 50.0)]
    assert beam_at(strokes, 5e-4) == pytest.approx((5e-4, 0.0, 100.0))
    assert beam_at(strokes, 1.1e-3) == pytest.approx((1e-3, 0.0, 0.0))  # jumping, laser off
    assert beam_at(strokes, 1.2e-3 + 1e-3) == pytest.approx((5e-4, 1e-4, 50.0))
    assert beam_at(strokes, 1.0) == pytest.approx((0.0, 1e-4, 0.0))


def test_hatch_lines_stay_in_their_box_and_cover_the_time():
    rng = np.random.default_rng(2)
    box = (1e-4, 2e-4, 8e-4, 6e-4)
    strokes = hatch_strokes(rng, box, 5e-3, (6e-5, 1e-4), (100.0, 200.0), (0.5, 1.0), (0.0, 1e-4))
    assert sum(s.duration + s.pause for s in strokes) >= 5e-3
    for s in strokes:
        for x, y in ((s.x0, s.y0), (s.x1, s.y1)):
            assert box[0] - 1e-12 <= x <= box[2] + 1e-12 and box[1] - 1e-12 <= y <= box[3] + 1e-12
        assert 100.0 <= s.power <= 200.0 and 0.5 <= s.speed <= 1.0


def _run(seed: int, frames: int = 3, size: int = 16) -> dict[str, np.ndarray]:
    settings = IRSettings(warmup=(5e-4, 1e-3))
    rng = np.random.default_rng(seed)
    return simulate_ir(sample_ir_run(rng, size, frames, settings), frames, rng)


def test_an_ir_run_is_deterministic_and_its_maps_are_consistent():
    a, b = _run(4), _run(4)
    for name in IR_FIELDS:
        assert a[name].dtype == np.float32 and a[name].shape == (3, 16, 16)
        assert np.array_equal(a[name], b[name])
    assert not np.array_equal(a["ir"], _run(5)["ir"])
    assert (0 <= a["ir"]).all() and (a["ir"] <= 1).all()
    assert np.all(np.diff(a["scan_path"], axis=0) >= 0)  # the path only grows
    assert np.array_equal(a["material"][0], a["material"][-1])
    assert set(np.unique(a["scan_path"])) <= {0.0, 1.0}
    # The laser map peaks at the power, under the beam, where the camera sees the hottest spot.
    settings = IRSettings()
    lit = a["laser"].max(axis=(1, 2)) > 0
    assert lit.any()
    for k in np.flatnonzero(lit):
        assert settings.power[0] * 0.5 < a["laser"][k].max() <= settings.power[1]
        spot = np.unravel_index(np.argmax(a["laser"][k]), (16, 16))
        hot = np.unravel_index(np.argmax(a["ir"][k]), (16, 16))
        assert max(abs(spot[0] - hot[0]), abs(spot[1] - hot[1])) <= 3
        assert a["scan_path"][k][spot] == 1.0


def test_a_drawn_path_gives_its_condition_and_frame():
    path = [(3.5, 8.5), (13.5, 8.5)]  # pixel centres, in pixels
    condition, frame = reference_ir_from_path(path, 200.0, 800.0, 16, seed=1)
    assert set(condition) == {"laser", "laser_recent", "scan_path", "material"}
    assert frame.shape == (16, 16) and frame.dtype == np.float32
    # The frame is taken as the beam reaches the path's end.
    assert np.unravel_index(np.argmax(condition["laser"]), (16, 16)) == (13, 8)
    assert condition["laser"].max() == pytest.approx(200.0, rel=1e-4)
    assert condition["scan_path"][3:13, 8].all() and not condition["scan_path"][:, :5].any()
    assert not condition["material"].any()  # a bare plate
    # The track behind the beam is still warm, the plate ahead of the start is cold.
    assert frame[10, 8] > frame[1, 8]
    again, frame2 = reference_ir_from_path(path, 200.0, 800.0, 16, seed=1)
    assert np.array_equal(frame, frame2)
    with pytest.raises(ValueError, match="two or more"):
        reference_ir_from_path([(1.0, 1.0)], 200.0, 800.0, 16)
    with pytest.raises(ValueError, match="positive"):
        reference_ir_from_path(path, 0.0, 800.0, 16)


def test_a_long_drawn_path_is_solved_over_its_recent_history_only():
    # A zigzag lasting about twice the solved window: the frame matches a solve over the whole path.
    pts = [(2.5 + 11 * (k % 2), 2.0 + 0.55 * k) for k in range(24)]
    # A quiet sensor (shot noise 1e-6 of the signal, no read noise, 16 bits) shows the thermal difference.
    quiet = {"well_capacity": 1e12, "read_noise": 0.0, "bits": 16}
    condition, frame = reference_ir_from_path(pts, 150.0, 600.0, 16, seed=3, **quiet)
    settings = IRSettings(**quiet)
    pitch = settings.dx * settings.factor
    strokes = path_strokes(np.asarray(pts) * pitch, 0.6, 150.0)
    end = sum(s.duration for s in strokes) * (1.0 - 1e-9)
    tau = Material().density * Material().specific_heat / (2.0 * 20.0 / 100e-6**2)
    assert end > 1.5 * MEMORY * tau
    full = simulate_ir(IRRun(16, strokes, np.zeros((32, 32)), end, settings), 1, np.random.default_rng(3))
    # Heat older than the window has decayed by exp(-8): under a kelvin, 0.3 % of the reading at most.
    np.testing.assert_allclose(frame, full["ir"][0], rtol=3e-3, atol=3 / 65535)
    assert not np.array_equal(frame, full["ir"][0])  # the window did leave the old heat out
    for name, value in condition.items():
        np.testing.assert_allclose(full[name][0], value, rtol=0, atol=1e-6)
