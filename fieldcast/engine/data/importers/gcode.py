"""G-code files as a trajectory source: the toolpath is simulated on a printer and stored sample by sample.

The file is parsed (:func:`fieldcast.engine.systems.trajectory.gcode.iter_read_gcode`), planned and driven
through the axis dynamics of a :class:`~fieldcast.engine.systems.trajectory.Machine` (the reference desktop
printer unless one is given). The result is one trajectory of the ``trajectory`` system: every channel a
scalar field on a 1 × 1 grid, one frame per 100 Hz sample, so ``fieldcast import print.gcode --out traj.h5``
gives a dataset the trainer and the evaluator read like a generated one.

:func:`import_gcode` is the import as a job: it yields :class:`~fieldcast.engine.jobs.Progress` counted in
moves (``parse``, then ``simulate``, then ``write``), honours a cancel token between steps and writes the
file atomically, so a cancelled import leaves nothing behind.

Malformed G-code becomes a :class:`DatasetError` whose single line names the file and the source line.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from pathlib import Path

import numpy as np

from fieldcast.engine.data.importers.base import ImportReport, Source, run_import
from fieldcast.engine.data.store import DatasetError
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.limits import BudgetError
from fieldcast.engine.systems.base import SystemSpec
from fieldcast.engine.systems.trajectory import OUT_HZ, TRAJECTORY_SPEC, Machine
from fieldcast.engine.systems.trajectory.gcode import GCodeError, Toolpath, iter_read_gcode
from fieldcast.engine.systems.trajectory.spec import iter_simulate_toolpath

__all__ = [
    "GCODE_SUFFIXES",
    "GcodeSource",
    "gcode_error_to_dataset_error",
    "import_gcode",
    "iter_simulate_gcode",
    "looks_like_gcode",
]

#: file suffixes read as G-code (lower case, with the dot)
GCODE_SUFFIXES = (".gcode", ".gco", ".g")


def looks_like_gcode(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in GCODE_SUFFIXES


def gcode_error_to_dataset_error(path: str | os.PathLike, exc: GCodeError) -> DatasetError:
    """``PATH:LINE: problem`` as a :class:`DatasetError` reading ``PATH: line LINE: problem``."""
    text = str(exc)
    prefix = f"{path}:"
    if text.startswith(prefix):
        line, sep, problem = text[len(prefix) :].partition(": ")
        if sep and line.strip().isdigit():
            return DatasetError(path, problem if int(line) == 0 else f"line {int(line)}: {problem}")
    return DatasetError(path, text)


def _machine_parameters(machine: Machine) -> dict[str, float]:
    """The machine as flat numeric simulation parameters (the shaper kind as 0 none, 1 ZV, 2 MZV)."""
    lim = machine.limits
    params = {
        "out_hz": OUT_HZ,
        "accel": lim.accel,
        "max_velocity": lim.max_velocity,
        "junction_deviation": lim.junction_deviation,
        "lookahead": float(lim.lookahead),
        "shaper": float(("none", "zv", "mzv").index(lim.shaper)),
        "shaper_freq": lim.shaper_freq,
    }
    for name, axis in (("x", machine.x), ("y", machine.y)):
        params[f"{name}_mass"] = axis.mass
        params[f"{name}_stiffness"] = axis.stiffness
        params[f"{name}_damping"] = axis.damping
    return {k: float(v) for k, v in params.items()}


def iter_simulate_gcode(
    path: str | os.PathLike, machine: Machine, seed: int = 0, token: CancelToken | None = None
) -> Generator[Progress, None, tuple[Toolpath, dict[str, np.ndarray]]]:
    """Read ``path`` and simulate it on ``machine``: yields progress in moves, returns (toolpath, simulation).

    Raises :class:`DatasetError` (one line naming the file and the source line) for unreadable or malformed
    files and :class:`~fieldcast.engine.jobs.Cancelled` when ``token`` is set.
    """
    path = Path(path)
    # Each parse report is passed on when the next block is read, the last one once the toolpath proved
    # usable: a file that fails in its first block (every small bad file) reports nothing but its error.
    held = None
    try:
        job = iter_read_gcode(path, token=token)
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                toolpath = stop.value
                break
            if held is not None:
                yield held
            held = event
    except GCodeError as exc:
        raise gcode_error_to_dataset_error(path, exc) from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read ({exc.strerror or exc})") from None
    if not (toolpath.n_segments and toolpath.xy_lengths().sum() > 0):
        raise DatasetError(path, "G-code has no XY moves to simulate")
    if held is not None:
        yield held
    # Progress in moves whose execution has begun, every couple of minutes of print; cancel between them.
    try:
        sim = yield from iter_simulate_toolpath(
            toolpath, machine, rng=np.random.default_rng(seed), token=token
        )
    except BudgetError as exc:
        raise DatasetError(path, str(exc)) from None
    n = toolpath.n_segments
    yield Progress("simulate", n, n, f"{n:,} moves simulated: {sim['time'].size:,} samples")
    if token is not None:
        token.raise_if_cancelled()
    return toolpath, sim


def _result(job: Generator[Progress, None, tuple]) -> tuple:
    """Run a job to its end, dropping its progress, and return what it returns."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


class GcodeSource(Source):
    """One G-code file simulated on ``machine``; a single trajectory of the ``trajectory`` system.

    Parameters
    ----------
    path : the G-code file.
    machine : the printer to simulate (default: the reference machine, :class:`Machine` ``()``).
    seed : seed of the firmware effects' randomness (timer jitter), so an import is reproducible.
    simulated : the (toolpath, simulation) pair :func:`iter_simulate_gcode` returned for these arguments;
        without it the constructor reads and simulates the file itself. :meth:`load` does the same as a job.
    """

    format = "gcode"
    system = "trajectory"

    def __init__(
        self,
        path: str | os.PathLike,
        machine: Machine | None = None,
        seed: int = 0,
        simulated: tuple[Toolpath, dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.machine = machine or Machine()
        if simulated is None:
            simulated = _result(iter_simulate_gcode(self.path, self.machine, seed))
        self.toolpath: Toolpath = simulated[0]
        self._sim = simulated[1]
        self.channels = [f.name for f in TRAJECTORY_SPEC.fields]
        self.n_trajectories = 1
        self.n_frames = int(self._sim["time"].size)
        self.grid = (1, 1)
        self.dt = 1.0 / OUT_HZ
        self.parameters = _machine_parameters(self.machine)
        self.skipped = ("layer, line: per-sample bookkeeping of the simulation, not a field",)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        machine: Machine | None = None,
        seed: int = 0,
        token: CancelToken | None = None,
    ) -> Generator[Progress, None, GcodeSource]:
        """The constructor as a job: yields parse and simulation progress, returns the source."""
        machine = machine or Machine()
        simulated = yield from iter_simulate_gcode(path, machine, seed, token)
        return cls(path, machine, seed, simulated)

    def read_trajectory(self, index: int) -> dict[str, np.ndarray]:
        if index != 0:
            raise IndexError(f"{self.path} holds one trajectory, not {index + 1}")
        return {name: self._sim[name].astype(np.float32).reshape(-1, 1, 1) for name in self.channels}

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            flavour=self.toolpath.flavour or "unknown",
            segments=self.toolpath.n_segments,
            layers=self.toolpath.layer_count(),
            seconds=float(self._sim["time"][-1]) if self.n_frames else 0.0,
        )
        return out


def import_gcode(
    src: str | os.PathLike,
    out: str | os.PathLike,
    system: str | SystemSpec | None = None,
    mapping: Mapping[str, str] | None = None,
    *,
    dt: float | None = None,
    compression: str | None = "gzip",
    token: CancelToken | None = None,
    machine: Machine | None = None,
    seed: int = 0,
) -> Generator[Progress | ImportReport, None, None]:
    """Import the G-code file ``src`` into ``out`` like :func:`~fieldcast.engine.data.import_file`, as a job.

    Yields ``Progress`` in moves while the file is parsed and simulated, then while it is written, then one
    :class:`ImportReport`. ``token`` is honoured between steps; ``out`` appears only when the import finished
    (it is written under a temporary name and renamed), so a cancelled or failed import leaves no file.
    ``machine`` and ``seed`` choose the printer and its noise (default: the reference printer, seed 0).
    """
    source = yield from GcodeSource.load(src, machine, seed, token)
    if system is None:
        # The simulation speaks the trajectory system's channel names: take them as they are.
        system = source.system
        mapping = {name: name for name in source.channels} | dict(mapping or {})
    if dt is not None:
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        source.dt = float(dt)
    frames = source.n_frames
    yield Progress("write", 0, None, f"writing {frames:,} samples of {source.toolpath.n_segments:,} moves")
    for event in run_import(
        source, out, system=system, overrides=mapping, token=token, compression=compression
    ):
        if isinstance(event, Progress):
            # The file holds one trajectory: its one step is the whole write.
            event = Progress("write", frames, frames, f"{frames:,} samples written to {Path(out).name}")
        yield event
