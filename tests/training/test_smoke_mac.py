"""The staggered-grid (MAC) structure of the smoke model against the reference solver's own operations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.engine.systems.smoke.advect import advect
from fieldcast.engine.systems.smoke.pressure import Projector, face_divergence
from fieldcast.training.models import build_model
from fieldcast.training.models import smoke_mac as mac


def _faces(rng, nx=14, ny=19, scale=1.5):
    return rng.normal(0, scale, (nx + 1, ny)), rng.normal(0, scale, (nx, ny + 1))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))[None]


@pytest.mark.parametrize("seed", [0, 1])
def test_open_projection_is_the_solvers_without_colliders(seed):
    rng = np.random.default_rng(seed)
    u, v = _faces(rng)
    expected_u, expected_v = Projector((True, True, True, True)).project(u, v, np.zeros((14, 19), bool))
    got_u, got_v = mac.project_open(_t(u), _t(v))
    np.testing.assert_allclose(got_u[0].numpy(), expected_u, atol=1e-10)
    np.testing.assert_allclose(got_v[0].numpy(), expected_v, atol=1e-10)
    assert float(mac.face_divergence(got_u, got_v).abs().max()) < 1e-10


def _advection_inputs():
    rng = np.random.default_rng(2)
    u, v = _faces(rng, scale=0.8)
    return rng.uniform(0, 1, (14, 19)), u, v


@pytest.mark.parametrize("dt", [1.0, 2.5])
@pytest.mark.parametrize("maccormack", [False, True])
def test_advection_is_the_solvers_semi_lagrangian_or_limited_maccormack_step(dt, maccormack):
    density, u, v = _advection_inputs()
    expected = advect(density, u, v, dt, maccormack=maccormack)
    got = mac.advect_mac(_t(density), _t(u), _t(v), dt, maccormack, maccormack)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g[0].numpy(), e, atol=1e-10)


def test_each_fields_advection_scheme_is_chosen_alone():
    density, u, v = _advection_inputs()
    semi = advect(density, u, v, 2.5, maccormack=False)
    full = advect(density, u, v, 2.5, maccormack=True)
    assert np.abs(semi[0] - full[0]).max() > 1e-3  # the correction acts (so the checks below can fail)
    mixed = mac.advect_mac(_t(density), _t(u), _t(v), 2.5, density_maccormack=True)
    for g, e in zip(mixed, (full[0], semi[1], semi[2]), strict=True):
        np.testing.assert_allclose(g[0].numpy(), e, atol=1e-10)


def test_faces_from_cells_and_back_are_the_solvers_averages():
    from fieldcast.engine.systems.smoke.advect import cell_velocity, to_x_faces, to_y_faces

    rng = np.random.default_rng(3)
    vx, vy = rng.normal(size=(2, 9, 11))
    u, v = mac.faces_from_cells(_t(vx), _t(vy))
    np.testing.assert_allclose(u[0].numpy(), to_x_faces(vx), atol=1e-12)
    np.testing.assert_allclose(v[0].numpy(), to_y_faces(vy), atol=1e-12)
    uc, vc = mac.cell_velocity(u, v)
    expected = cell_velocity(to_x_faces(vx), to_y_faces(vy))
    np.testing.assert_allclose(uc[0].numpy(), expected[0], atol=1e-12)
    np.testing.assert_allclose(vc[0].numpy(), expected[1], atol=1e-12)


def _mac_model(seed: int = 0, frames: int = 4, substeps: int = 2):
    torch.manual_seed(seed)
    args = {"frames": frames, "coarsen": 2, "depth": 1, "base_width": 8, "grid": "mac", "substeps": substeps}
    model = build_model("smoke_flow", {**args, "buoyancy": 0.03, "confinement": 0.05, "gate_activity": True})
    # A trained-looking head instead of the zero start, so the checks see a flow that really changes.
    torch.nn.init.normal_(model.net.head.weight, std=0.5)
    torch.nn.init.normal_(model.net.head.bias, std=0.5)
    return model.eval()


def _inputs(rng, n=16, emitter=True, density=True):
    x = np.zeros((2, 6, n, n), np.float32)
    if density:
        x[:, 0] = rng.uniform(0, 0.8, (2, n, n))
        x[:, 3] = x[:, 0]
    x[:, 1:3] = rng.normal(0, 1.0, (2, 2, n, n))
    if emitter:
        x[:, 4, 2:5, 3:6] = 1.0
    x[:, 5, 9:12, 8:13] = 1.0
    return torch.from_numpy(x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mac_step_creates_no_smoke_and_keeps_colliders_empty(seed):
    rng = np.random.default_rng(seed)
    model = _mac_model(seed)
    x = _inputs(rng, emitter=False)
    with torch.no_grad():
        y = model(x, x)
    assert torch.isfinite(y).all()
    density, solid = y[:, 0], x[:, 5] > 0.5
    assert float(density.min()) >= 0.0
    assert float(density.max()) <= float(x[:, 0].max()) + 1e-6  # advection's maximum principle
    assert float(density[solid].abs().max()) == 0.0
    assert float(y[:, 1:][solid.unsqueeze(1).expand_as(y[:, 1:])].abs().max()) == 0.0
    empty = _inputs(rng, emitter=False, density=False)
    with torch.no_grad():
        assert float(model(empty, empty)[:, 0].abs().max()) == 0.0
    with_emitter = _inputs(rng, emitter=True)
    with torch.no_grad():
        assert float(model(with_emitter, with_emitter)[:, 0].max()) <= 1.0


def test_mac_step_leaves_divergence_free_faces_away_from_colliders():
    # The faces the step ends with: projected, plus the network's curl; its cell average is what the model
    # returns, so rebuild the faces from the structure's own functions and check them directly.
    rng = np.random.default_rng(4)
    u, v = mac.faces_from_cells(*(torch.from_numpy(rng.normal(size=(2, 1, 24, 20))).unbind(0)))
    u, v = mac.project_open(u, v)
    psi = torch.randn(1, 24, 20, dtype=u.dtype)
    from fieldcast.training.models.smoke_flow import curl_faces

    du, dv = curl_faces(psi)
    assert float(mac.face_divergence(u + du, v + dv).abs().max()) < 1e-10


def test_a_jet_blows_out_of_its_emitter_and_the_air_ahead_moves():
    # An emitter blowing up into still air, network output zero: the projection makes the air above move.
    model = build_model("smoke_flow", {"frames": 5, "coarsen": 2, "depth": 1, "base_width": 8, "grid": "mac"})
    model.eval()
    x = torch.zeros(1, 6, 32, 32)
    x[0, 4, 14:18, 6:10] = 1.0
    x[0, 2, 14:18, 6:10] = 0.8
    with torch.no_grad():
        y = model(x, x)
    assert float(y[0, 2, 15:17, 10:14].min()) > 0.02
    assert float(y[0, 2, 15, 11]) > float(y[0, 2, 15, 24]) > 0.0
    assert float(y[0, 0, 14:18, 6:12].max()) > 0.5  # smoke left the emitter upwards


def test_face_divergence_matches_the_solvers():
    rng = np.random.default_rng(6)
    u, v = _faces(rng)
    np.testing.assert_allclose(
        mac.face_divergence(_t(u), _t(v))[0].numpy(), face_divergence(u, v), atol=1e-12
    )


def _still_emitter(rate: float) -> torch.Tensor:
    """Seven input channels: still air, no smoke, an emitter in rows and columns 6-9 injecting ``rate``."""
    x = torch.zeros(1, 7, 16, 16)
    x[0, 5, 6:10, 6:10] = 1.0  # emitter (the channel before the collider)
    x[0, 4, 6:10, 6:10] = rate  # its rate (the channel before the masks)
    return x


def test_with_the_rate_as_input_emitters_inject_exactly_that_rate():
    # Still air, no smoke, an emitter whose rate channel says 0.15 per frame: with the network's output at
    # its start (zero) the step of 2 frames adds 2 x 0.15 inside the emitter, and a larger rate adds more.
    args = {"frames": 2, "coarsen": 2, "depth": 1, "base_width": 8, "grid": "mac", "substeps": 2}
    model = build_model("smoke_flow", {**args, "rate_input": True, "in_channels": 7}).eval()
    x = _still_emitter(0.15)
    with torch.no_grad():
        y = model(x, x)
        faster = x.clone()
        faster[0, 4, 6:10, 6:10] = 0.3
        y2 = model(faster, faster)
    torch.testing.assert_close(y[0, 0, 6:10, 6:10], torch.full((4, 4), 0.3), atol=1e-6, rtol=0)
    torch.testing.assert_close(y2[0, 0, 6:10, 6:10], torch.full((4, 4), 0.6), atol=1e-6, rtol=0)
    assert float(y[0, 0].sum()) == pytest.approx(0.3 * 16, abs=1e-4)  # nothing outside the emitter


@pytest.mark.parametrize("host_emits_last_frame", [False, True])
def test_the_shipped_rate_settings_inject_exactly_the_given_rate(host_emits_last_frame):
    # rate_correction off (the shipped model): the network's second map has no say, however trained; with
    # host_emits_last_frame the call injects over frames - 1 of its frames and leaves the last to Play.
    torch.manual_seed(1)
    args = {"frames": 5, "coarsen": 2, "depth": 1, "base_width": 8, "grid": "mac", "substeps": 1}
    args.update(rate_input=True, in_channels=7, rate_correction=False)
    model = build_model("smoke_flow", {**args, "host_emits_last_frame": host_emits_last_frame})
    torch.nn.init.normal_(model.net.head.bias, std=2.0)  # a rate map far from its start
    model.eval()
    x = _still_emitter(0.1)
    with torch.no_grad():
        y = model(x, x)
    frames = 4 if host_emits_last_frame else 5
    torch.testing.assert_close(y[0, 0, 7:9, 7:9], torch.full((2, 2), 0.1 * frames), atol=1e-5, rtol=0)


def test_rate_input_needs_the_rate_channel():
    with pytest.raises(ValueError, match="store_rate"):
        build_model("smoke_flow", {"grid": "mac", "rate_input": True, "in_channels": 6})


def test_corrections_gated_on_the_controls_leave_the_free_flow_to_the_structure():
    torch.manual_seed(7)
    args = {"frames": 2, "coarsen": 2, "depth": 1, "base_width": 8, "grid": "mac", "gate_activity": True}
    model = build_model("smoke_flow", {**args, "gate_on": "controls", "gate_reach": 2})
    torch.nn.init.normal_(model.net.head.weight, std=0.5)
    torch.nn.init.normal_(model.net.head.bias, std=0.5)
    model.eval()
    x = _inputs(np.random.default_rng(8), n=32)  # smoke and flow everywhere, emitter at rows 2-4
    with torch.no_grad():
        dpsi = model._maps(x, x)[:, 0]
    # Far from the emitter (rows 2-4, columns 3-5) and the collider (rows 9-11, columns 8-12): no change.
    assert float(dpsi[:, 20:, 20:].abs().max()) == 0.0
    assert float(dpsi[:, 2:5, 3:6].abs().max()) > 0.0


def _closed_faces(rng, nx=20, ny=18):
    """Random projected faces with no flow through the grid's sides (a closed box)."""
    u, v = _faces(rng, nx, ny, scale=1.0)
    u[0], u[-1], v[:, 0], v[:, -1] = 0.0, 0.0, 0.0, 0.0
    return _t(u), _t(v)


def test_conserve_keeps_the_smoke_of_a_closed_box_which_advection_alone_does_not():
    rng = np.random.default_rng(7)
    u, v = _closed_faces(rng)
    density = _t(rng.uniform(0, 0.6, (20, 18)) * (rng.uniform(size=(20, 18)) > 0.5))
    before = density.sum()
    assert float(mac.boundary_outflow(density, u, v).abs().max()) == 0.0
    advected = mac.advect_mac(density, u, v, 2.5)[0]
    assert abs(float(advected.sum() / before) - 1.0) > 1e-3  # semi-Lagrangian loses or makes smoke
    kept = mac.conserve(advected, before.view(1, 1, 1))
    assert float(kept.sum()) == pytest.approx(float(before), rel=1e-9)
    assert float(kept.min()) >= 0.0 and float(kept.max()) <= 1.0
    assert bool(((advected == 0) <= (kept == 0)).all())  # no smoke where advection brought none


def test_boundary_outflow_counts_smoke_leaving_each_open_side():
    density = torch.zeros(1, 6, 5, dtype=torch.float64)
    u = torch.zeros(1, 7, 5, dtype=torch.float64)
    v = torch.zeros(1, 6, 6, dtype=torch.float64)
    density[0, -1, :] = 0.4  # the right column, blown out to the right at 0.5 cells/frame
    u[0, -1, :] = 0.5
    density[0, 2, 0] = 1.0  # one bottom cell, blown out downwards at 2 cells/frame
    v[0, 2, 0] = -2.0
    assert float(mac.boundary_outflow(density, u, v)) == pytest.approx(5 * 0.4 * 0.5 + 2.0)
    u[0, -1, :] = -0.5  # the same side blowing in brings its own edge smoke back: negative outflow
    assert float(mac.boundary_outflow(density, u, v)) == pytest.approx(-5 * 0.4 * 0.5 + 2.0)


def test_mac_step_with_the_budget_kept_loses_no_smoke_in_a_closed_box():
    torch.manual_seed(0)
    args = {"frames": 5, "coarsen": 2, "depth": 1, "base_width": 8, "grid": "mac", "substeps": 2}
    models = [build_model("smoke_flow", {**args, "conserve_smoke": keep}).eval() for keep in (False, True)]
    rng = np.random.default_rng(8)
    x = torch.zeros(1, 6, 24, 24)
    x[0, 0, 6:18, 4:20] = torch.from_numpy(rng.uniform(0.2, 0.8, (12, 16))).float()
    # A swirl well inside the grid: the projection of a vortex blob keeps it off the sides.
    ii, jj = np.meshgrid(np.arange(24) - 11.5, np.arange(24) - 11.5, indexing="ij")
    blob = np.exp(-(ii**2 + jj**2) / 30.0)
    x[0, 1] = torch.from_numpy(-jj * blob).float()
    x[0, 2] = torch.from_numpy(ii * blob).float()
    with torch.no_grad():
        plain, kept = (float(m(x, x)[0, 0].sum()) for m in models)
    total = float(x[0, 0].sum())
    assert abs(plain / total - 1.0) > 2e-3  # the structure alone drifts
    assert kept == pytest.approx(total, rel=2e-3)  # what leaves through the far sides is all that is lost
