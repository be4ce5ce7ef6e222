import threading

import numpy as np
import pytest
from onnx_models import make_model, smoke_info

from fieldcast.engine.rollout import Rollout
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.smoke.play import DENSITY_MAX, SPEED_MAX, impose_controls


@pytest.fixture
def session(tmp_path):
    return ModelSession(make_model(tmp_path / "model.onnx"), threads=1)


def _masks(n=16):
    emitter = np.zeros((n, n), np.float32)
    emitter[6:9, 1:3] = 1.0
    collider = np.zeros((n, n), np.float32)
    collider[4:12, 10:12] = 1.0
    return emitter, collider


def test_rollout_reimposes_controls_every_frame(session):
    ro = Rollout(session)
    emitter, collider = _masks()
    density = np.full((16, 16), -0.1, np.float32)  # negative: must be clamped away
    ro.reset({"density": density, "velocity": np.zeros((16, 16, 2), np.float32)})
    for _ in range(5):
        res = ro.step({"emitter": emitter, "collider": collider})
    solid = collider > 0.5
    vel = res.fields["velocity"]
    assert vel.shape == (16, 16, 2) and res.fields["density"].shape == (16, 16)
    assert np.all(vel[solid] == 0.0) and np.all(res.fields["density"][solid] == 0.0)
    assert res.fields["density"].min() >= 0.0
    assert np.all(res.fields["density"][emitter > 0] > 0.5)  # emitters inject smoke
    np.testing.assert_allclose(vel[emitter > 0], np.tile([0.0, 0.5], (6, 1)))  # and impose their velocity
    assert np.all(vel[~solid & (emitter == 0)][:, 0] > 2.0)  # the model's +0.5/frame elsewhere
    assert res.stats["finite"] and set(res.stats) == {
        "total_smoke",
        "max_density",
        "divergence_norm",
        "finite",
        "bounded_cells",
        "advection_cells",
        "budget_cells",
        "speed_cells",
        "smoke_removed",
    }
    assert res.ms_total >= res.ms_model > 0


def test_history_and_force(session):
    ro = Rollout(session)
    d0 = np.random.default_rng(1).random((16, 16)).astype(np.float32)
    ro.reset({"density": d0, "velocity": np.zeros((16, 16, 2), np.float32)})
    x = ro.model_input()
    np.testing.assert_array_equal(x[0, 3], d0)  # density@t-1 starts as the initial frame
    force = np.zeros((16, 16, 2), np.float32)
    force[..., 1] = 0.25
    res = ro.step({}, force=force)
    np.testing.assert_allclose(res.fields["velocity"][..., 1], 0.25)
    np.testing.assert_array_equal(ro.model_input()[0, 3], d0)  # previous state moved into history
    with pytest.raises(ValueError, match="multiples of 4"):
        ro.reset({"density": np.zeros((10, 10)), "velocity": np.zeros((10, 10, 2))})


def test_recurrent_state_is_carried(tmp_path):
    s = ModelSession(make_model(tmp_path / "rec.onnx", smoke_info(recurrent=True)), threads=1)
    ro = Rollout(s)
    ro.reset(ro.blank_state(16, 16))
    for _ in range(3):
        ro.step({})
    np.testing.assert_array_equal(ro._recurrent["recurrent_in_0"], 3.0)
    assert ro._recurrent["recurrent_in_0"].shape == (1, 2, 8, 8)


def test_impose_controls_in_place():
    rho = np.array([[-1.0, 0.5]], np.float32)
    vx = np.ones((1, 2), np.float32)
    vy = np.ones((1, 2), np.float32)
    fields = {"density": rho, "velocity_x": vx, "velocity_y": vy}
    impose_controls(fields, {"collider": np.array([[0.0, 1.0]], np.float32)})
    assert rho.tolist() == [[0.0, 0.0]] and vx.tolist() == [[1.0, 0.0]] and vy.tolist() == [[1.0, 0.0]]


def test_one_rollout_from_two_threads(session):
    ro = Rollout(session)
    ro.reset(ro.blank_state(16, 16))
    errors = []

    def work():
        try:
            for _ in range(20):
                ro.step({})
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and ro.frame == 40
    # The test model adds 0.5 cells/frame each step; 40 steps would reach 20, the speed bound stops it.
    np.testing.assert_allclose(ro.fields()["velocity"][..., 0], SPEED_MAX)


def test_smoke_rules_keep_the_solver_bounds_and_make_no_smoke_from_nothing():
    n = 32
    previous = {"density": np.zeros((n, n), np.float32)}
    previous["density"][4:8, 4:8] = 0.6
    fields = {
        "density": np.full((n, n), 0.3, np.float32),  # a surrogate's haze over the whole domain
        "velocity_x": np.zeros((n, n), np.float32),
        "velocity_y": np.zeros((n, n), np.float32),
    }
    fields["density"][5, 5] = 1.7
    fields["velocity_x"][28:, :] = 9.0  # far too fast, away from the smoke
    emitter = np.zeros((n, n), np.float32)
    emitter[20:22, 20:22] = 1.0
    impose_controls(fields, {"emitter": emitter, "emitter_rate": np.float32(0.2)}, previous=previous)
    rho = fields["density"]
    assert rho.max() <= DENSITY_MAX
    assert 0.0 < rho[5, 5] <= 0.6 + 1e-6  # no denser than its neighbourhood was
    assert rho[30, 2] == 0.0  # far from any smoke and any emitter: nothing appears
    assert rho[20, 20] > 0.1  # emitters still add smoke (the haze elsewhere shares the mass budget)
    speed = np.hypot(fields["velocity_x"], fields["velocity_y"])
    assert speed.max() <= SPEED_MAX + 1e-6
    # Only the emitter added smoke: the total is what was there plus its frame in the model's step and the
    # re-imposition's (4 cells at 0.2 each).
    assert rho.sum() <= previous["density"].sum() + 2 * 4 * 0.2 + 1e-4
