"""Per-axis dynamics of a belt-driven printer: mass–spring–damper with firmware and drive imperfections.

Each axis carriage (mass ``m``) is pulled by a belt (stiffness ``k``, damping ``c``) whose far end the
stepper moves along the commanded position ``u``. In the tracking error ``e = q − u`` of the carriage
position ``q``,

    m·ë + c·ė + k·e = −m·ü + k·δ − F_c·tanh(q̇ / v_s),

where ``δ`` is how far the belt end actually is from ``u`` (step quantisation, backlash, timer jitter) and the
last term is Coulomb friction smoothed over ``v_s`` so the integration does not chatter at rest. At constant
velocity the linear part has no lag; under a constant acceleration ``a`` it lags by ``m·a/k = a/ωn²``; a step
overshoots by ``exp(−πζ/√(1 − ζ²))`` with ``ωn = √(k/m)`` and ``ζ = c / (2√(k·m))``.

The linear part is integrated exactly for inputs held over each step (zero-order hold through a matrix
exponential), with ``ü`` taken as the step's mean acceleration, so piecewise-constant accelerations are
followed without integration error. Units: mm, s; masses in kg, stiffness N/m, damping N·s/m, friction N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

__all__ = ["AxisParams", "axis_matrices", "drive_offset", "simulate_axis"]

_FRICTION_SMOOTH_MM_S = 1.0  # v_s: below about 1 mm/s Coulomb friction fades in linearly


@dataclass(frozen=True)
class AxisParams:
    """One axis: moving mass, belt, friction and drive resolution.

    Attributes
    ----------
    mass : kg.   stiffness : N/m.   damping : N·s/m.
    friction : Coulomb friction force, N.
    backlash : total play between motor and belt, mm.
    step : motor resolution (one microstep), mm; 0 turns quantisation off.
    jitter : standard deviation of step timing, s.
    """

    mass: float = 0.35
    stiffness: float = 8000.0
    damping: float = 15.0
    friction: float = 0.0
    backlash: float = 0.0
    step: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.mass <= 0 or self.stiffness <= 0 or self.damping < 0:
            raise ValueError("AxisParams: mass and stiffness must be positive and damping >= 0")
        if min(self.friction, self.backlash, self.step, self.jitter) < 0:
            raise ValueError("AxisParams: friction, backlash, step and jitter must be >= 0")

    @property
    def omega_n(self) -> float:
        """Natural angular frequency √(k/m), rad/s."""
        return math.sqrt(self.stiffness / self.mass)

    @property
    def zeta(self) -> float:
        """Damping ratio c / (2√(k·m))."""
        return self.damping / (2.0 * math.sqrt(self.stiffness * self.mass))


def axis_matrices(params: AxisParams, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact zero-order-hold discretisation: ``x⁺ = Φ·x + Γ·w`` for ``x = [e, ė]``, ``w = [ü, δ, F/m]``."""
    km, cm = params.stiffness / params.mass, params.damping / params.mass
    a = np.array([[0.0, 1.0], [-km, -cm]])
    b = np.array([[0.0, 0.0, 0.0], [-1.0, km, -1.0]])
    big = np.zeros((5, 5))
    big[:2, :2] = a
    big[:2, 2:] = b
    m = expm(big * dt)
    return m[:2, :2], m[:2, 2:]


def drive_offset(
    u: np.ndarray, v: np.ndarray, params: AxisParams, rng: np.random.Generator | None
) -> np.ndarray:
    """δ (mm): where the belt end is relative to the commanded position ``u`` (mm, with velocity ``v`` mm/s).

    Timer jitter shifts each step in time (≈ ``v·Δt``), quantisation rounds the motor to whole microsteps and
    backlash lets the belt end lag the motor by up to the play when the direction reverses.
    """
    motor = u.copy()
    if params.jitter > 0 and rng is not None:
        motor += v * rng.normal(0.0, params.jitter, size=u.shape)
    if params.step > 0:
        motor = np.round(motor / params.step) * params.step
    if params.backlash > 0:
        half = 0.5 * params.backlash
        belt = np.empty_like(motor)
        b = motor[0]
        for i, m in enumerate(motor.tolist()):
            # The belt end only moves once the motor has taken up the play on the side it pushes.
            b = min(max(b, m - half), m + half)
            belt[i] = b
        motor = belt
    return motor - u


def simulate_axis(
    dt: float,
    u: np.ndarray,
    v: np.ndarray,
    params: AxisParams,
    rng: np.random.Generator | None = None,
    accel: np.ndarray | None = None,
) -> np.ndarray:
    """Tracking error ``e = q − u`` in mm of one axis following commanded positions ``u`` (M,) mm.

    Parameters
    ----------
    dt : sample interval, s.
    u, v : commanded position (mm) and velocity (mm/s) at the samples.
    params : the axis.
    rng : random generator for timer jitter (None: no jitter).
    accel : mean commanded acceleration over each interval (M,) mm/s²; default from ``v`` differences.

    The axis starts at rest on the commanded path (e = 0, ė = 0).
    """
    n = u.size
    if accel is None:
        accel = np.append(np.diff(v) / dt, 0.0)
    delta = drive_offset(u, v, params, rng)
    phi, gamma = axis_matrices(params, dt)
    p00, p01, p10, p11 = phi.ravel().tolist()
    g = gamma.tolist()
    f_m = params.friction / params.mass * 1000.0  # N/kg = m/s² → mm/s²
    e = np.zeros(n)
    x0 = x1 = 0.0
    acc_l, delta_l, v_l = accel.tolist(), delta.tolist(), v.tolist()
    tanh = math.tanh
    for i in range(n):
        e[i] = x0
        fr = f_m * tanh((x1 + v_l[i]) / _FRICTION_SMOOTH_MM_S) if f_m else 0.0
        w0, w1 = acc_l[i], delta_l[i]
        x0, x1 = (
            p00 * x0 + p01 * x1 + g[0][0] * w0 + g[0][1] * w1 + g[0][2] * fr,
            p10 * x0 + p11 * x1 + g[1][0] * w0 + g[1][1] * w1 + g[1][2] * fr,
        )
    return e
