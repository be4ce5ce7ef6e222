"""Radio propagation model against analytic answers: Friis in an empty city, a slab wall, symmetry, decay."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fieldcast.engine.systems.thermal_imaging.city import (
    place_transmitters,
    sample_city,
    transmitter_map,
    transmitter_position,
)
from fieldcast.engine.systems.thermal_imaging.radio import (
    RadioParams,
    exterior_walls,
    friis_loss_db,
    mask_rectangles,
    penetration,
    received_power,
)

N = 32


def _centres(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")


def _friis_map(n: int, tx: tuple[float, float], p: RadioParams) -> np.ndarray:
    ix, iy = _centres(n)
    d = np.maximum(np.hypot(ix - tx[0], iy - tx[1]) * p.cell_size, p.min_distance)
    # Friis written out: P_rx = P_tx + 20 log10(lambda / (4 pi d)).
    wavelength = 299_792_458.0 / p.frequency
    return p.tx_power + 20 * np.log10(wavelength / (4 * math.pi * d))


def test_friis_loss_matches_the_textbook_value():
    # 1 km at 3.5 GHz: 20 log10(4 pi 1000 3.5e9 / c) = 103.3 dB.
    assert float(friis_loss_db(1000.0, 3.5e9)) == pytest.approx(103.32, abs=0.01)
    # Doubling the distance or the frequency costs 20 log10(2) dB.
    assert float(friis_loss_db(200.0, 1e9) - friis_loss_db(100.0, 1e9)) == pytest.approx(6.0206, abs=1e-4)


def test_an_empty_city_is_free_space_exactly():
    p = RadioParams(noise_floor=-500.0)
    tx = (10.5, 20.5)
    got = received_power(np.zeros((N, N)), tx, p)
    np.testing.assert_allclose(got, _friis_map(N, tx, p), rtol=0, atol=1e-9)


def test_power_decays_monotonically_away_from_the_transmitter_in_free_space():
    p = RadioParams(noise_floor=-500.0)
    tx = (15.5, 15.5)
    got = received_power(np.zeros((N, N)), tx, p)
    row = got[15:, 15]  # along +x from the transmitter
    assert np.all(np.diff(row) < 0)
    diag = np.array([got[15 + k, 15 + k] for k in range(16)])
    assert np.all(np.diff(diag) < 0)


def test_a_slab_wall_costs_two_walls_and_the_indoor_path_behind_it():
    # A slab 3 cells thick across the whole map at x in [20, 23]; transmitter at x = 5.5.
    p = RadioParams(noise_floor=-500.0, wall_loss=12.0, indoor_loss=0.8, cell_size=2.0)
    mask = np.zeros((N, N))
    mask[20:23, :] = 1
    tx = (5.5, 16.5)
    got = received_power(mask, tx, p)
    free = _friis_map(N, tx, p)
    ix, iy = _centres(N)
    behind = ix > 23
    # The ray's path inside the slab is its thickness over cos(angle): 3 cells * |d| / dx.
    dxc, dyc = ix - tx[0], iy - tx[1]
    secant = np.hypot(dxc, dyc) / np.where(dxc > 0, dxc, 1.0)  # 1 / cos(angle to the slab's normal)
    inside_m = 3.0 * secant * p.cell_size
    expected = free - 2 * 12.0 - 0.8 * inside_m
    np.testing.assert_allclose(got[behind], expected[behind], rtol=0, atol=1e-9)
    # Inside the slab: one wall and the part of the path beyond x = 20.
    inside = (ix > 20) & (ix < 23)
    depth_m = (ix - 20.0) * secant * p.cell_size
    np.testing.assert_allclose(got[inside], (free - 12.0 - 0.8 * depth_m)[inside], rtol=0, atol=1e-9)


def test_without_reflections_the_transmitter_side_of_a_slab_is_free_space():
    p = RadioParams(noise_floor=-500.0, reflections=False)
    mask = np.zeros((N, N))
    mask[20:23, :] = 1
    tx = (5.5, 16.5)
    got = received_power(mask, tx, p)
    front = _centres(N)[0] < 20
    np.testing.assert_allclose(got[front], _friis_map(N, tx, p)[front], rtol=0, atol=1e-9)


def test_the_slab_reflection_follows_the_image_source():
    # In front of a long wall at x = 20 the reflected path comes from the image at x = 34.5 with a 6 dB loss.
    p = RadioParams(noise_floor=-500.0, reflection_loss=6.0)
    mask = np.zeros((N, N))
    mask[20:23, :] = 1
    tx = (5.5, 16.5)
    got = received_power(mask, tx, p)
    image = (2 * 20.0 - 5.5, 16.5)
    direct = _friis_map(N, tx, p)
    reflected = _friis_map(N, image, p) - 6.0
    expected = 10 * np.log10(10 ** (direct / 10) + 10 ** (reflected / 10))
    front = _centres(N)[0] < 20
    np.testing.assert_allclose(got[front], expected[front], rtol=0, atol=1e-9)


def test_a_symmetric_city_gives_a_symmetric_map():
    mask = np.zeros((N, N))
    mask[8:12, 4:10] = 1
    mask[8:12, 22:28] = 1  # mirror image of the first about y = 16
    mask[20:26, 12:20] = 1  # symmetric about y = 16 itself
    got = received_power(mask, (4.5, 16.0), RadioParams())
    np.testing.assert_allclose(got, got[:, ::-1], rtol=0, atol=1e-9)


def test_the_map_is_floored_at_the_noise_floor():
    mask = np.zeros((N, N))
    mask[10:12, :] = 1
    got = received_power(mask, (3.5, 3.5), RadioParams(noise_floor=-40.0, wall_loss=60.0))
    assert got.min() == -40.0
    assert (got[12:] == -40.0).all()


def test_rectangles_cover_the_mask_and_inner_seams_are_not_walls():
    rng = np.random.default_rng(3)
    mask = rng.random((N, N)) < 0.3
    rects = mask_rectangles(mask)
    cover = np.zeros((N, N), int)
    for x0, y0, x1, y1 in rects.astype(int):
        cover[x0:x1, y0:y1] += 1
    assert np.array_equal(cover, mask.astype(int))
    # An L-shaped building cut into two rectangles: a ray through both pieces crosses two walls.
    ell = np.zeros((N, N), bool)
    ell[10:20, 10:14] = True
    ell[10:14, 14:20] = True
    assert len(mask_rectangles(ell)) == 2
    walls, inside = penetration(np.array([12.0, 5.0]), np.array([12.0, 25.0]), mask_rectangles(ell), ell)
    assert int(walls) == 2
    assert float(inside) == pytest.approx(10.0)


def test_exterior_walls_face_outwards():
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:6] = True
    walls = exterior_walls(mask)
    assert len(walls) == 4
    expected = {(2, 3, 2, 6, -1), (5, 3, 5, 6, 1), (2, 3, 5, 3, -1), (2, 6, 5, 6, 1)}
    assert {tuple(int(v) for v in w) for w in walls} == expected


def test_cities_keep_streets_and_transmitters_stand_outside():
    rng = np.random.default_rng(7)
    for _ in range(5):
        mask = sample_city(rng, 48, density=(0.3, 0.4), street=1)
        assert 0.05 < mask.mean() < 0.5
        for x0, y0, x1, y1 in mask_rectangles(mask > 0).astype(int):
            # Every building is a rectangle with open ground around it (a one-cell street).
            ring = np.zeros_like(mask, bool)
            ring[max(0, x0 - 1) : x1 + 1, max(0, y0 - 1) : y1 + 1] = True
            ring[x0:x1, y0:y1] = False
            assert not (mask[ring] > 0).any()
        for tx in place_transmitters(rng, mask, 6):
            assert mask[int(tx[0]), int(tx[1])] == 0
            assert transmitter_position(transmitter_map(mask.shape, tx)) == tx
