"""The infrared camera model: radiance laws, emissivity on melting, optics, sensor, saturation and noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fieldcast.engine.systems.melt.thermal import STEFAN_BOLTZMANN, Material
from fieldcast.engine.systems.thermal_imaging.camera import (
    Camera,
    band_exitance,
    blur,
    downsample,
    emissivity,
    radiance,
    sensor_reading,
)
from fieldcast.engine.systems.thermal_imaging.plate import PlateSolver

_H, _C, _KB = 6.62607015e-34, 299_792_458.0, 1.380649e-23


def _read(temperature: np.ndarray, eps: np.ndarray, camera: Camera, ambient: float = 300.0) -> np.ndarray:
    scene = radiance(temperature, eps, ambient, camera)
    return sensor_reading(downsample(blur(scene, 1.3), camera.factor), camera, None)


def test_total_radiance_of_a_uniform_plate_goes_as_t_to_the_fourth():
    cam = Camera()
    for t in (600.0, 1200.0, 1800.0):
        plate = np.full((8, 8), t)
        got = radiance(plate, np.full((8, 8), 0.4), 0.0, cam)
        np.testing.assert_allclose(got, 0.4 * STEFAN_BOLTZMANN * t**4, rtol=1e-12)
    # The surroundings reflected by an opaque surface: a plate at ambient looks like a blackbody.
    np.testing.assert_allclose(radiance(np.full(3, 300.0), 0.3, 300.0, cam), STEFAN_BOLTZMANN * 300.0**4)


def _blackbody_fraction(x: float) -> float:
    """Fraction of sigma T^4 emitted below wavelength lambda, x = hc / (lambda k T) (exact series)."""
    total = 0.0
    for n in range(1, 200):
        total += math.exp(-n * x) / n * (x**3 + 3 * x**2 / n + 6 * x / n**2 + 6 / n**3)
    return 15.0 / math.pi**4 * total


@pytest.mark.parametrize("t", [800.0, 1500.0, 2500.0])
def test_band_exitance_is_plancks_law_integrated_over_the_band(t):
    band = (3e-6, 5e-6)
    c2 = _H * _C / _KB
    below = [_blackbody_fraction(c2 / (lam * t)) for lam in band]
    expected = STEFAN_BOLTZMANN * t**4 * (below[1] - below[0])
    assert float(band_exitance(np.array(t), band)) == pytest.approx(expected, rel=1e-6)


def test_the_band_camera_sees_a_uniform_plate_by_the_band_law():
    cam = Camera(radiance_model="band", full_well_temperature=2000.0)
    plate = np.full((8, 8), 1400.0)
    got = _read(plate, np.full((8, 8), 0.5), cam, ambient=0.0)
    expected = 0.5 * band_exitance(np.array(1400.0), cam.band) / band_exitance(np.array(2000.0), cam.band)
    np.testing.assert_allclose(got, expected, atol=0.5 / 4095)


def test_emissivity_follows_the_surface_map_and_jumps_on_melting():
    cam = Camera()
    assert float(emissivity(0.0, 0.0, cam)) == pytest.approx(cam.eps_bright)
    assert float(emissivity(0.0, 1.0, cam)) == pytest.approx(cam.eps_oxide)
    assert float(emissivity(0.0, 0.5, cam)) == pytest.approx(0.5 * (cam.eps_bright + cam.eps_oxide))
    assert float(emissivity(1.0, 1.0, cam)) == pytest.approx(cam.eps_liquid)
    assert float(emissivity(1.0, 0.0, cam)) == pytest.approx(cam.eps_liquid)


def test_the_reading_drops_by_the_emissivity_ratio_across_the_melting_range():
    # A plate just below the solidus and just above the liquidus of the solver's enthalpy curve.
    cam = Camera()
    m = Material()
    solver = PlateSolver(8, 8, 15e-6, m, ambient=300.0)
    readings = {}
    for t in (m.solidus - 1.0, m.liquidus + 1.0):
        solver.set_temperature(t)
        eps = emissivity(solver.liquid_fraction, np.zeros((8, 8)), cam)
        readings[t] = float(_read(solver.temperature, eps, cam, ambient=0.0).mean())
    lo, hi = m.solidus - 1.0, m.liquidus + 1.0
    expected = (cam.eps_liquid * hi**4) / (cam.eps_bright * lo**4)
    assert readings[hi] / readings[lo] == pytest.approx(expected, rel=4e-3)  # 12-bit levels
    assert readings[hi] < readings[lo]  # hotter, yet darker: the liquid emits less


def test_blur_conserves_the_total_signal_and_the_sensor_the_mean():
    rng = np.random.default_rng(0)
    image = rng.random((40, 40)) ** 4
    for sigma in (0.7, 2.0, 5.0):
        out = blur(image, sigma)
        assert out.sum() == pytest.approx(image.sum(), rel=1e-12)
        assert out.max() < image.max()
    small = downsample(image, 4)
    assert small.shape == (10, 10)
    assert small.mean() == pytest.approx(image.mean(), rel=1e-12)
    assert small[0, 0] == pytest.approx(image[:4, :4].mean())
    with pytest.raises(ValueError, match="does not divide"):
        downsample(image, 3)


def test_a_plate_hotter_than_the_full_well_saturates_at_one():
    cam = Camera(full_well_temperature=1500.0)
    hot = np.full((8, 8), 2500.0)
    eps = np.full((8, 8), 0.9)
    assert (_read(hot, eps, cam) == 1.0).all()
    noisy = sensor_reading(radiance(hot, eps, 300.0, cam), cam, np.random.default_rng(1))
    # The charge clips at the full well; read noise then spreads the reading below 1, never above.
    assert noisy.max() == 1.0
    assert noisy.min() >= 1.0 - 5 * cam.read_noise / cam.well_capacity


def test_noise_has_the_shot_and_read_statistics_and_a_seed_repeats_it():
    cam = Camera(well_capacity=10000.0, read_noise=30.0, bits=16)
    full = STEFAN_BOLTZMANN * cam.full_well_temperature**4
    signal = np.full((128, 128), 0.25 * full)
    a = sensor_reading(signal, cam, np.random.default_rng(5))
    b = sensor_reading(signal, cam, np.random.default_rng(5))
    c = sensor_reading(signal, cam, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    n = a.size
    w = cam.well_capacity
    var = 0.25 / w + (cam.read_noise / w) ** 2 + (1 / (2**cam.bits - 1)) ** 2 / 12
    assert a.mean() == pytest.approx(0.25, abs=4 * math.sqrt(var / n))
    # The sample variance of n Gaussian draws has a relative spread of sqrt(2 / n) (1.1 % here).
    assert a.var() == pytest.approx(var, rel=5 * math.sqrt(2 / n))
    # Without noise the reading is the signal, quantised.
    assert np.allclose(sensor_reading(signal, cam, None), 0.25, atol=1 / (2**cam.bits - 1))
