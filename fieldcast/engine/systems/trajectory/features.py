"""Physics features of the trajectory model: the printer's own linear response, streamed sample by sample.

The trajectory surrogate is *physics plus a learned correction*: for every sample the known printer profile
(:data:`~fieldcast.engine.systems.trajectory.spec.PROFILE`) drives a causal model of the machine's linear
part (the input shaper on the reference motion, then each axis' mass–spring–damper), and the network
predicts only what that filter misses (friction, backlash, drive quantisation, timing). This module is that
filter, used identically when training (:meth:`PhysicsFeatures.transform`) and when an exported model
streams (:meth:`PhysicsFeatures.step`, called by the engine's sequence session).

Between samples the reference acceleration is taken as a ramp ``ā + j·(t − dt/2)`` with ``ā = Δv/dt`` and
``j = −12·(Δx − v₀·dt − Δv·dt/2)/dt³``, so positions and velocities can be read between samples; the
shaped command is ``Σ Aᵢ·ref(t − dᵢ)`` with the shaper's centred delays (a future instant is extrapolated
from the current interval, the one approximation a causal filter must make). Only differences of positions
enter, so nothing depends on where the part sits on the bed.

Feature vector: the raw channels with ``x_ref`` and ``y_ref`` replaced by the filter's error (µm) on each
axis, so the network's inputs keep their width and order and none of them is an absolute position. The
base (the filter's error, µm) is added back to the network's output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fieldcast.engine.systems.trajectory.planner import MotionLimits, shaper_impulses
from fieldcast.engine.systems.trajectory.spec import PROFILE, SHAPERS

__all__ = ["FEATURES_NAME", "LATENCY", "PhysicsFeatures", "axis_step_coefficients"]

FEATURES_NAME = "trajectory-physics/1"
_FRICTION_SMOOTH_MM_S = 1.0  # as the simulator: Coulomb friction fades in below ≈ 1 mm/s
_SHAPER_DAMPING = MotionLimits().shaper_damping  # the profile carries no damping: the planner's default
LATENCY = 3  # samples: the shaper's centred impulses read up to ≈ 25 ms ahead of the reference
_POSITIONS = ("x_ref", "y_ref")
_VELOCITIES = ("vx_ref", "vy_ref")


def axis_step_coefficients(
    mass: float, stiffness: float, damping: float, dt: float
) -> tuple[float, float, float, float, float]:
    """``(E·cos, E·sin/ωd, σ, ω², ωd)`` of the exact step of ``ë + 2ζω·ė + ω²·e = −a`` over ``dt`` s.

    With ``x = e + a/ω²`` (the offset from the quasi-static lag of a constant acceleration ``a``) the
    underdamped solution is ``e⁺ = −a/ω² + E·(x·cos + (ė + σx)·sin/ωd)`` and
    ``ė⁺ = E·(ė·cos − (ω²x + σė)·sin/ωd)``, ``E = exp(−σ·dt)``, ``σ = ζω``. ζ is capped below 1.
    """
    w2 = stiffness / mass
    w = math.sqrt(w2)
    zeta = min(damping / (2.0 * math.sqrt(stiffness * mass)), 0.99)
    sigma, wd = zeta * w, w * math.sqrt(1.0 - zeta**2)
    decay = math.exp(-sigma * dt)
    return decay * math.cos(wd * dt), decay * math.sin(wd * dt) / wd, sigma, w2, wd


class _Axis:
    """One axis: the shaper taps on the reference ramp history and the exact step of the belt dynamics."""

    def __init__(
        self, mass: float, stiffness: float, damping: float, dt: float, taps, friction=0.0, backlash=0.0
    ) -> None:
        self.ec, self.es, self.sigma, self.w2, _ = axis_step_coefficients(mass, stiffness, damping, dt)
        self.dt = dt
        self.friction = 1000.0 * friction / mass  # mm/s² of Coulomb friction
        self.half_play = 0.5 * backlash  # mm
        self.taps = taps  # [(amplitude, interval back, s within it)]
        self.n_hist = max(max(back for _, back, _ in taps), LATENCY) + 1
        self.reset()

    def reset(self) -> None:
        self.started = False
        # per interval back (0 = the one ending now): start position, start velocity, mean accel, jerk
        self.hist = [(0.0, 0.0, 0.0, 0.0)] * self.n_hist
        self.px = self.pv = 0.0  # last reference sample
        self.cx = self.cv = 0.0  # last shaped command sample
        self.e = self.de = 0.0
        self.direction = 0.0  # sign of the last motion: which side of the play the belt end sits on

    def _ramp(self, x0: float, v0: float, x1: float, v1: float) -> tuple[float, float]:
        dt = self.dt
        dv = v1 - v0
        return dv / dt, -12.0 * ((x1 - x0) - v0 * dt - 0.5 * dv * dt) / dt**3

    def step(self, x: float, v: float) -> float:
        """Error in µm :data:`LATENCY` samples ago, given this sample's reference ``x`` mm, ``v`` mm/s."""
        dt = self.dt
        if not self.started:
            self.started = True
            self.px, self.pv = x, v
            self.hist = [(x, v, 0.0, 0.0)] * self.n_hist
            self.cx, self.cv = x, v
        a, j = self._ramp(self.px, self.pv, x, v)
        self.hist = [(self.px, self.pv, a, j), *self.hist[:-1]]
        self.px, self.pv = x, v
        cx = cv = 0.0
        for amp, back, s in self.taps:
            x0, v0, am, jm = self.hist[back]
            # the ramp integrated: v(s) = v0 + ā·s + j·(s²/2 − s·dt/2),
            # x(s) = x0 + v0·s + ā·s²/2 + j·(s³/6 − s²·dt/4)
            cv += amp * (v0 + am * s + jm * (0.5 * s * s - 0.5 * s * dt))
            cx += amp * (x0 + v0 * s + 0.5 * am * s * s + jm * (s**3 / 6.0 - 0.25 * s * s * dt))
        ca, cj = self._ramp(self.cx, self.cv, cx, cv)
        v_mid = 0.5 * (self.cv + cv)
        self.cx, self.cv = cx, cv
        if abs(v_mid) > 1e-3:
            self.direction = 1.0 if v_mid > 0 else -1.0
        # Coulomb friction and backlash as extra forcing over the interval (friction along the motion, the
        # belt end lagging the motor by half the play), the way the drive applies them
        ca += (
            self.friction * math.tanh(v_mid / _FRICTION_SMOOTH_MM_S)
            + self.w2 * self.half_play * self.direction
        )
        # particular solution e_p(s) = A + B·(s − dt/2) of ë + 2σė + ω²e = −(ā + j·(s − dt/2)), then the
        # homogeneous part around it stepped exactly
        w2, sigma, ec, es = self.w2, self.sigma, self.ec, self.es
        b = -cj / w2
        a0 = -ca / w2 + 2.0 * sigma * cj / (w2 * w2)
        h0, dh0 = self.e - (a0 - 0.5 * b * dt), self.de - b
        h1 = ec * h0 + es * (dh0 + sigma * h0)
        dh1 = ec * dh0 - es * (w2 * h0 + sigma * dh0)
        self.e, self.de = a0 + 0.5 * b * dt + h1, b + dh1
        return 1000.0 * (self.e + cx - self.hist[LATENCY - 1][0] if LATENCY else self.e + cx - x)


def _taps(shaper: str, freq: float, dt: float) -> list[tuple[float, int, float]]:
    """``(amplitude, interval back, s)`` reading ``ref(t − LATENCY·dt − d)`` for each shaper impulse."""
    amps, delays = (np.ones(1), np.zeros(1))
    if shaper != "none" and freq > 0:
        amps, delays = shaper_impulses(shaper, freq, _SHAPER_DAMPING)
    out = []
    for amp, d in zip(amps.tolist(), (delays + LATENCY * dt).tolist(), strict=True):
        if d <= 0.0:  # beyond the newest sample (a very low shaper frequency): extrapolate
            out.append((amp, 0, dt - d))
        else:
            back = int(d // dt)
            out.append((amp, back, dt - (d - back * dt)))
    return out


class PhysicsFeatures:
    """Streams raw trajectory channels into the model's features and base; see the module docstring.

    Parameters
    ----------
    names : the raw input channels in order (must hold ``x_ref, y_ref, vx_ref, vy_ref`` and the profile).
    dt : seconds between samples.

    The profile is read from the first sample after :meth:`reset` (it is constant along a trajectory).
    """

    latency = LATENCY

    def __init__(self, names: Sequence[str], dt: float) -> None:
        self.names = list(names)
        missing = [n for n in (*_POSITIONS, *_VELOCITIES, *PROFILE) if n not in self.names]
        if missing:
            raise ValueError(f"physics features need the channels {', '.join(missing)}")
        self.dt = float(dt)
        self.i_pos = [self.names.index(n) for n in _POSITIONS]
        self.i_vel = [self.names.index(n) for n in _VELOCITIES]
        self.i_prof = {n: self.names.index(n) for n in PROFILE}
        self.axes: list[_Axis] | None = None

    def reset(self) -> None:
        """Start a new trajectory (the machine at rest on its path, profile read from the next sample)."""
        self.axes = None
        self.rows: list[list[float]] = []

    def _build(self, row: Sequence[float]) -> list[_Axis]:
        p = {n: float(row[i]) for n, i in self.i_prof.items()}
        shaper = SHAPERS[min(max(int(round(p["shaper"])), 0), len(SHAPERS) - 1)]
        taps = _taps(shaper, p["shaper_freq"], self.dt)
        axes = []
        for a in ("x", "y"):
            mass, k, c = p[f"mass_{a}"], p[f"stiffness_{a}"], p[f"damping_{a}"]
            if not (mass > 0 and k > 0 and c >= 0 and math.isfinite(mass * k * c)):
                raise ValueError(f"printer profile: mass_{a}, stiffness_{a} must be > 0, damping_{a} >= 0")
            axes.append(_Axis(mass, k, c, self.dt, taps, p[f"friction_{a}"], max(p[f"backlash_{a}"], 0.0)))
        return axes

    def step(self, row: Sequence[float] | np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """One raw sample (C,) → features (C,) and base ``(error_x, error_y)`` µm of the sample
        :data:`LATENCY` samples earlier (before the first sample: the first sample, at rest)."""
        row = np.asarray(row, np.float64)
        if self.axes is None:
            self.axes = self._build(row.tolist())
            self.rows = [row] * (LATENCY + 1)
        self.rows.append(row)
        out = self.rows.pop(0).copy()
        (ix, iy), (ivx, ivy) = self.i_pos, self.i_vel
        ex = self.axes[0].step(float(row[ix]), float(row[ivx]))
        ey = self.axes[1].step(float(row[iy]), float(row[ivy]))
        out[ix], out[iy] = ex, ey
        return out, (ex, ey)

    def pad(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` (T, C) followed by :data:`LATENCY` samples continuing its last velocity (T + L, C)."""
        raw = np.asarray(raw, np.float64)
        if raw.shape[0] == 0 or not LATENCY:
            return raw
        tail = np.repeat(raw[-1:], LATENCY, axis=0)
        steps = np.arange(1, LATENCY + 1)[:, None] * self.dt
        for ip, iv in zip(self.i_pos, self.i_vel, strict=True):
            tail[:, ip] = raw[-1, ip] + raw[-1, iv] * steps[:, 0]
        return np.concatenate([raw, tail])

    def transform(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A whole trajectory (T, C) from rest → features (T, C) and base (T, 2) aligned with its samples,
        float64 (the last :data:`LATENCY` samples read the padding of :meth:`pad`)."""
        padded = self.pad(raw)
        self.reset()
        feats = np.empty_like(padded)
        base = np.empty((padded.shape[0], 2))
        for t in range(padded.shape[0]):
            feats[t], base[t] = self.step(padded[t])
        self.reset()
        return feats[LATENCY:], base[LATENCY:]
