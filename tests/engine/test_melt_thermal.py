"""The melt heat solver against Rosenthal's moving line source, and its energy balance."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.systems.melt.thermal import (
    Laser,
    Material,
    ThermalParams,
    ThermalSolver,
    melt_pool_size,
    rosenthal_gaussian,
)

DX = 5e-6


def _scan(solver: ThermalSolver, laser: Laser, x0: float, x1: float, pieces: int = 10) -> None:
    duration = (x1 - x0) / laser.speed
    for i in range(pieces):
        a, b = x0 + (x1 - x0) * i / pieces, x0 + (x1 - x0) * (i + 1) / pieces
        solver.step(duration / pieces, a, b, laser.power, laser)


def test_quasi_steady_field_matches_rosenthal():
    """Latent heat off, linear conduction: after a 0.5 mm scan the field near the beam is the analytic one.

    Geometry where the analytic solution holds: a half-space with an insulated surface, approximated by a
    section 0.8 mm × 0.25 mm whose sides and bottom are held at ambient (the field there is < 1 K above it),
    the same sideways sink as the generator (lateral = 8), a 20 µm spot so the pool (≈ 57 µm deep, 0.21 mm
    long, 11 × 41 cells) is much larger than the source. Tolerances: melt-pool width and depth within 2 %,
    temperature within 3 % of (liquidus - ambient) wherever the point is more than 3 spot radii from the beam
    centre (the superposed line source is singular at the surface under the spot).
    """
    mat = Material().without_latent_heat()
    params = ThermalParams(convection=0.0, emissivity=0.0, fixed_bottom=True, fixed_sides=True)
    laser = Laser(power=250.0, speed=0.5, radius=20e-6)
    nx, ny = 160, 50
    solver = ThermalSolver(nx, ny, DX, mat, params)
    x_end = nx * DX - 100e-6
    _scan(solver, laser, 60e-6, x_end)
    temp = solver.temperature
    x = (np.arange(nx) + 0.5) * DX
    depth = (np.arange(ny)[::-1] + 0.5) * DX
    xx, zz = np.meshgrid(x, depth, indexing="ij")
    exact = rosenthal_gaussian(xx - x_end, zz, laser, mat, params)
    width, pool_depth = melt_pool_size(temp, DX, mat.liquidus)
    width_exact, depth_exact = melt_pool_size(exact, DX, mat.liquidus)
    assert depth_exact > 10 * DX and width_exact > 30 * DX
    assert width == pytest.approx(width_exact, rel=0.02)
    assert pool_depth == pytest.approx(depth_exact, rel=0.02)
    far = np.hypot(xx - x_end, zz) > 3 * laser.radius
    err = np.abs(temp - exact)[far].max()
    assert err < 0.03 * (mat.liquidus - params.ambient)


def test_energy_balance_with_latent_heat_and_losses():
    """Absorbed energy = change in enthalpy + losses (fixed bottom, surface, sideways), to round-off,
    through melting and resolidification; absorbed energy = line power × beam-on time while on the plate."""
    mat = Material()
    solver = ThermalSolver(48, 24, DX, mat, ThermalParams())
    laser = Laser(power=200.0, speed=0.4)
    _scan(solver, laser, 80e-6, 160e-6, pieces=5)
    on_time = solver.time
    assert solver.liquid_fraction.max() == 1.0
    assert solver.absorbed == pytest.approx(laser.line_power(solver.params.thickness) * on_time, rel=1e-6)
    for _ in range(40):  # cool with the beam off until the pool has solidified
        solver.step(2e-5, 0.0, 0.0, 0.0, laser)
    assert solver.liquid_fraction.max() == 0.0
    losses = solver.lost_fixed + solver.lost_surface + solver.lost_lateral
    assert min(solver.lost_fixed, solver.lost_surface, solver.lost_lateral) > 0.0
    balance = solver.absorbed - (solver.total_enthalpy() + losses)
    assert abs(balance) < 1e-9 * solver.absorbed


def test_enthalpy_curve_inverts_and_stores_latent_heat():
    mat = Material()
    solver = ThermalSolver(4, 4, DX, mat)
    temp = np.linspace(300.0, 2500.0, 16).reshape(4, 4)
    solver.set_temperature(temp)
    np.testing.assert_allclose(solver.temperature, temp, rtol=0, atol=1e-9)
    solver.set_temperature(mat.liquidus)
    h_liquid = solver.H[0, 0]
    solver.set_temperature(mat.solidus)
    rho_cp = mat.density * mat.specific_heat
    assert h_liquid - solver.H[0, 0] == pytest.approx(
        rho_cp * (mat.liquidus - mat.solidus) + mat.density * mat.latent_heat
    )


def test_explicit_step_stays_below_the_stability_limit():
    solver = ThermalSolver(16, 8, DX, Material(), ThermalParams())
    dt = 10 * solver.dt_limit
    n = solver.step(dt, 0.0, 0.0, 0.0, Laser())
    assert dt / n <= solver.dt_limit
    # A hot spot relaxes without overshoot (the explicit scheme is monotone below the limit).
    solver.set_temperature(300.0)
    solver.H[8, 4] += 1e10
    solver.step(1e-4, 0.0, 0.0, 0.0, Laser())
    assert solver.temperature.min() >= 300.0 - 1e-6
