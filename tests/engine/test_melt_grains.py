"""IPF colouring, orientation sampling, the grain automaton and the melt trajectory generator."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.systems.melt import MELT_SPEC, check_options, simulate_trajectory
from fieldcast.engine.systems.melt.grains import GrainField, GrainParams
from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS, ipf_colors, ipf_rgb, random_quaternions


def _quat(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def _mul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def test_z_key_corners_are_red_green_blue():
    np.testing.assert_allclose(ipf_rgb(np.array([0.0, 0.0, 1.0])), [1, 0, 0], atol=1e-4)
    np.testing.assert_allclose(ipf_rgb(np.array([1.0, 0.0, 1.0])), [0, 1, 0], atol=1e-4)
    np.testing.assert_allclose(ipf_rgb(np.array([1.0, 1.0, 1.0])), [0, 0, 1], atol=1e-4)
    # Through orientations: identity puts crystal [001] along sample Z (red); a 45° turn about sample Y
    # puts [101] there (green); the rotation taking [111] onto Z gives blue.
    z_key = slice(6, 9)
    identity = np.array([[1.0, 0, 0, 0]])
    np.testing.assert_allclose(ipf_colors(identity)[0, z_key], [1, 0, 0], atol=1e-4)
    to_101 = _quat([0, 1, 0], -np.pi / 4)[None]
    np.testing.assert_allclose(ipf_colors(to_101)[0, z_key], [0, 1, 0], atol=1e-4)
    d = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    axis = np.cross(d, [0, 0, 1])
    to_111 = _quat(axis, np.arccos(d[2]))[None]
    np.testing.assert_allclose(ipf_colors(to_111)[0, z_key], [0, 0, 1], atol=1e-4)


def test_symmetry_equivalent_orientations_share_colours():
    rng = np.random.default_rng(3)
    q = random_quaternions(20, rng)
    symmetries = [
        _quat([0, 0, 1], np.pi / 2),
        _quat([1, 0, 0], np.pi / 2),
        _quat([0, 1, 0], np.pi),
        _quat([1, 1, 1], 2 * np.pi / 3),
        _quat([1, 1, 0], np.pi),
    ]
    base = ipf_colors(q)
    for s in symmetries:
        # q ⊗ s applies the crystal symmetry first: the same physical crystal.
        turned = np.array([_mul(qi, s) for qi in q])
        np.testing.assert_allclose(ipf_colors(turned), base, atol=1e-9)
        np.testing.assert_allclose(ipf_colors(-turned), base, atol=1e-9)


def test_random_orientations_are_uniform():
    q = random_quaternions(20000, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    # For a uniform rotation the image of a fixed axis is uniform on the sphere: mean 0, E[z²] = 1/3.
    w, x, y, z = q.T
    zz = 1 - 2 * (x * x + y * y)  # z-component of R e_z
    assert abs(zz.mean()) < 0.02
    assert (zz**2).mean() == pytest.approx(1 / 3, abs=0.01)


def test_melting_and_epitaxial_regrowth_from_the_substrate():
    """A melted band regrows from the grains below when nucleation is off, column by column, and remelting
    erases grains (IPF 0 in liquid)."""
    nx, ny, liq, sol = 24, 24, 1723.0, 1658.0
    grains = GrainField(
        nx, ny, GrainParams(nucleation_max=0.0, substrate_grain=4.0), np.random.default_rng(1)
    )
    grains.fill_substrate()
    substrate = set(np.unique(grains.ids[:, :12]))
    n_start = grains.n_grains
    hot = np.full((nx, ny), 1000.0)
    hot[:, 12:] = 2000.0
    grains.update(hot, sol, liq)
    assert (grains.ids[:, 12:] == 0).all() and (grains.ipf()[:, :, 12:] == 0).all()
    assert (grains.ipf()[:, :, :12].sum(axis=0) > 0).all()
    y = np.arange(ny)[None, :] * np.ones((nx, 1))
    for front in np.arange(12, ny + 1, 0.5):  # the liquidus isotherm climbs half a cell per update
        grains.update(np.where(y < front, liq - 5.0, liq + 50.0 + (y - front)), sol, liq)
    assert (grains.ids > 0).all()
    assert set(np.unique(grains.ids[:, 12:])) <= substrate
    assert grains.n_grains == n_start  # nothing nucleated: every new cell grew epitaxially


def test_nucleation_rises_with_undercooling():
    counts = []
    for under in (4.0, 12.0, 30.0):
        grains = GrainField(40, 40, GrainParams(), np.random.default_rng(0))
        grains.update(np.full((40, 40), 1723.0 - under), 1658.0, 1723.0)
        counts.append(grains.n_grains)
    assert counts[0] < counts[1] < counts[2]


def test_generated_trajectory_fields():
    out = simulate_trajectory(5, 12, 32)
    assert set(out) == {"temperature", "laser", *IPF_CHANNELS}
    assert set(MELT_SPEC.channel_names()) == set(out)
    temp = out["temperature"]
    assert temp.shape == (12, 32, 16) and temp.dtype == np.float32
    assert temp.max() > 1723.0 and temp.min() >= 299.0
    ipf = np.stack([out[c] for c in IPF_CHANNELS], axis=1)
    assert ((ipf >= 0) & (ipf <= 1)).all()
    assert (ipf.sum(axis=1)[temp >= 1723.0] == 0).all()  # molten cells carry no orientation
    assert (out["laser"][:, :, :-1] == 0).all() and out["laser"][:, :, -1].max() > 0
    again = simulate_trajectory(5, 12, 32)
    np.testing.assert_array_equal(again["ipf_z_r"], out["ipf_z_r"])


def test_check_options():
    check_options(power=(120.0, 180.0), depth=16)
    with pytest.raises(TypeError):
        check_options(vorticity=1.0)
    with pytest.raises(ValueError):
        check_options(power=(200.0, 100.0))
