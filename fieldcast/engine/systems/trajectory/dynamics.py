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
followed without integration error. Without friction the axis is linear in its inputs (quantisation, jitter
and backlash only shape ``δ``, which is known before the integration), and the same recurrence runs as a
second-order IIR filter (:func:`scipy.signal.lfilter`) instead of a Python loop; the two agree to rounding
(about 1e-15 mm). Units: mm, s; masses in kg, stiffness N/m, damping N·s/m, friction N.

A long toolpath is simulated in stretches with :class:`AxisSimulator`, which carries the axis state, the belt
position under backlash and the filter state from one stretch to the next, and draws the whole run's timer
jitter when it is made, so a run cut into stretches gives the same numbers as one run over the whole path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm
from scipy.signal import lfilter

__all__ = ["AxisParams", "AxisSimulator", "axis_matrices", "drive_offset", "simulate_axis"]

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
    noise = rng.normal(0.0, params.jitter, size=u.shape) if params.jitter > 0 and rng is not None else None
    motor = _motor(u, v, params, noise)
    if params.backlash > 0:
        motor, _ = _take_up_play(motor, 0.5 * params.backlash, float(motor[0]))
    return motor - u


def _motor(u: np.ndarray, v: np.ndarray, params: AxisParams, noise: np.ndarray | None) -> np.ndarray:
    """Motor position (mm): the command shifted by timer jitter (``noise`` in s) and cut into microsteps."""
    motor = u.copy()
    if noise is not None:
        motor += v * noise
    if params.step > 0:
        motor = np.round(motor / params.step) * params.step
    return motor


def _take_up_play(motor: np.ndarray, half: float, belt: float) -> tuple[np.ndarray, float]:
    """Belt-end positions (mm) behind ``motor``, ``half`` the play each side, starting from ``belt`` (mm)."""
    out = np.empty_like(motor)
    b = belt
    for i, m in enumerate(motor.tolist()):
        # The belt end only moves once the motor has taken up the play on the side it pushes.
        b = min(max(b, m - half), m + half)
        out[i] = b
    return out, b


class AxisSimulator:
    """One axis simulated stretch by stretch: :meth:`advance` continues where the previous stretch ended.

    Parameters
    ----------
    params : the axis.
    dt : sample interval, s.
    n : samples of the whole run (the timer jitter of all of them is drawn here, in one call of ``rng``).
    rng : random generator for timer jitter (None: no jitter).
    filter_linear : run a friction-free axis as an IIR filter (True) or through the per-sample loop.

    The axis starts at rest on the commanded path (e = 0, ė = 0).
    """

    def __init__(
        self,
        params: AxisParams,
        dt: float,
        n: int,
        rng: np.random.Generator | None = None,
        filter_linear: bool = True,
    ) -> None:
        self.params, self.dt, self.n = params, float(dt), int(n)
        self.done = 0
        self._noise = (
            rng.normal(0.0, params.jitter, size=self.n) if params.jitter > 0 and rng is not None else None
        )
        phi, gamma = axis_matrices(params, dt)
        self._phi, self._gamma = phi, gamma
        self.linear = filter_linear and params.friction == 0
        self._x = (0.0, 0.0)  # e (mm), ė (mm/s) before the next sample
        self._belt: float | None = None  # belt-end position under backlash, mm
        # e(z) = z⁻¹·(Γ₀ + z⁻¹·(Φ₀₁Γ₁ − Φ₁₁Γ₀))·w(z) / (1 − tr Φ·z⁻¹ + det Φ·z⁻²) for w = (ü, δ):
        (p00, p01), (p10, p11) = phi.tolist()
        self._den = np.array([1.0, -(p00 + p11), p00 * p11 - p01 * p10])
        self._num1 = gamma[0, :2].copy()
        self._num2 = p01 * gamma[1, :2] - p11 * gamma[0, :2]
        self._w_tail = np.zeros((2, 2))  # the last two inputs (rows: ü, δ) before the next sample
        self._zi = np.zeros(2)

    def advance(self, u: np.ndarray, v: np.ndarray, accel: np.ndarray) -> np.ndarray:
        """Tracking error ``e = q − u`` (mm) over the next ``u.size`` samples.

        ``u``, ``v`` : commanded position (mm) and velocity (mm/s); ``accel`` : mean commanded acceleration
        over each interval (mm/s²).
        """
        m = u.size
        if self.done + m > self.n:
            raise ValueError(f"AxisSimulator: {self.done + m} samples asked of a run of {self.n}")
        noise = None if self._noise is None else self._noise[self.done : self.done + m]
        self.done += m
        if m == 0:
            return np.zeros(0)
        motor = _motor(u, v, self.params, noise)
        if self.params.backlash > 0:
            belt = float(motor[0]) if self._belt is None else self._belt
            motor, self._belt = _take_up_play(motor, 0.5 * self.params.backlash, belt)
        delta = motor - u
        if self.linear:
            return self._filter(accel, delta)
        return self._loop(accel, delta, v)

    def _filter(self, accel: np.ndarray, delta: np.ndarray) -> np.ndarray:
        w = np.concatenate([self._w_tail, np.stack([accel, delta])], axis=1)  # (2, 2 + m)
        self._w_tail = w[:, -2:].copy()
        drive = self._num1 @ w[:, 1:-1] + self._num2 @ w[:, :-2]
        e, self._zi = lfilter([1.0], self._den, drive, zi=self._zi)
        return e

    def _loop(self, accel: np.ndarray, delta: np.ndarray, v: np.ndarray) -> np.ndarray:
        p00, p01, p10, p11 = self._phi.ravel().tolist()
        g = self._gamma.tolist()
        f_m = self.params.friction / self.params.mass * 1000.0  # N/kg = m/s² → mm/s²
        e = np.empty(accel.size)
        x0, x1 = self._x
        acc_l, delta_l, v_l = accel.tolist(), delta.tolist(), v.tolist()
        tanh = math.tanh
        for i in range(accel.size):
            e[i] = x0
            fr = f_m * tanh((x1 + v_l[i]) / _FRICTION_SMOOTH_MM_S) if f_m else 0.0
            w0, w1 = acc_l[i], delta_l[i]
            x0, x1 = (
                p00 * x0 + p01 * x1 + g[0][0] * w0 + g[0][1] * w1 + g[0][2] * fr,
                p10 * x0 + p11 * x1 + g[1][0] * w0 + g[1][1] * w1 + g[1][2] * fr,
            )
        self._x = (x0, x1)
        return e


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
    if accel is None:
        accel = np.append(np.diff(v) / dt, 0.0)
    return AxisSimulator(params, dt, u.size, rng).advance(u, v, accel)
