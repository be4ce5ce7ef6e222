"""The plate seen from above: the melt solver's enthalpy conduction in plan view under a moving laser spot.

The infrared camera looks down on the plate, so this model turns the melt system's cross-section solver
(:class:`fieldcast.engine.systems.melt.ThermalSolver`, the same enthalpy curve, 316L material, latent heat
and liquid-conductivity factor) into a plan view of the plate's top layer: a layer ``layer`` metres deep
(the depth the heat of one pass reaches) in which the absorbed laser power ``A P`` is spread over the
layer's depth, ``q = A P g(x, y) / layer`` W/m³, with ``g`` the Gaussian spot ``2 / (pi R²) exp(-2 r² / R²)``
integrated exactly over each cell. The solver's volumetric sink ``beta (T - T0)``, ``beta = c k / layer²``,
stands for the conduction down into the plate below the layer. Edges are insulated, and the surface's
convection and radiation (a fraction of a percent of the laser power) are left out of the balance.

A scan is a list of :class:`Stroke` s: straight moves of the beam in the plane at a speed and power, each
followed by a pause with the laser off (the galvanometer's jump to the next hatch line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from fieldcast.engine.systems.melt.thermal import Laser, Material, ThermalParams, ThermalSolver

__all__ = ["PlateSolver", "Stroke", "beam_at", "hatch_strokes", "path_strokes", "scan_duration"]

_SAFETY = 0.9


@dataclass(frozen=True)
class Stroke:
    """The beam moving from (x0, y0) to (x1, y1) (m) at ``speed`` (m/s) and ``power`` (W), then ``pause``
    seconds with the laser off."""

    x0: float
    y0: float
    x1: float
    y1: float
    speed: float
    power: float
    pause: float = 0.0

    @property
    def duration(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0) / self.speed


def scan_duration(strokes: list[Stroke]) -> float:
    """Time from the first stroke's start to the end of the last one's pause, s."""
    return sum(s.duration + s.pause for s in strokes)


def beam_at(strokes: list[Stroke], t: float) -> tuple[float, float, float]:
    """Beam position (m) and power (W) at time ``t`` (s); power 0 in pauses and after the scan."""
    start = 0.0
    x, y = (strokes[0].x0, strokes[0].y0) if strokes else (0.0, 0.0)
    for s in strokes:
        if t < start + s.duration:
            f = (t - start) / s.duration
            return s.x0 + (s.x1 - s.x0) * f, s.y0 + (s.y1 - s.y0) * f, s.power
        start += s.duration
        x, y = s.x1, s.y1
        if t < start + s.pause:
            return x, y, 0.0
        start += s.pause
    return x, y, 0.0


def path_strokes(points: np.ndarray, speed: float, power: float) -> list[Stroke]:
    """Strokes along a polyline ``(N, 2)`` (m) at one speed (m/s) and power (W), without pauses."""
    pts = np.asarray(points, float)
    out = []
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        if math.hypot(*(b - a)) > 0:
            out.append(Stroke(float(a[0]), float(a[1]), float(b[0]), float(b[1]), speed, power))
    return out


def _clip_line(
    p: np.ndarray, d: np.ndarray, box: tuple[float, float, float, float]
) -> tuple[float, float] | None:
    """Parameters where the line ``p + s d`` (|d| = 1) enters and leaves ``box`` (x0, y0, x1, y1)."""
    lo, hi = -np.inf, np.inf
    for axis in (0, 1):
        a, b = box[axis], box[axis + 2]
        if abs(d[axis]) < 1e-12:
            if not a <= p[axis] <= b:
                return None
            continue
        s0, s1 = sorted(((a - p[axis]) / d[axis], (b - p[axis]) / d[axis]))
        lo, hi = max(lo, s0), min(hi, s1)
    return (lo, hi) if hi > lo else None


def hatch_strokes(
    rng: np.random.Generator,
    box: tuple[float, float, float, float],
    duration: float,
    spacing: tuple[float, float],
    power: tuple[float, float],
    speed: tuple[float, float],
    pause: tuple[float, float],
) -> list[Stroke]:
    """A serpentine hatch over ``box`` (m) at a random angle, lasting at least ``duration`` seconds.

    Lines are ``spacing`` m apart (drawn once per hatch), each with its own power (W) and speed (m/s),
    joined by pauses; when the box is covered a new hatch at a new angle starts over it (the next layer).
    """
    out: list[Stroke] = []
    total = 0.0
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    half_diag = math.hypot(box[2] - box[0], box[3] - box[1]) / 2
    while total < duration:
        angle = rng.uniform(0.0, math.pi)
        d = np.array([math.cos(angle), math.sin(angle)])
        normal = np.array([-d[1], d[0]])
        h = rng.uniform(*spacing)
        offset = -half_diag + rng.uniform(0.0, h)
        forward = bool(rng.integers(2))
        made = 0
        while offset < half_diag and total < duration:
            p = centre + offset * normal
            span = _clip_line(p, d, box)
            offset += h
            if span is None or span[1] - span[0] < 2 * h:
                continue
            made += 1
            a, b = (p + span[0] * d, p + span[1] * d) if forward else (p + span[1] * d, p + span[0] * d)
            forward = not forward
            s = Stroke(*map(float, (*a, *b)), rng.uniform(*speed), rng.uniform(*power), rng.uniform(*pause))
            out.append(s)
            total += s.duration + s.pause
        if not made:
            # A box narrower than two hatch spacings: one line through its centre.
            span = _clip_line(centre, d, box)
            if span is None:
                raise ValueError(f"the scan box {box} has no area")
            a, b = centre + span[0] * d, centre + span[1] * d
            s = Stroke(*map(float, (*a, *b)), rng.uniform(*speed), rng.uniform(*power), rng.uniform(*pause))
            out.append(s)
            total += s.duration + s.pause
    return out


class PlateSolver(ThermalSolver):
    """Plan-view enthalpy conduction of the plate's top layer (see the module docstring).

    ``nx`` × ``ny`` cells of side ``dx`` (m); ``layer`` (m) and ``lateral`` set the sink to the plate below.
    :attr:`deposited` and :attr:`lost_below` account the energy (J) put in by the laser and drawn off by the
    sink, so ``total_energy() == deposited - lost_below`` to round-off.
    """

    def __init__(
        self,
        nx: int,
        ny: int,
        dx: float,
        material: Material | None = None,
        layer: float = 100e-6,
        lateral: float = 2.0,
        ambient: float = 300.0,
    ) -> None:
        params = ThermalParams(
            thickness=layer,
            lateral=lateral,
            ambient=ambient,
            convection=0.0,
            emissivity=0.0,
            fixed_bottom=False,
            fixed_sides=False,
        )
        super().__init__(nx, ny, dx, material, params)
        self.layer = float(layer)
        self._y_faces = np.arange(self.ny + 1) * self.dx
        self._no_top = np.zeros(self.nx)
        self.deposited = 0.0
        self.lost_below = 0.0

    def spot_source(self, x: float, y: float, power: float, laser: Laser) -> np.ndarray:
        """``(nx, ny)`` absorbed power density (W/m³) of the spot centred at (x, y) m at ``power`` W.

        The Gaussian is integrated over each cell, so the deposited power is exact for any spot size; what
        falls off the plate is lost.
        """
        if power <= 0.0:
            return np.zeros((self.nx, self.ny))
        root2 = math.sqrt(2.0) / laser.radius
        wx = np.diff(0.5 * erf(root2 * (self._x_faces - x)))
        wy = np.diff(0.5 * erf(root2 * (self._y_faces - y)))
        return (laser.absorptivity * power / (self.dx**2 * self.layer)) * np.outer(wx, wy)

    def total_energy(self) -> float:
        """Energy above ambient in the layer, J."""
        return float(self.H.sum() * self.dx**2 * self.layer)

    def scan(self, dt: float, x0: float, y0: float, x1: float, y1: float, power: float, laser: Laser) -> int:
        """Advance ``dt`` seconds while the beam moves from (x0, y0) to (x1, y1) m at ``power`` W.

        Sub-steps stay below the explicit stability limit, with the beam at each sub-step's midpoint.
        Returns the number of sub-steps.
        """
        if dt <= 0.0:
            return 0
        n = max(1, math.ceil(dt / (_SAFETY * self.dt_limit)))
        h = dt / n
        volume = self.dx**2 * self.layer
        for i in range(n):
            f = (i + 0.5) / n
            q = self.spot_source(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, power, laser)
            rate, _, _, lost = self._rates(self.temperature, self._no_top)
            self.H += h * (rate + q)
            self.deposited += h * float(q.sum()) * volume
            self.lost_below += h * lost * self.layer
        self.time += dt
        return n
