"""Physics metrics against fields whose values are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.metrics import (
    collider_violation,
    divergence,
    divergence_norm,
    kinetic_energy,
    rmse,
    total_smoke,
)


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")


def test_divergence_of_linear_fields_is_exact():
    x, y = _grid(16)
    # div(a x, b y) = a + b everywhere; central differences are exact on linear fields.
    assert np.allclose(divergence(0.3 * x, -0.1 * y), 0.2)
    assert divergence_norm(0.3 * x, -0.1 * y) == pytest.approx(0.2)
    # A rigid rotation and a uniform flow are divergence-free.
    assert divergence_norm(-(y - 8), x - 8) == pytest.approx(0.0, abs=1e-14)
    assert divergence_norm(np.full((16, 16), 2.0), np.ones((16, 16))) == 0.0


def test_divergence_norm_is_an_rms_in_pixel_units():
    x, _ = _grid(34)  # 32 interior columns: exactly 4 periods
    k = 2 * np.pi / 8  # period of 8 pixels
    vx = np.sin(k * x)
    d = divergence(vx, np.zeros_like(vx))
    # Central difference of sin(kx): sin(k) / 1 px * cos(kx); RMS of a cosine over whole periods is 1/sqrt(2).
    assert np.allclose(d, np.sin(k) * np.cos(k * x[1:-1, 1:-1]))
    assert divergence_norm(vx, 0 * vx) == pytest.approx(np.sin(k) / np.sqrt(2), rel=1e-12)


def test_metrics_keep_leading_batch_dimensions():
    rng = np.random.default_rng(0)
    vx, vy = rng.normal(size=(2, 3, 4, 10, 12))
    assert divergence_norm(vx, vy).shape == (3, 4)
    assert kinetic_energy(vx, vy).shape == (3, 4)
    assert np.allclose(kinetic_energy(vx, vy)[1, 2], 0.5 * np.sum(vx[1, 2] ** 2 + vy[1, 2] ** 2))
    assert np.allclose(divergence_norm(vx, vy)[2, 1], divergence_norm(vx[2, 1], vy[2, 1]))
    assert isinstance(total_smoke(vx[0, 0]), float)


def test_kinetic_energy_and_total_smoke_values():
    assert kinetic_energy(np.full((4, 5), 3.0), np.full((4, 5), 4.0)) == pytest.approx(0.5 * 25 * 20)
    assert total_smoke(np.full((2, 4, 5), 0.5)).tolist() == [10.0, 10.0]
    assert rmse(np.zeros((3, 3)), np.full((3, 3), 2.0)) == pytest.approx(2.0)


def test_collider_violation_is_mean_density_inside_colliders():
    density = np.zeros((2, 8, 8))
    mask = np.zeros((8, 8))
    mask[2:4, 2:4] = 1.0
    density[0, 2:4, 2:4] = [[0.1, 0.2], [0.3, 0.4]]
    density[1] = 1.0
    assert np.allclose(collider_violation(density, mask), [0.25, 1.0])
    # No collider cells: nothing can be violated.
    assert collider_violation(density, np.zeros((8, 8))).tolist() == [0.0, 0.0]
    assert collider_violation(density[0], np.full((8, 8), 0.4)) == 0.0
