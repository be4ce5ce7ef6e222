"""Firmware-style motion planning of an XY toolpath: trapezoids, look-ahead, junction deviation, shaping.

The planner follows what Marlin and Klipper do (Klipper ``docs/Kinematics.md``): every straight move is a
trapezoidal velocity profile (accelerate, cruise, decelerate at constant ``a``); the speed at the junction
between two moves is limited by junction deviation,

    v_j² = a · JD · sin(θ/2) / (1 − sin(θ/2)),

with θ the angle between the reversed incoming direction and the outgoing direction (θ = 180° is straight
on, θ = 0 a full reversal); and a look-ahead over the move queue makes every entry speed reachable from the
previous one and able to stop at the end of the queue (end_v² = start_v² + 2·a·d in both passes). A firmware
plans over a finite buffer; ``lookahead`` bounds each entry speed by the speed from which the head could
stop within that many moves, which is what a full buffer enforces.

Input shaping (ZV, MZV as in Klipper's ``shaper_defs.py``) convolves the planned position with a few
impulses; the shaped motion is what drives the axes, the unshaped plan is the reference.

Units: mm, s, mm/s, mm/s².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MotionLimits", "Plan", "junction_speed", "plan_moves", "shaper_impulses"]


@dataclass(frozen=True)
class MotionLimits:
    """Machine limits of the planner.

    Attributes
    ----------
    max_velocity : cap on any move's speed, mm/s.
    accel : acceleration for moves whose G-code sets none, mm/s² (also a cap on G-code values).
    junction_deviation : JD in mm (Marlin's ``JUNCTION_DEVIATION_MM``).
    lookahead : moves in the planner buffer (0 = the whole file).
    shaper : "none", "zv" or "mzv".
    shaper_freq : shaper frequency in Hz (tuned to the axis resonance).
    shaper_damping : damping ratio the shaper is designed for.
    """

    max_velocity: float = 250.0
    accel: float = 500.0
    junction_deviation: float = 0.013
    lookahead: int = 16
    shaper: str = "none"
    shaper_freq: float = 24.0
    shaper_damping: float = 0.1

    def __post_init__(self) -> None:
        if self.max_velocity <= 0 or self.accel <= 0 or self.junction_deviation < 0 or self.lookahead < 0:
            raise ValueError(
                "MotionLimits: velocity and acceleration must be positive, JD and lookahead >= 0"
            )
        if self.shaper not in ("none", "zv", "mzv"):
            raise ValueError(f"MotionLimits.shaper={self.shaper!r}; expected none, zv or mzv")
        if self.shaper != "none" and not (self.shaper_freq > 0 and 0 <= self.shaper_damping < 1):
            raise ValueError("MotionLimits: shaper frequency must be > 0 and damping in [0, 1)")


def shaper_impulses(kind: str, freq: float, damping: float) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes (summing to 1) and centred time offsets in s of a ZV or MZV input shaper."""
    if kind == "none":
        return np.ones(1), np.zeros(1)
    root = math.sqrt(1.0 - damping**2)
    t_d = 1.0 / (freq * root)  # damped period
    if kind == "zv":
        k = math.exp(-damping * math.pi / root)
        amps, delays = np.array([1.0, k]), np.array([0.0, 0.5 * t_d])
    elif kind == "mzv":
        k = math.exp(-0.75 * damping * math.pi / root)
        a1 = 1.0 - 1.0 / math.sqrt(2.0)
        amps = np.array([a1, (math.sqrt(2.0) - 1.0) * k, a1 * k * k])
        delays = np.array([0.0, 0.375 * t_d, 0.75 * t_d])
    else:
        raise ValueError(f"unknown input shaper {kind!r}")
    amps = amps / amps.sum()
    # Centred on the impulses' mean time (as Klipper does), so the shaper smooths without delaying the path.
    return amps, delays - float(np.dot(amps, delays))


def junction_speed(u_in: np.ndarray, u_out: np.ndarray, accel: np.ndarray, jd: float) -> np.ndarray:
    """Junction-deviation speed limit in mm/s between unit directions ``u_in`` → ``u_out`` (rows).

    Straight-on junctions are unlimited (inf); a full reversal gives 0.
    """
    cos_theta = np.clip(-np.sum(u_in * u_out, axis=-1), -1.0, 1.0)
    sin_half = np.sqrt(0.5 * (1.0 - cos_theta))
    with np.errstate(divide="ignore"):
        v2 = np.where(
            sin_half > 1.0 - 1e-9, np.inf, accel * jd * sin_half / np.maximum(1.0 - sin_half, 1e-12)
        )
    return np.sqrt(v2)


@dataclass
class Plan:
    """Planned blocks and their trapezoids; :meth:`sample` evaluates the motion at any times.

    Per block arrays: ``start`` (N, 2) mm, ``unit`` (N, 2), ``length`` mm, ``accel`` mm/s², ``v_entry``,
    ``v_cruise``, ``v_exit`` mm/s, ``t_start``, ``t_accel``, ``t_cruise``, ``t_decel``, ``t_dwell`` s (a
    dwell happens at rest before the block moves).
    """

    start: np.ndarray
    unit: np.ndarray
    length: np.ndarray
    accel: np.ndarray
    v_entry: np.ndarray
    v_cruise: np.ndarray
    v_exit: np.ndarray
    t_start: np.ndarray
    t_dwell: np.ndarray
    t_accel: np.ndarray
    t_cruise: np.ndarray
    t_decel: np.ndarray

    @property
    def duration(self) -> float:
        if self.t_start.size == 0:
            return 0.0
        return float(
            self.t_start[-1] + self.t_dwell[-1] + self.t_accel[-1] + self.t_cruise[-1] + self.t_decel[-1]
        )

    def sample(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position (M, 2) mm, velocity (M, 2) mm/s and acceleration (M, 2) mm/s² at times ``t`` (M,) s."""
        t = np.asarray(t, dtype=np.float64)
        if self.t_start.size == 0:
            return np.zeros((t.size, 2)), np.zeros((t.size, 2)), np.zeros((t.size, 2))
        pos, vel, acc = (np.empty((t.size, 2)) for _ in range(3))
        blocks = self._blocks()
        # A few thousand samples at a time: every temporary stays in the CPU cache, which makes the
        # evaluation of a long print several times faster than one pass over million-element arrays.
        for lo in range(0, t.size, _SAMPLE_CHUNK):
            hi = min(lo + _SAMPLE_CHUNK, t.size)
            _sample_into(blocks, t[lo:hi], pos[lo:hi], vel[lo:hi], acc[lo:hi])
        return pos, vel, acc

    def _blocks(self) -> dict[str, np.ndarray]:
        """Per-block quantities :meth:`sample` needs (the same arithmetic as per sample, done once)."""
        a, v0, vc, ta, tc, td = (
            self.accel, self.v_entry, self.v_cruise, self.t_accel, self.t_cruise, self.t_decel
        )  # fmt: skip
        s_acc_end = v0 * ta + 0.5 * a * ta**2
        return {
            "t_start": self.t_start, "t_dwell": self.t_dwell, "ta": ta, "tc": tc, "td": td,
            "ta_tc": ta + tc, "ta_tc_td": ta + tc + td, "a": a, "half_a": 0.5 * a, "v0": v0, "vc": vc,
            "v_exit": self.v_exit, "s_acc_end": s_acc_end, "s_cru_end": s_acc_end + vc * tc,
            "length": self.length, "start": self.start, "unit": self.unit,
        }  # fmt: skip


_SAMPLE_CHUNK = 8192


def _sample_into(
    b: dict[str, np.ndarray], t: np.ndarray, pos: np.ndarray, vel: np.ndarray, acc: np.ndarray
) -> None:
    """:meth:`Plan.sample` for one chunk of times, written into ``pos``, ``vel``, ``acc`` (chunk, 2)."""
    n = b["t_start"].size
    i = np.clip(np.searchsorted(b["t_start"], t, side="right") - 1, 0, n - 1)
    tau = np.clip(t - b["t_start"][i] - b["t_dwell"][i], 0.0, None)
    a, half_a, v0, vc = b["a"][i], b["half_a"][i], b["v0"][i], b["vc"][i]
    ta, tc, td = b["ta"][i], b["tc"][i], b["td"][i]
    in_acc = tau < ta
    in_cru = ~in_acc & (tau < b["ta_tc"][i])
    in_dec = ~in_acc & ~in_cru & (tau < b["ta_tc_td"][i])
    tau_d = np.clip(tau - ta - tc, 0.0, td)
    s = np.where(
        in_acc,
        v0 * tau + half_a * tau**2,
        np.where(
            in_cru, b["s_acc_end"][i] + vc * (tau - ta), b["s_cru_end"][i] + vc * tau_d - half_a * tau_d**2
        ),
    )
    s = np.minimum(s, b["length"][i])
    speed = np.where(in_acc, v0 + a * tau, np.where(in_cru, vc, np.where(in_dec, vc - a * tau_d, 0.0)))
    at_end = ~in_acc & ~in_cru & ~in_dec
    speed = np.where(at_end, b["v_exit"][i], speed)
    along = np.where(in_acc, a, np.where(in_dec, -a, 0.0))
    u = b["unit"][i]
    np.add(b["start"][i], u * s[:, None], out=pos)
    np.multiply(u, speed[:, None], out=vel)
    np.multiply(u, along[:, None], out=acc)


def _limit_passes(v_max_entry: np.ndarray, accel: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Backward then forward pass: entry speeds (N + 1,) reachable both ways, zero at both ends."""
    n = length.size
    v = np.minimum(v_max_entry, np.inf)
    v[0] = 0.0
    v[n] = 0.0
    # Python floats: a recurrence is sequential, and floats step through it several times faster than
    # NumPy scalars (same IEEE operations, same results).
    w = v.tolist()
    two_ad = (2.0 * accel * length).tolist()
    sqrt = math.sqrt
    for i in range(n - 1, -1, -1):  # the head must be able to slow down to the next entry speed
        w[i] = min(w[i], sqrt(w[i + 1] ** 2 + two_ad[i]))
    for i in range(n):  # and to speed up from the previous one
        w[i + 1] = min(w[i + 1], sqrt(w[i] ** 2 + two_ad[i]))
    return np.asarray(w, dtype=np.float64)


def plan_moves(
    xy: np.ndarray,
    feed: np.ndarray,
    limits: MotionLimits,
    accel: np.ndarray | None = None,
    dwell: np.ndarray | None = None,
) -> Plan:
    """Plan the polyline ``xy`` (N + 1, 2) mm with per-segment ``feed`` (N,) mm/s.

    ``accel`` (N,) per segment in mm/s² (NaN → ``limits.accel``; capped by it); ``dwell`` (N,) seconds at
    rest before a segment. Segments with no XY length are stops (zero speed at both ends).
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0] - 1
    feed = np.minimum(np.asarray(feed, dtype=np.float64), limits.max_velocity)
    acc = np.full(n, limits.accel) if accel is None else np.asarray(accel, dtype=np.float64).copy()
    acc = np.where(np.isfinite(acc) & (acc > 0), np.minimum(acc, limits.accel), limits.accel)
    dwell = np.zeros(n) if dwell is None else np.asarray(dwell, dtype=np.float64)
    delta = np.diff(xy, axis=0)
    length = np.hypot(delta[:, 0], delta[:, 1])
    moving = length > 1e-9
    unit = np.where(moving[:, None], delta / np.where(moving, length, 1.0)[:, None], 0.0)

    v_max = np.full(n + 1, np.inf)
    v_max[1:n] = junction_speed(unit[:-1], unit[1:], np.minimum(acc[:-1], acc[1:]), limits.junction_deviation)
    v_max[1:n] = np.minimum(v_max[1:n], np.minimum(feed[:-1], feed[1:]))
    stop = ~moving | (dwell > 0)
    v_max[:n][stop] = 0.0  # no speed into a stop or a dwell
    v_max[1:][~moving] = 0.0
    if limits.lookahead > 0 and n > 0:
        # A full buffer of `lookahead` moves must always be able to stop at its end.
        window = np.concatenate([[0.0], np.cumsum(length)])
        ahead = window[np.minimum(np.arange(n) + limits.lookahead, n)] - window[:n]
        v_max[:n] = np.minimum(v_max[:n], np.sqrt(2.0 * acc * ahead))
    v = _limit_passes(v_max, acc, length)
    v0, v1 = v[:-1], v[1:]
    vc = np.minimum(feed, np.sqrt(np.maximum((2.0 * acc * length + v0**2 + v1**2) / 2.0, 0.0)))
    vc = np.maximum(vc, np.maximum(v0, v1))
    t_acc = (vc - v0) / acc
    t_dec = (vc - v1) / acc
    d_cruise = np.maximum(length - (vc**2 - v0**2) / (2 * acc) - (vc**2 - v1**2) / (2 * acc), 0.0)
    t_cru = np.where(vc > 0, d_cruise / np.where(vc > 0, vc, 1.0), 0.0)
    total = dwell + t_acc + t_cru + t_dec
    t_start = np.concatenate([[0.0], np.cumsum(total)[:-1]]) if n else np.zeros(0)
    return Plan(xy[:-1].copy(), unit, length, acc, v0, vc, v1, t_start, dwell, t_acc, t_cru, t_dec)


def sample_shaped(
    plan: Plan, t: np.ndarray, limits: MotionLimits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Commanded position, velocity, acceleration after the input shaper (shapes as :meth:`Plan.sample`)."""
    amps, delays = shaper_impulses(limits.shaper, limits.shaper_freq, limits.shaper_damping)
    t = np.asarray(t, dtype=np.float64)
    out = [np.zeros((t.size, 2)) for _ in range(3)]
    if plan.t_start.size == 0:
        return out[0], out[1], out[2]
    blocks = plan._blocks()
    part = [np.empty((min(t.size, _SAMPLE_CHUNK), 2)) for _ in range(3)]
    for lo in range(0, t.size, _SAMPLE_CHUNK):
        hi = min(lo + _SAMPLE_CHUNK, t.size)
        for amp, delay in zip(amps, delays, strict=True):
            parts = [p[: hi - lo] for p in part]
            _sample_into(blocks, t[lo:hi] - delay, *parts)
            for acc, piece in zip(out, parts, strict=True):
                acc[lo:hi] += amp * piece
    return out[0], out[1], out[2]
