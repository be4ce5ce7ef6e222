"""The trajectory view's background work: read a G-code file, simulate it, predict it, as one generator.

:func:`trajectory_job` runs in a :class:`fieldcast.app.workers.JobWorker`; it yields :class:`Progress`
events and ends with exactly one :class:`TrajectoryResult` or :class:`TrajectoryFailed` (a problem of the
user's file or model, shown inline). Work already done (the parsed toolpath, a simulation on the same
machine, an open model) is passed back in, so changing only the model re-predicts without re-simulating.

Beside the model's prediction the job runs the printer's physics filter (the printer's own dynamics run
from its profile, :class:`~fieldcast.engine.systems.trajectory.features.PhysicsFeatures`), the baseline
the model is judged against: :func:`readouts` gives R² per axis and MAE of both against the simulation.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.limits import BudgetError
from fieldcast.engine.runtime import ModelError
from fieldcast.engine.sequence_runtime import SequenceSession, is_sequence_model
from fieldcast.engine.systems.trajectory import INPUTS, OUT_HZ, PROFILE, TARGETS, Machine
from fieldcast.engine.systems.trajectory.baseline import error_metrics
from fieldcast.engine.systems.trajectory.features import PhysicsFeatures
from fieldcast.engine.systems.trajectory.gcode import GCodeError, Toolpath, iter_read_gcode
from fieldcast.engine.systems.trajectory.spec import iter_simulate_toolpath
from fieldcast.resources import resource_path

__all__ = [
    "TrajectoryFailed",
    "TrajectoryResult",
    "find_sequence_models",
    "physics_filter",
    "readouts",
    "shipped_model_path",
    "trajectory_job",
]

#: How often (seconds) the job reports how far a prediction has streamed.
_PREDICT_REPORT_S = 0.2


def shipped_model_path() -> Path | None:
    """The trajectory model that ships with Fieldcast, or None in a build without it."""
    path = resource_path("models", "trajectory_default.onnx")
    return path if path.is_file() else None


@dataclass(frozen=True)
class TrajectoryResult:
    """A simulated (and possibly predicted) toolpath, ready to show.

    ``sim`` holds the arrays of :func:`simulate_toolpath`; ``predicted`` is (T, 2) µm (error_x, error_y)
    or None without a model; ``physics`` the same from the printer's physics filter; ``step_ms`` the
    model's per-sample timing; ``session`` the model that predicted (opened by the job when it was given
    a path).
    """

    ticket: int
    path: Path
    toolpath: Toolpath
    machine: Machine
    sim: dict[str, np.ndarray]
    predicted: np.ndarray | None = None
    model: str = ""
    step_ms: dict[str, float] = field(default_factory=dict)
    physics: np.ndarray | None = None
    session: SequenceSession | None = None

    @property
    def simulated(self) -> np.ndarray:
        """(T, 2) simulated error in µm."""
        return np.column_stack([self.sim[name] for name in TARGETS])

    def printing(self) -> np.ndarray:
        """(T,) True for samples whose move extrudes (the others are travel)."""
        path = self.toolpath
        seg = np.clip(np.searchsorted(path.line, self.sim["line"], side="left"), 0, path.n_segments - 1)
        return path.extrude[seg]

    def layer_heights(self) -> dict[int, float]:
        """Height in mm of each layer (the most common Z of its segments)."""
        z = self.toolpath.xyz[1:, 2]
        out = {}
        for k in np.unique(self.toolpath.layer):
            values, counts = np.unique(np.round(z[self.toolpath.layer == k], 3), return_counts=True)
            out[int(k)] = float(values[np.argmax(counts)])
        return out


@dataclass(frozen=True)
class TrajectoryFailed:
    """The file or the model could not be used; ``message`` is one line for the user."""

    ticket: int
    message: str


def readouts(result: TrajectoryResult) -> dict[str, float]:
    """RMS and max |error| (µm) simulated and predicted; R² (overall ``r2``, per axis ``r2_x``, ``r2_y``)
    and MAE (``mae``, µm) of the prediction against the simulation, the same of the physics filter
    (``phys_r2``, ``phys_r2_x``, ``phys_r2_y``, ``phys_mae``); the model's ms per sample."""
    sim = result.simulated
    mag = np.hypot(sim[:, 0], sim[:, 1])
    out = {
        "rms_sim": float(np.sqrt(np.mean(mag**2))),
        "max_sim": float(mag.max()),
        "samples": float(len(mag)),
    }
    if result.predicted is not None:
        pred = result.predicted
        pmag = np.hypot(pred[:, 0], pred[:, 1])
        ss_res = float(np.sum((pred - sim) ** 2))
        ss_tot = float(np.sum((sim - sim.mean(axis=0)) ** 2))
        out.update(
            rms_pred=float(np.sqrt(np.mean(pmag**2))),
            max_pred=float(pmag.max()),
            r2=1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            ms_mean=result.step_ms.get("mean", float("nan")),
            ms_p99=result.step_ms.get("p99", float("nan")),
        )
        out.update(_scores("", pred, sim))
    if result.physics is not None:
        out.update(_scores("phys_", result.physics, sim))
    return out


def _scores(prefix: str, pred: np.ndarray, sim: np.ndarray) -> dict[str, float]:
    metrics = error_metrics(pred, sim)
    return {
        f"{prefix}r2": metrics["r2"],
        f"{prefix}r2_x": metrics["r2_x"],
        f"{prefix}r2_y": metrics["r2_y"],
        f"{prefix}mae": metrics["mae_um"],
    }


def physics_filter(sim: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 2) µm: the error the printer's physics filter gives for the simulation's reference motion."""
    names = (*INPUTS, *PROFILE)
    raw = np.column_stack([sim[c] for c in names])  # (T, 22)
    return PhysicsFeatures(names, 1.0 / OUT_HZ).transform(raw)[1]


class _CountingToken(CancelToken):
    """The job's cancel token as a streaming prediction sees it: it also counts the prediction's checks
    (one every 256 samples) and can be cancelled on its own when the job is abandoned."""

    def __init__(self, outer: CancelToken) -> None:
        super().__init__()
        self.outer = outer
        self.checks = 0

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self.outer.cancelled

    def raise_if_cancelled(self) -> None:
        self.checks += 1
        self.outer.raise_if_cancelled()
        super().raise_if_cancelled()


def _predict(session: SequenceSession, sim: dict[str, np.ndarray], token: CancelToken) -> Iterator[Progress]:
    """The model's (T, 2) error_x, error_y for the simulation's reference motion (the generator's return
    value; it yields the prediction's progress in samples); ValueError if the model does not fit."""
    info = session.info
    lacking = [c for c in info.input_channels if c not in sim]
    if lacking or not set(TARGETS) <= set(info.output_channels):
        raise ValueError(
            f"{session.path.name} maps {', '.join(info.input_channels)} → {', '.join(info.output_channels)}; "
            f"a trajectory model maps x_ref, y_ref, vx_ref, vy_ref → {', '.join(TARGETS)}"
        )
    inputs = np.column_stack([sim[c] for c in info.input_channels])  # (T, C_in)
    samples = inputs.shape[0]
    counter = _CountingToken(token)
    # The prediction streams in a helper thread so that this generator can report how far it got.
    with ThreadPoolExecutor(1, thread_name_prefix="trajectory-predict") as pool:
        future = pool.submit(session.predict, inputs, counter)
        try:
            while True:
                try:
                    out = future.result(timeout=_PREDICT_REPORT_S)
                    break
                except TimeoutError:
                    done = min(samples, counter.checks * 256)
                    yield Progress("predict", done, samples, f"predicting with {session.path.name}")
        finally:
            counter.cancel()  # an abandoned job stops its prediction at the next check
    return np.column_stack([out[:, info.output_channels.index(c)] for c in TARGETS])


def trajectory_job(
    token: CancelToken,
    ticket: int,
    path: Path,
    machine: Machine,
    model: SequenceSession | Path | None = None,
    toolpath: Toolpath | None = None,
    sim: dict[str, np.ndarray] | None = None,
) -> Iterator[Progress | TrajectoryResult | TrajectoryFailed]:
    """Read (unless ``toolpath``), simulate (unless ``sim``) and predict ``path`` with ``model`` (an open
    session, or a model file the job opens)."""
    if toolpath is None:
        yield Progress("parse", 0, None, f"reading {path.name}")
        try:
            toolpath = yield from iter_read_gcode(path, token=token)
        except GCodeError as exc:
            yield TrajectoryFailed(ticket, str(exc))
            return
        except OSError as exc:
            yield TrajectoryFailed(ticket, f"{path}: cannot read ({exc.strerror or exc})")
            return
        if not (toolpath.n_segments and toolpath.xy_lengths().sum() > 0):
            yield TrajectoryFailed(ticket, f"{path}: no XY moves to simulate")
            return
    token.raise_if_cancelled()
    if sim is None:
        try:
            sim = yield from iter_simulate_toolpath(
                toolpath, machine, rng=np.random.default_rng(0), token=token
            )
        except BudgetError as exc:  # hours of dwells or a feed of almost nothing: refused before allocating
            yield TrajectoryFailed(ticket, f"{path}: {exc}")
            return
    token.raise_if_cancelled()
    samples = int(sim["time"].size)
    yield Progress("physics", 0, None, "running the printer's physics filter")
    physics = physics_filter(sim)
    token.raise_if_cancelled()
    session = model if isinstance(model, SequenceSession) else None
    if model is not None and session is None:
        yield Progress("predict", 0, None, f"opening {Path(model).name}")
        try:
            session = SequenceSession(model)
        except ModelError as exc:
            yield TrajectoryFailed(ticket, str(exc))
            return
    predicted, step_ms, name = None, {}, ""
    if session is not None:
        yield Progress("predict", 0, samples, f"predicting with {session.path.name}")
        try:
            predicted = yield from _predict(session, sim, token)
        except ValueError as exc:
            yield TrajectoryFailed(ticket, str(exc))
            return
        step_ms, name = session.timing(), session.path.name
        yield Progress("predict", samples, samples, f"{samples:,} samples predicted")
    yield TrajectoryResult(
        ticket, path, toolpath, machine, sim, predicted, name, step_ms, physics=physics, session=session
    )


def find_sequence_models(token: CancelToken, root: Path) -> Iterator[list[Path]]:
    """Yield once: the sequence-format ``.onnx`` files anywhere under ``root``, newest first."""
    found = []
    if root.is_dir():
        for candidate in root.rglob("*.onnx"):
            token.raise_if_cancelled()
            if (
                ".fp16" not in candidate.name
                and ".int8" not in candidate.name
                and is_sequence_model(candidate)
            ):
                found.append(candidate)
    yield sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
