"""The trajectory view's background work: read a G-code file, simulate it, predict it, as one generator.

:func:`trajectory_job` runs in a :class:`fieldcast.app.workers.JobWorker`; it yields :class:`Progress`
events and ends with exactly one :class:`TrajectoryResult` or :class:`TrajectoryFailed` (a problem of the
user's file or model, shown inline). Work already done (the parsed toolpath, a simulation on the same
machine) is passed back in, so changing only the model re-predicts without re-simulating.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.sequence_runtime import SequenceSession, is_sequence_model
from fieldcast.engine.systems.trajectory import TARGETS, Machine, simulate_toolpath
from fieldcast.engine.systems.trajectory.gcode import GCodeError, Toolpath, iter_read_gcode

__all__ = ["TrajectoryFailed", "TrajectoryResult", "find_sequence_models", "readouts", "trajectory_job"]


@dataclass(frozen=True)
class TrajectoryResult:
    """A simulated (and possibly predicted) toolpath, ready to show.

    ``sim`` holds the arrays of :func:`simulate_toolpath`; ``predicted`` is (T, 2) µm (error_x, error_y)
    or None without a model; ``step_ms`` the model's per-sample timing.
    """

    ticket: int
    path: Path
    toolpath: Toolpath
    machine: Machine
    sim: dict[str, np.ndarray]
    predicted: np.ndarray | None = None
    model: str = ""
    step_ms: dict[str, float] = field(default_factory=dict)

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
    """RMS and max |error| (µm) simulated and predicted, R² of the prediction, ms per sample."""
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
    return out


def _predict(session: SequenceSession, sim: dict[str, np.ndarray], token: CancelToken) -> np.ndarray:
    """The model's (T, 2) error_x, error_y for the simulation's reference motion; ValueError if it can't."""
    info = session.info
    lacking = [c for c in info.input_channels if c not in sim]
    if lacking or not set(TARGETS) <= set(info.output_channels):
        raise ValueError(
            f"{session.path.name} maps {', '.join(info.input_channels)} → {', '.join(info.output_channels)}; "
            f"a trajectory model maps x_ref, y_ref, vx_ref, vy_ref → {', '.join(TARGETS)}"
        )
    inputs = np.column_stack([sim[c] for c in info.input_channels])  # (T, C_in)
    out = session.predict(inputs, cancel=token)
    return np.column_stack([out[:, info.output_channels.index(c)] for c in TARGETS])


def trajectory_job(
    token: CancelToken,
    ticket: int,
    path: Path,
    machine: Machine,
    session: SequenceSession | None = None,
    toolpath: Toolpath | None = None,
    sim: dict[str, np.ndarray] | None = None,
) -> Iterator[Progress | TrajectoryResult | TrajectoryFailed]:
    """Read (unless ``toolpath``), simulate (unless ``sim``) and predict (with ``session``) ``path``."""
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
    moves = toolpath.n_segments
    if sim is None:
        yield Progress("simulate", 0, None, f"simulating {moves:,} moves")
        sim = simulate_toolpath(toolpath, machine, rng=np.random.default_rng(0))
        yield Progress("simulate", moves, moves, f"{moves:,} moves simulated")
    token.raise_if_cancelled()
    predicted, step_ms, name = None, {}, ""
    if session is not None:
        samples = int(sim["time"].size)
        yield Progress("predict", 0, None, f"predicting {samples:,} samples with {session.path.name}")
        try:
            predicted = _predict(session, sim, token)
        except ValueError as exc:
            yield TrajectoryFailed(ticket, str(exc))
            return
        step_ms, name = session.timing(), session.path.name
        yield Progress("predict", samples, samples, f"{samples:,} samples predicted")
    yield TrajectoryResult(ticket, path, toolpath, machine, sim, predicted, name, step_ms)


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
