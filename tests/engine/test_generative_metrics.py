"""Map-quality metrics (fieldcast.engine.generative_metrics) against hand-computed values."""

import math

import numpy as np
import pytest

from fieldcast.engine import generative_metrics as gm


def _image(seed=0, n=32):
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    return 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + 0.05 * rng.standard_normal((n, n))


def test_ssim_of_identical_maps_is_one_and_drops_with_noise():
    a = _image()
    assert gm.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(1)
    small = gm.ssim(a + 0.02 * rng.standard_normal(a.shape), a)
    large = gm.ssim(a + 0.2 * rng.standard_normal(a.shape), a)
    assert 1.0 > small > large > 0.0


def test_ssim_of_constant_maps_follows_the_luminance_term():
    """Two flat maps: only the luminance term is left, (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)."""
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert gm.ssim(np.full((16, 16), 0.2), np.full((16, 16), 0.6)) == pytest.approx(expected, rel=1e-9)


def test_psnr_nmse_rmse_by_hand():
    truth = np.full((2, 8, 8), 0.5)
    pred = truth + 0.1  # mse 0.01 on a range of 1: PSNR = 10 log10(1 / 0.01) = 20 dB
    assert gm.psnr(pred, truth) == pytest.approx(20.0)
    assert gm.psnr(pred, truth, data_range=2.0) == pytest.approx(20.0 + 20 * math.log10(2))
    assert gm.rmse(pred, truth) == pytest.approx(0.1)
    assert gm.nmse(pred, truth) == pytest.approx(0.01 / 0.25)
    assert gm.psnr(truth, truth) == math.inf


def test_to_unit_range_and_shape_checks():
    assert np.allclose(gm.to_unit_range(np.array([-100.0, -60.0, -20.0]), -100, -20), [0, 0.5, 1])
    with pytest.raises(ValueError, match="empty"):
        gm.to_unit_range(np.zeros(2), 1.0, 1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        gm.nmse(np.zeros((4, 4)), np.zeros((4, 5)))


def test_spread_error_sees_spread_that_tracks_the_error():
    rng = np.random.default_rng(3)
    truth = np.zeros((24, 24))
    scale = np.linspace(0.01, 1.0, 24 * 24).reshape(24, 24)  # spread and error grow together
    samples = scale * rng.standard_normal((16, 24, 24)) + scale * 0.8
    cal = gm.spread_error(samples, truth)
    assert cal["corr"] > 0.8
    assert len(cal["spread"]) == len(cal["error"]) == 8
    assert np.all(np.diff(cal["spread"]) > 0) and cal["error"][-1] > cal["error"][0]


def test_spread_error_of_identical_samples_has_no_correlation():
    truth = _image()
    cal = gm.spread_error(np.repeat(truth[None] + 0.1, 4, 0), truth)
    assert math.isnan(cal["corr"]) and cal["mean_spread"] == 0.0
