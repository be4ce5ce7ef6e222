"""Heat conduction in a plate cross-section under a moving Gaussian laser, with latent heat (enthalpy method).

The section lies in the (x, z) plane: x along the scan, z into the plate. Arrays are ``(nx, ny)`` with ``y``
pointing up, so ``T[:, -1]`` is the row of cells under the top surface. The section stands for a slab of
thickness ``w = ThermalParams.thickness`` across which the absorbed beam power is spread (a 2D line-source
model), so every energy below is per metre of that out-of-plane direction (J/m, W/m). A pure 2D line source
gives melt pools far longer than a real spot makes, because heat cannot spread sideways; a sink
``beta (T - T_ambient)`` with ``beta = c k / w**2`` (``c = ThermalParams.lateral``, 8 by default, chosen so
pools have the depth-to-length ratio of laser powder-bed fusion; 0 gives the pure line source) stands for
that sideways conduction. The Rosenthal solution keeps its form with it (see :func:`rosenthal_line`).

Time stepping is explicit on the volumetric enthalpy ``H`` (J/m³, zero at the ambient temperature) in
conservative finite-volume form: interior face fluxes cancel exactly, so the change of total enthalpy equals
the absorbed energy minus the boundary losses to round-off, and the energy balance can be audited. The step is
limited by the positivity bound ``dt <= rho*cp*dx**2 / (k*d)`` with ``d = 6`` (the largest diagonal weight
of a corner cell with fixed-temperature faces); latent heat only raises the effective heat capacity, so the
same bound holds in the mushy zone.

Material defaults are 316L-like: density 7900 kg/m³, specific heat 500 J/kg/K and conductivity 20 W/m/K
(averages over 300-1700 K of the values in K. C. Mills, *Recommended values of thermophysical properties for
selected commercial alloys*, Woodhead 2002, and C. S. Kim, ANL-75-55, 1975), solidus 1658 K, liquidus 1723 K
(1385 / 1450 °C) and latent heat of fusion 2.7e5 J/kg (Mills 2002). Above the liquidus the conductivity is
multiplied by ``liquid_conductivity_factor`` (4 by default), the usual stand-in for Marangoni convection in
conduction-only melt-pool models; without it a 2D conduction model puts the pool surface near 10^4 K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import erf, k0e

__all__ = [
    "STEFAN_BOLTZMANN",
    "Laser",
    "Material",
    "ThermalParams",
    "ThermalSolver",
    "melt_pool_size",
    "rosenthal_gaussian",
    "rosenthal_line",
]

STEFAN_BOLTZMANN = 5.670374419e-8  # W/(m² K⁴)
_DIAGONAL_MAX = 6.0  # see the module docstring: largest sum of face weights of one cell
_SAFETY = 0.9


@dataclass(frozen=True)
class Material:
    """Thermophysical constants (SI units; temperatures in K, latent heat in J/kg)."""

    density: float = 7900.0
    specific_heat: float = 500.0
    conductivity: float = 20.0
    solidus: float = 1658.0
    liquidus: float = 1723.0
    latent_heat: float = 2.7e5
    liquid_conductivity_factor: float = 4.0

    @property
    def diffusivity(self) -> float:
        """Thermal diffusivity k / (rho cp), m²/s."""
        return self.conductivity / (self.density * self.specific_heat)

    def without_latent_heat(self) -> Material:
        """The same material with latent heat and liquid-conductivity enhancement off (linear conduction)."""
        return replace(self, latent_heat=0.0, liquid_conductivity_factor=1.0)


@dataclass(frozen=True)
class Laser:
    """The beam: power (W), scan speed (m/s), 1/e² spot radius (m) and absorptivity.

    In a section of thickness ``w`` the absorbed line power is ``absorptivity * power / w`` (W/m), spread
    over x as a Gaussian ``exp(-2 (x - x_laser)² / radius²)``.
    """

    power: float = 250.0
    speed: float = 0.3
    radius: float = 30e-6
    absorptivity: float = 0.35

    def line_power(self, thickness: float, power: float | None = None) -> float:
        """Absorbed power per metre of section thickness, W/m."""
        return self.absorptivity * (self.power if power is None else power) / thickness


@dataclass(frozen=True)
class ThermalParams:
    """Section and boundary conditions: thickness (m) and sideways-loss factor of the section, ambient
    temperature (K), surface convection (W/m²/K) and emissivity, and which faces are held at the ambient
    temperature (the others are insulated)."""

    thickness: float = 100e-6
    lateral: float = 8.0
    ambient: float = 300.0
    convection: float = 10.0
    emissivity: float = 0.4
    fixed_bottom: bool = True
    fixed_sides: bool = False


class ThermalSolver:
    """Explicit enthalpy solver on an ``nx`` × ``ny`` grid of square cells of side ``dx`` (m).

    Energy accounts (J per metre of thickness) accumulate over every step: ``absorbed`` (laser),
    ``lost_fixed`` (conduction into fixed-temperature faces), ``lost_surface`` (convection + radiation) and
    ``lost_lateral`` (the sideways sink).
    """

    def __init__(
        self,
        nx: int,
        ny: int,
        dx: float,
        material: Material | None = None,
        params: ThermalParams | None = None,
    ) -> None:
        self.nx, self.ny, self.dx = int(nx), int(ny), float(dx)
        self.material = material or Material()
        self.params = params or ThermalParams()
        self.H = np.zeros((self.nx, self.ny))  # J/m³, zero at ambient
        self.time = 0.0
        self.absorbed = self.lost_fixed = self.lost_surface = self.lost_lateral = 0.0
        m = self.material
        self._rc = m.density * m.specific_heat  # J/(m³ K)
        self.beta = self.params.lateral * m.conductivity / self.params.thickness**2  # W/(m³ K)
        self._rl = m.density * m.latent_heat  # J/m³
        self._h_solidus = self._rc * (m.solidus - self.params.ambient)
        self._h_liquidus = self._rc * (m.liquidus - self.params.ambient) + self._rl
        # Cell-face x coordinates for integrating the Gaussian exactly over each top cell.
        self._x_faces = np.arange(self.nx + 1) * self.dx

    # ------------------------------------------------------------ state

    @property
    def dt_limit(self) -> float:
        """Largest stable explicit step, s (the sink adds ``beta`` to the diagonal)."""
        m = self.material
        k_max = m.conductivity * max(1.0, m.liquid_conductivity_factor)
        return self._rc / (k_max * _DIAGONAL_MAX / self.dx**2 + self.beta)

    @property
    def temperature(self) -> np.ndarray:
        """(nx, ny) temperature, K."""
        return self.temperature_of(self.H)

    @property
    def liquid_fraction(self) -> np.ndarray:
        """(nx, ny) liquid fraction in [0, 1] (a step at the liquidus when latent heat is off)."""
        if self._rl == 0.0:
            return (self.temperature >= self.material.liquidus).astype(float)
        return np.clip((self.H - self._h_solidus) / (self._h_liquidus - self._h_solidus), 0.0, 1.0)

    def set_temperature(self, temp: np.ndarray | float) -> None:
        """Set the state from a temperature field (K), solid below the solidus, liquid above the liquidus."""
        m, t0 = self.material, self.params.ambient
        temp = np.broadcast_to(np.asarray(temp, dtype=float), (self.nx, self.ny))
        frac = np.clip((temp - m.solidus) / (m.liquidus - m.solidus), 0.0, 1.0)
        self.H = self._rc * (temp - t0) + self._rl * frac

    def temperature_of(self, h: np.ndarray) -> np.ndarray:
        """Invert the piecewise-linear enthalpy curve: J/m³ -> K."""
        m, t0 = self.material, self.params.ambient
        if self._rl == 0.0:
            return t0 + h / self._rc
        mushy_capacity = self._rc + self._rl / (m.liquidus - m.solidus)
        return np.where(
            h <= self._h_solidus,
            t0 + h / self._rc,
            np.where(
                h >= self._h_liquidus,
                t0 + (h - self._rl) / self._rc,
                m.solidus + (h - self._h_solidus) / mushy_capacity,
            ),
        )

    def total_enthalpy(self) -> float:
        """Enthalpy above ambient in the section, J per metre of thickness."""
        return float(self.H.sum() * self.dx**2)

    # ------------------------------------------------------------ stepping

    def laser_flux(self, x: float, line_power: float, radius: float) -> np.ndarray:
        """(nx,) absorbed flux into the top cells, W/m², for a beam centred at ``x`` (m).

        Integrating the Gaussian over each cell keeps the deposited power exact for any spot size; the part
        falling outside the section is lost, as it would be off the edge of a plate.
        """
        if line_power <= 0.0:
            return np.zeros(self.nx)
        cdf = 0.5 * erf(math.sqrt(2.0) * (self._x_faces - x) / radius)
        return line_power * np.diff(cdf) / self.dx

    def _rates(self, temp: np.ndarray, q_top: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """dH/dt (W/m³) and the loss rates through fixed faces, the surface and sideways (W/m)."""
        m, dx, p = self.material, self.dx, self.params
        k = m.conductivity
        kc = np.where(temp > m.liquidus, k * m.liquid_conductivity_factor, k)  # W/(m K) per cell
        net = np.zeros_like(temp)  # W/m² into each cell, summed over its faces
        fx = 0.5 * (kc[1:] + kc[:-1]) * (temp[1:] - temp[:-1]) / dx
        net[:-1] += fx
        net[1:] -= fx
        fy = 0.5 * (kc[:, 1:] + kc[:, :-1]) * (temp[:, 1:] - temp[:, :-1]) / dx
        net[:, :-1] += fy
        net[:, 1:] -= fy
        lost_fixed = 0.0
        # A fixed face sits half a cell from the cell centre.
        if p.fixed_bottom:
            f = 2.0 * k * (temp[:, 0] - p.ambient) / dx
            net[:, 0] -= f
            lost_fixed += f.sum() * dx
        if p.fixed_sides:
            for side in (0, -1):
                f = 2.0 * k * (temp[side] - p.ambient) / dx
                net[side] -= f
                lost_fixed += f.sum() * dx
        top = temp[:, -1]
        surface = p.convection * (top - p.ambient) + p.emissivity * STEFAN_BOLTZMANN * (top**4 - p.ambient**4)
        net[:, -1] += q_top - surface
        sink = self.beta * (temp - p.ambient)  # W/m³
        lost_lateral = float(sink.sum() * dx * dx)
        return net / dx - sink, lost_fixed, float(surface.sum() * dx), lost_lateral

    def step(self, dt: float, x0: float, x1: float, power: float, laser: Laser) -> int:
        """Advance ``dt`` seconds while the beam moves from ``x0`` to ``x1`` (m) at ``power`` (W).

        The interval is split into equal sub-steps below the stability limit; the beam sits at each
        sub-step's midpoint. Returns the number of sub-steps.
        """
        if dt <= 0.0:
            return 0
        n = max(1, math.ceil(dt / (_SAFETY * self.dt_limit)))
        h = dt / n
        if h > self.dt_limit:  # guards against a changed limit; cannot trigger with the ceil above
            raise ValueError(f"explicit step {h:.3g} s exceeds the stability limit {self.dt_limit:.3g} s")
        line = laser.line_power(self.params.thickness, power)
        for i in range(n):
            x = x0 + (x1 - x0) * (i + 0.5) / n
            q_top = self.laser_flux(x, line, laser.radius)
            rate, lost_fixed, lost_surface, lost_lateral = self._rates(self.temperature, q_top)
            self.H += h * rate
            self.absorbed += h * float(q_top.sum()) * self.dx
            self.lost_fixed += h * lost_fixed
            self.lost_surface += h * lost_surface
            self.lost_lateral += h * lost_lateral
        self.time += dt
        return n


# ---------------------------------------------------------------- analytic reference and measurements


def rosenthal_line(
    xi: np.ndarray,
    depth: np.ndarray,
    line_power: float,
    speed: float,
    material: Material,
    ambient: float,
    beta: float = 0.0,
) -> np.ndarray:
    """Rosenthal's quasi-steady moving line source on an insulated half-space (no latent heat), K.

    ``T = T0 + q'/(pi k) exp(-v xi / 2a) K0(lam r)`` with ``lam**2 = (v / 2a)**2 + beta / k``, ``xi`` the
    distance ahead of the source along the scan and ``depth`` below the surface (m). With ``beta = 0`` it is
    Rosenthal's (1946) line source; a volumetric sink ``beta (T - T0)`` only changes ``lam`` (his thin plate
    with heat losses). The factor 1/pi (not 1/2pi) is the mirror image that keeps the surface insulated.
    ``K0`` is evaluated as ``k0e(u) exp(-u)`` so the exponentials cancel without overflow behind the source.
    """
    a = material.diffusivity
    r = np.hypot(xi, depth)
    lam = math.sqrt((speed / (2.0 * a)) ** 2 + beta / material.conductivity)
    u = lam * np.maximum(r, 1e-12)
    w = -speed * xi / (2.0 * a)
    return ambient + line_power / (math.pi * material.conductivity) * k0e(u) * np.exp(w - u)


def rosenthal_gaussian(
    xi: np.ndarray,
    depth: np.ndarray,
    laser: Laser,
    material: Material,
    params: ThermalParams,
    samples: int = 81,
) -> np.ndarray:
    """The line-source solution superposed over the Gaussian spot (exact for the linear problem), K.

    The spot is sampled at ``samples`` points over ±2 radii (Gauss-Legendre weights times the Gaussian,
    renormalised), which is accurate wherever the point is more than about one radius from the source.
    """
    nodes, weights = np.polynomial.legendre.leggauss(samples)
    s = 2.0 * laser.radius * nodes
    w = weights * np.exp(-2.0 * s**2 / laser.radius**2)
    w /= w.sum()
    line = laser.line_power(params.thickness)
    beta = params.lateral * material.conductivity / params.thickness**2
    rise = np.zeros(np.broadcast(xi, depth).shape)
    for sj, wj in zip(s, w, strict=True):
        rise += wj * rosenthal_line(xi - sj, depth, line, laser.speed, material, 0.0, beta)
    return params.ambient + rise


def _extent(profile: np.ndarray, coords: np.ndarray, level: float) -> tuple[float, float] | None:
    """Interval of ``coords`` where ``profile`` >= ``level`` around its maximum, ends interpolated."""
    i = int(np.argmax(profile))
    if profile[i] < level:
        return None
    lo, hi = i, i
    while lo > 0 and profile[lo - 1] >= level:
        lo -= 1
    while hi < len(profile) - 1 and profile[hi + 1] >= level:
        hi += 1

    def cross(a: int, b: int) -> float:  # a inside, b outside
        t = (profile[a] - level) / (profile[a] - profile[b])
        return coords[a] + t * (coords[b] - coords[a])

    start = cross(lo, lo - 1) if lo > 0 else coords[lo]
    end = cross(hi, hi + 1) if hi < len(profile) - 1 else coords[hi]
    return float(start), float(end)


def melt_pool_size(temp: np.ndarray, dx: float, level: float) -> tuple[float, float]:
    """(width, depth) of the region at or above ``level`` (K) in an (nx, ny) field with the surface on top, m.

    ``width`` is the pool's extent along the scan (x) and ``depth`` how far it reaches below the surface,
    both interpolated between cell centres; (0, 0) when nothing reaches ``level``.
    """
    nx, ny = temp.shape
    if temp.max() < level:
        return 0.0, 0.0
    x = (np.arange(nx) + 0.5) * dx
    z = (np.arange(ny)[::-1] + 0.5) * dx  # depth of each row's centre below the surface
    width = 0.0
    for j in range(ny):
        span = _extent(temp[:, j], x, level)
        if span is not None:
            width = max(width, span[1] - span[0])
    depth = 0.0
    for i in range(nx):
        span = _extent(temp[i, ::-1], z[::-1], level)
        if span is not None:
            depth = max(depth, span[1])
    return width, depth
