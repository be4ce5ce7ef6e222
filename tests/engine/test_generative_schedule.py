"""The diffusion schedule's analytic properties and the DDIM update (fieldcast.engine.generative_schedule)."""

import math

import numpy as np
import pytest

from fieldcast.engine import generative_schedule as gs


@pytest.mark.parametrize("name", gs.SCHEDULES)
def test_alpha_bar_is_strictly_decreasing_in_the_unit_interval(name):
    ab = gs.alpha_bar(name, 1000)
    assert ab.shape == (1000,)
    assert np.all(np.diff(ab) < 0)
    assert 0.0 < ab[-1] < 0.01 < 0.99 < ab[0] < 1.0


def test_cosine_schedule_follows_its_closed_form_before_clipping():
    ab, n, s = gs.alpha_bar("cosine", 1000), 1000, 0.008

    def f(t):
        return math.cos((t / n + s) / (1 + s) * math.pi / 2) ** 2

    for t in (0, 10, 250, 500, 900):  # beta is clipped at 0.999 only at the very end
        assert ab[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)


def test_linear_schedule_is_the_product_of_its_betas():
    betas = np.linspace(1e-4, 0.02, 50)
    assert np.allclose(gs.alpha_bar("linear", 50), np.cumprod(1 - betas))


def test_forward_process_has_the_stated_moments():
    """x_t = sqrt(abar) x0 + sqrt(1 - abar) eps has mean sqrt(abar) x0 and variance 1 - abar."""
    rng = np.random.default_rng(0)
    ab = float(gs.alpha_bar("cosine", 1000)[400])
    x0 = 1.7
    x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * rng.standard_normal(400_000)
    assert x_t.mean() == pytest.approx(math.sqrt(ab) * x0, abs=0.01)
    assert x_t.var() == pytest.approx(1 - ab, rel=0.01)


@pytest.mark.parametrize("prediction", gs.PREDICTIONS)
def test_split_prediction_inverts_the_training_target(prediction):
    rng = np.random.default_rng(1)
    x0, eps, ab = rng.standard_normal(100), rng.standard_normal(100), 0.37
    x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    out = gs.v_target(x0, eps, ab) if prediction == "v" else eps
    got_x0, got_eps = gs.split_prediction(x_t, out, ab, prediction)
    assert np.allclose(got_x0, x0) and np.allclose(got_eps, eps)


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("steps", [1, 7, 50])
def test_ddim_with_a_perfect_denoiser_lands_on_x0(eta, steps):
    """A denoiser that knows x0 returns the exact v; DDIM then ends on x0 whatever the noise and eta."""
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((8, 8))
    table = gs.alpha_bar("cosine", 1000)
    ts = gs.ddim_timesteps(1000, steps)
    x = rng.standard_normal(x0.shape)
    for k, t in enumerate(ts):
        ab = table[t]
        ab_prev = table[ts[k + 1]] if k + 1 < len(ts) else 1.0
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        got_x0, got_eps = gs.split_prediction(x, gs.v_target(x0, eps, ab), ab, "v")
        x = gs.ddim_step(got_x0, got_eps, ab, ab_prev, eta, rng.standard_normal(x0.shape))
    assert np.allclose(x, x0, atol=1e-9)


def test_ddim_timesteps_run_down_from_the_last_to_zero():
    assert gs.ddim_timesteps(1000, 1) == [999]
    ts = gs.ddim_timesteps(1000, 20)
    assert len(ts) == 20 and ts[0] == 999 and ts[-1] == 0 and all(np.diff(ts) < 0)
    assert gs.ddim_timesteps(10, 50) == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="at least 1"):
        gs.ddim_timesteps(1000, 0)


def test_unknown_schedule_and_prediction_are_refused():
    with pytest.raises(ValueError, match="unknown noise schedule 'quadratic'"):
        gs.alpha_bar("quadratic", 10)
    with pytest.raises(ValueError, match="unknown prediction type 'x0'"):
        gs.split_prediction(1.0, 1.0, 0.5, "x0")
