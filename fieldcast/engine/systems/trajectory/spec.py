"""The ``trajectory`` system: where a 3D printer deviates from its G-code path.

A toolpath (parsed G-code or a parametric one) goes through a firmware-style planner
(:mod:`.planner`), optionally an input shaper, and drives two belt-compliant axes
(:mod:`.dynamics`). The result is sampled at ``out_hz`` (100 Hz by default) from an internal
``rate_hz`` (1 kHz) simulation: the reference motion ``(x_ref, y_ref, vx_ref, vy_ref)`` of the unshaped plan,
the actual carriage positions and the tracking error ``actual − reference`` in micrometres, and the printer
profile (:data:`PROFILE`: the machine's parameters, constant along a trajectory) as conditioning channels, so
a model can serve many printers and G-code import and Play can say which printer they simulate.

Storage: a sequence system has no spatial grid, so each channel is a scalar field on a 1 × 1 grid and a
dataset frame is one time sample (arrays ``(T, 1, 1)``, The Well layout unchanged).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.limits import BudgetError, check_budget
from fieldcast.engine.systems.base import FieldSpec, SystemSpec, register_spec
from fieldcast.engine.systems.trajectory.dynamics import AxisParams, AxisSimulator
from fieldcast.engine.systems.trajectory.gcode import Toolpath, read_gcode
from fieldcast.engine.systems.trajectory.paths import FEATURES, random_toolpath
from fieldcast.engine.systems.trajectory.planner import MotionLimits, Plan, plan_moves, sample_shaped

__all__ = [
    "INPUTS",
    "OUT_HZ",
    "PROFILE",
    "PROFILE_FIELDS",
    "SHAPERS",
    "TARGETS",
    "TRAJECTORY_SPEC",
    "AxisParams",
    "Machine",
    "MotionLimits",
    "check_options",
    "iter_simulate_toolpath",
    "iter_write_dataset",
    "sample_machine",
    "simulate_toolpath",
    "simulate_trajectory",
    "writer_options",
]

INPUTS = ("x_ref", "y_ref", "vx_ref", "vy_ref")
TARGETS = ("error_x", "error_y")
OUT_HZ = 100.0
SHAPERS = ("none", "zv", "mzv")  # the ``shaper`` profile channel holds the index into this tuple
#: The printer profile: the machine's parameters as constant per-trajectory conditioning channels, so a model
#: can tell printers apart. (name, units, description); ``_x``/``_y`` are per axis.
PROFILE_FIELDS = (
    *(
        (f"{q}_{a}", units, f"{a.upper()} axis {text}")
        for a in ("x", "y")
        for q, units, text in (
            ("mass", "kg", "moving mass"),
            ("stiffness", "N/m", "belt stiffness"),
            ("damping", "N*s/m", "belt damping"),
            ("friction", "N", "Coulomb friction"),
            ("backlash", "mm", "backlash (total play)"),
            ("step", "mm", "microstep size (0 = no quantisation)"),
            ("jitter", "s", "step timing jitter (standard deviation)"),
        )
    ),
    ("accel", "mm/s^2", "planner acceleration"),
    ("junction_deviation", "mm", "planner junction deviation"),
    ("shaper", "", "input shaper: 0 none, 1 ZV, 2 MZV"),
    ("shaper_freq", "Hz", "input shaper frequency"),
)
PROFILE = tuple(name for name, _, _ in PROFILE_FIELDS)

TRAJECTORY_SPEC = register_spec(
    SystemSpec(
        name="trajectory",
        fields=(
            FieldSpec("x_ref", "control", units="mm", description="planned (reference) X position"),
            FieldSpec("y_ref", "control", units="mm", description="planned (reference) Y position"),
            FieldSpec("vx_ref", "control", units="mm/s", description="planned X velocity"),
            FieldSpec("vy_ref", "control", units="mm/s", description="planned Y velocity"),
            FieldSpec(
                "error_x", "state", units="um", colormap="coolwarm", description="actual − reference X"
            ),
            FieldSpec(
                "error_y", "state", units="um", colormap="coolwarm", description="actual − reference Y"
            ),
            FieldSpec("x_act", "conditioning", units="mm", description="simulated carriage X position"),
            FieldSpec("y_act", "conditioning", units="mm", description="simulated carriage Y position"),
            *(FieldSpec(n, "conditioning", units=u, description=d) for n, u, d in PROFILE_FIELDS),
        ),
        history=1,
        dt=1.0 / OUT_HZ,
        time_units="s",
        kind="sequence",
        description="3D-printer motion: planner + belt dynamics → tracking error (one sample per frame)",
        metrics=("mae_um", "rmse_um", "r2"),
        extra={
            "inputs": list(INPUTS),
            "targets": list(TARGETS),
            "profile": list(PROFILE),
            "grid": "1x1 per sample",
        },
    )
)


@dataclass(frozen=True)
class Machine:
    """Everything about the printer that shapes its tracking error."""

    limits: MotionLimits = field(default_factory=MotionLimits)
    x: AxisParams = field(default_factory=lambda: AxisParams(mass=0.35))
    y: AxisParams = field(default_factory=lambda: AxisParams(mass=0.45))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def profile(self) -> dict[str, float]:
        """The printer profile: one float per :data:`PROFILE` channel (SI-ish units as the spec lists)."""
        out: dict[str, float] = {}
        for a, axis in (("x", self.x), ("y", self.y)):
            for q in ("mass", "stiffness", "damping", "friction", "backlash", "step", "jitter"):
                out[f"{q}_{a}"] = float(getattr(axis, q))
        lim = self.limits
        out.update(
            accel=float(lim.accel),
            junction_deviation=float(lim.junction_deviation),
            shaper=float(SHAPERS.index(lim.shaper)),
            shaper_freq=float(lim.shaper_freq),
        )
        return out

    @classmethod
    def from_profile(cls, profile: dict[str, float], base: Machine | None = None) -> Machine:
        """The machine a profile describes; values it lacks come from ``base`` (default ``Machine()``)."""
        base = base or cls()
        axes = []
        for a, axis in (("x", base.x), ("y", base.y)):
            fields = {q: float(profile.get(f"{q}_{a}", getattr(axis, q))) for q in asdict(axis)}
            axes.append(AxisParams(**fields))
        shaper = profile.get("shaper", SHAPERS.index(base.limits.shaper))
        limits = replace(
            base.limits,
            accel=float(profile.get("accel", base.limits.accel)),
            junction_deviation=float(profile.get("junction_deviation", base.limits.junction_deviation)),
            shaper=SHAPERS[int(round(float(shaper)))],
            shaper_freq=float(profile.get("shaper_freq", base.limits.shaper_freq)),
        )
        return cls(limits, axes[0], axes[1])


def sample_machine(
    rng: np.random.Generator, firmware_effects: bool = True, shaper: str = "random"
) -> Machine:
    """A random desktop printer around the reference machine (a = 500 mm/s², JD = 0.013 mm, ≈ 24 Hz)."""
    accel = float(math.exp(rng.uniform(math.log(300.0), math.log(2000.0))))
    jd = float(rng.uniform(0.005, 0.05))
    axes = []
    for mass in (0.35, 0.45):
        axes.append(
            AxisParams(
                mass=mass * float(rng.uniform(0.85, 1.15)),
                stiffness=float(rng.uniform(6500.0, 9500.0)),
                damping=float(rng.uniform(10.0, 20.0)),
                friction=float(rng.uniform(0.0, 0.25)) if firmware_effects else 0.0,
                backlash=float(rng.uniform(0.0, 0.015)) if firmware_effects else 0.0,
                step=float(rng.choice([0.0125, 0.00625, 0.0])) if firmware_effects else 0.0,
                jitter=float(rng.uniform(0.0, 30e-6)) if firmware_effects else 0.0,
            )
        )
    if shaper == "random":
        shaper = str(rng.choice(["none", "none", "zv", "mzv"]))
    freq = axes[0].omega_n / (2 * math.pi) * float(rng.uniform(0.9, 1.1))
    limits = MotionLimits(accel=accel, junction_deviation=jd, shaper=shaper, shaper_freq=freq)
    return Machine(limits, axes[0], axes[1])


#: samples of the 1 kHz simulation per stretch of :func:`iter_simulate_toolpath` (about two minutes of print)
SIM_CHUNK = 131_072


# Memory per simulated sample at the simulation rate: its time, both axes' timer jitter and the output
# channels at the output rate (a tenth as many), with margin for the written dataset.
SIM_BYTES_PER_SAMPLE = 96


def check_simulation_budget(duration_s: float, rate_hz: float) -> None:
    """Raise :class:`~fieldcast.engine.limits.BudgetError` when simulating ``duration_s`` seconds of motion
    at ``rate_hz`` would not fit the memory budget (the arrays are sized from the plan's duration)."""
    if not math.isfinite(duration_s):
        raise BudgetError(f"the toolpath's duration is not finite ({duration_s})")
    samples = duration_s * rate_hz
    hours = duration_s / 3600.0
    check_budget(
        samples * SIM_BYTES_PER_SAMPLE,
        f"the toolpath lasts {hours:,.1f} h (slow feeds or long dwells?); simulating it at {rate_hz:g} Hz",
    )


def iter_simulate_toolpath(
    path: Toolpath,
    machine: Machine,
    rate_hz: float = 1000.0,
    out_hz: float = OUT_HZ,
    rng: np.random.Generator | None = None,
    settle_s: float = 0.2,
    token: CancelToken | None = None,
    chunk: int = SIM_CHUNK,
) -> Generator[Progress, None, dict[str, np.ndarray]]:
    """:func:`simulate_toolpath` as a job: yields ``Progress("simulate", done, moves)``, returns its arrays.

    The plan is sampled and the axes driven in stretches of about ``chunk`` samples at ``rate_hz``; after
    each stretch the moves whose execution has begun are reported, and ``token`` is checked before each one
    (:class:`~fieldcast.engine.jobs.Cancelled`). The result does not depend on ``chunk``.
    """
    decim = round(rate_hz / out_hz)
    if decim < 1 or abs(decim * out_hz - rate_hz) > 1e-6 * rate_hz:
        raise ValueError(f"rate_hz {rate_hz:g} must be a whole multiple of out_hz {out_hz:g}")
    token = token or CancelToken()
    n_moves = path.n_segments
    yield Progress("simulate", 0, n_moves, f"simulating {n_moves:,} moves on the printer")
    xy = path.xyz[:, :2]
    lengths = path.xy_lengths()
    dz = np.abs(np.diff(path.xyz[:, 2]))
    # Moves without XY motion (Z hops, layer changes) keep XY still for as long as they take.
    dwell = path.dwell + np.where(lengths < 1e-9, dz / np.maximum(path.feed, 1e-3), 0.0)
    plan = plan_moves(xy, path.feed, machine.limits, accel=path.accel, dwell=dwell)
    check_simulation_budget(plan.duration + settle_s, rate_hz)
    dt = 1.0 / rate_hz
    t = np.arange(0.0, plan.duration + settle_s, dt)
    # The timer jitter of both axes is drawn here, X then Y, whatever the stretches.
    axes = [AxisSimulator(axis, dt, t.size, rng) for axis in (machine.x, machine.y)]
    out: dict[str, np.ndarray] = {"time": t[::decim]}
    for key in ("x_ref", "y_ref", "vx_ref", "vy_ref", "x_act", "y_act", "error_x", "error_y"):
        out[key] = np.empty(out["time"].size)
    step = max(1, chunk // decim) * decim  # stretches start on output samples
    for lo in range(0, t.size, step):
        token.raise_if_cancelled()
        hi = min(lo + step, t.size)
        _simulate_stretch(plan, machine.limits, axes, t[lo:hi], dt, decim, out, lo // decim)
        done = (
            n_moves if hi == t.size else min(int(np.searchsorted(plan.t_start, t[hi - 1], "right")), n_moves)
        )
        yield Progress("simulate", done, n_moves, f"{done:,} of {n_moves:,} moves simulated")
    seg = np.clip(np.searchsorted(plan.t_start, out["time"], side="right") - 1, 0, max(n_moves - 1, 0))
    out["layer"] = path.layer[seg] if n_moves else np.zeros(seg.size, np.int64)
    out["line"] = path.line[seg] if n_moves else np.zeros(seg.size, np.int64)
    for name, value in machine.profile().items():
        out[name] = np.full(seg.size, value)
    return out


def _simulate_stretch(
    plan: Plan,
    limits: MotionLimits,
    axes: list[AxisSimulator],
    t: np.ndarray,
    dt: float,
    decim: int,
    out: dict[str, np.ndarray],
    at: int,
) -> None:
    """Sample the plan at times ``t``, drive the axes over them and write the output samples from ``at``."""
    ref_p, ref_v, _ = plan.sample(t)
    if limits.shaper == "none":
        # The shaper of one unit impulse at zero delay commands the plan itself: sample it once.
        cmd_p, cmd_v = ref_p, ref_v
        cmd_v_next = plan.sample(t + dt)[1]
    else:
        cmd_p, cmd_v, _ = sample_shaped(plan, t, limits)
        cmd_v_next = sample_shaped(plan, t + dt, limits)[1]
    rows = slice(at, at + len(range(0, t.size, decim)))
    for k, (sim, name) in enumerate(zip(axes, ("x", "y"), strict=True)):
        mean_acc = (cmd_v_next[:, k] - cmd_v[:, k]) / dt  # exact mean of a piecewise-constant acceleration
        e = sim.advance(cmd_p[:, k], cmd_v[:, k], mean_acc)
        actual = cmd_p[::decim, k] + e[::decim]
        out[f"{name}_ref"][rows] = ref_p[::decim, k]
        out[f"v{name}_ref"][rows] = ref_v[::decim, k]
        out[f"{name}_act"][rows] = actual
        out[f"error_{name}"][rows] = (actual - ref_p[::decim, k]) * 1000.0


def simulate_toolpath(
    path: Toolpath,
    machine: Machine,
    rate_hz: float = 1000.0,
    out_hz: float = OUT_HZ,
    rng: np.random.Generator | None = None,
    settle_s: float = 0.2,
) -> dict[str, np.ndarray]:
    """Plan and simulate ``path``; returns 1D float64 arrays at ``out_hz``.

    Keys: ``time`` (s), ``x_ref``, ``y_ref`` (mm), ``vx_ref``, ``vy_ref`` (mm/s), ``x_act``, ``y_act`` (mm),
    ``error_x``, ``error_y`` (µm), ``layer`` (segment being executed), ``line`` (its source line), and the
    machine's profile (:data:`PROFILE`) as constant arrays. :func:`iter_simulate_toolpath` is the same as a
    job with progress and cancel.
    """
    job = iter_simulate_toolpath(path, machine, rate_hz, out_hz, rng, settle_s)
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def _gcode_window(files: Sequence[str], rng: np.random.Generator, seconds: float) -> Toolpath:
    """A random stretch of a random G-code file, about ``seconds`` long at the requested feeds."""
    path = read_gcode(files[int(rng.integers(len(files)))])
    if path.n_segments == 0:
        raise ValueError(f"{path.source}: no moves")
    est = np.cumsum(path.xy_lengths() / np.maximum(path.feed, 1e-3))
    start = int(rng.integers(0, max(1, int(np.searchsorted(est, max(est[-1] - seconds, 0.0))))))
    stop = int(min(path.n_segments, np.searchsorted(est, est[start] + seconds * 1.5) + 1))
    sl = slice(start, stop)
    return Toolpath(
        path.xyz[start : stop + 1], path.feed[sl], path.accel[sl], path.extrude[sl], path.rapid[sl],
        path.dwell[sl], path.layer[sl], path.line[sl], path.settings, path.flavour, path.source,
    )  # fmt: skip


def simulate_trajectory(
    seed: Any,
    frames: int,
    size: int = 1,
    *,
    gcode: str | Sequence[str] | None = None,
    gcode_fraction: float = 0.5,
    firmware_effects: bool = True,
    shaper: str = "random",
    features: Sequence[str] | None = None,
    rate_hz: float = 1000.0,
) -> dict[str, np.ndarray]:
    """One generated trajectory of ``frames`` samples at 100 Hz, as ``(frames, 1, 1)`` float32 fields.

    ``size`` is ignored (sequences have no grid; the generator's argument is kept for its interface). A
    random machine is drawn; the toolpath is a stretch of one of the ``gcode`` files with probability
    ``gcode_fraction`` (when files are given), otherwise a chain of parametric ``features``.
    """
    rng = np.random.default_rng(seed)
    machine = sample_machine(rng, firmware_effects=firmware_effects, shaper=shaper)
    seconds = frames / OUT_HZ + 1.0
    files = [gcode] if isinstance(gcode, (str, os.PathLike)) else list(gcode or [])
    if files and rng.random() < gcode_fraction:
        path = _gcode_window(files, rng, seconds)
    else:
        path = random_toolpath(rng, seconds, features=tuple(features or FEATURES))
    sim = simulate_toolpath(path, machine, rate_hz=rate_hz, rng=rng)
    n = sim["time"].size
    out = {}
    for name in (f.name for f in TRAJECTORY_SPEC.fields):
        a = sim[name][:frames]
        if n < frames:  # a short file: the machine stands still at its last position
            still = name in ("vx_ref", "vy_ref", "error_x", "error_y")
            a = np.concatenate([a, np.full(frames - n, 0.0 if still else a[-1])])
        out[name] = a.astype(np.float32).reshape(frames, 1, 1)
    return out


def check_options(**options: Any) -> None:
    """Raise TypeError for an unknown option, ValueError for a bad value."""
    known = set(inspect.signature(simulate_trajectory).parameters) - {"seed", "frames", "size"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if options.get("shaper", "random") not in ("random", "none", "zv", "mzv"):
        raise ValueError("shaper must be random, none, zv or mzv")
    bad = sorted(set(options.get("features") or ()) - set(FEATURES))
    if bad:
        raise ValueError(f"unknown feature(s) {bad}; known: {sorted(FEATURES)}")
    gcode = options.get("gcode")
    for f in [gcode] if isinstance(gcode, str) else list(gcode or []):
        if not os.path.isfile(f):
            raise ValueError(f"G-code file {f} does not exist")
    if not 0.0 <= float(options.get("gcode_fraction", 0.5)) <= 1.0:
        raise ValueError("gcode_fraction must be between 0 and 1")


def writer_options(frames: int, size: int = 1, **options: Any) -> dict[str, Any]:
    """Dataset-writer arguments: a 1 × 1 grid of time samples, generator settings as metadata."""
    generator = {"solver": "fieldcast trajectory (planner + mass-spring-damper axes)", "out_hz": OUT_HZ}
    generator.update({k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in options.items()})
    return {
        "grid": (1, 1),
        "simulation_parameters": {"out_hz": OUT_HZ, "rate_hz": float(options.get("rate_hz", 1000.0))},
        "extent": (1.0, 1.0),
        "extra_meta": {"generator": generator},
    }


def iter_write_dataset(
    out: str | os.PathLike,
    trajectories: int,
    frames: int,
    seed: int = 0,
    cancel: CancelToken | None = None,
    **options: Any,
) -> Iterator[Progress]:
    """Generate ``trajectories`` sequences into ``out`` in this process (same seeding as the generator)."""
    from fieldcast.engine.data import DatasetWriter

    check_options(**options)
    cancel = cancel or CancelToken()
    kwargs = writer_options(frames, **options)
    grid = kwargs.pop("grid")
    seeds = np.random.SeedSequence(seed).spawn(trajectories)
    yield Progress("generate", 0, trajectories, f"trajectory: {trajectories} × {frames} samples")
    with DatasetWriter(
        out, TRAJECTORY_SPEC, n_frames=frames, grid=grid, dt=TRAJECTORY_SPEC.dt, **kwargs
    ) as w:
        for i, s in enumerate(seeds):
            cancel.raise_if_cancelled()
            w.append(simulate_trajectory(s, frames, **options))
            yield Progress("generate", i + 1, trajectories, f"trajectory {i + 1} written")
