"""G-code files as a trajectory source: the toolpath is simulated on a printer and stored sample by sample.

The file is parsed (:func:`fieldcast.engine.systems.trajectory.gcode.read_gcode`), planned and driven
through the axis dynamics of a :class:`~fieldcast.engine.systems.trajectory.Machine` (the reference desktop
printer unless one is given). The result is one trajectory of the ``trajectory`` system: every channel a
scalar field on a 1 × 1 grid, one frame per 100 Hz sample, so ``fieldcast import print.gcode --out traj.h5``
gives a dataset the trainer and the evaluator read like a generated one.

Malformed G-code becomes a :class:`DatasetError` whose single line names the file and the source line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fieldcast.engine.data.importers.base import Source
from fieldcast.engine.data.store import DatasetError
from fieldcast.engine.systems.trajectory import OUT_HZ, TRAJECTORY_SPEC, Machine, simulate_toolpath
from fieldcast.engine.systems.trajectory.gcode import GCodeError, Toolpath, read_gcode

__all__ = ["GCODE_SUFFIXES", "GcodeSource", "gcode_error_to_dataset_error", "looks_like_gcode"]

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


class GcodeSource(Source):
    """One G-code file simulated on ``machine``; a single trajectory of the ``trajectory`` system.

    Parameters
    ----------
    path : the G-code file.
    machine : the printer to simulate (default: the reference machine, :class:`Machine` ``()``).
    seed : seed of the firmware effects' randomness (timer jitter), so an import is reproducible.
    """

    format = "gcode"
    system = "trajectory"

    def __init__(self, path: str | os.PathLike, machine: Machine | None = None, seed: int = 0) -> None:
        self.path = Path(path)
        self.machine = machine or Machine()
        try:
            self.toolpath: Toolpath = read_gcode(self.path)
        except GCodeError as exc:
            raise gcode_error_to_dataset_error(self.path, exc) from None
        except OSError as exc:
            raise DatasetError(self.path, f"cannot read ({exc.strerror or exc})") from None
        if not (self.toolpath.n_segments and self.toolpath.xy_lengths().sum() > 0):
            raise DatasetError(self.path, "G-code has no XY moves to simulate")
        self._sim = simulate_toolpath(self.toolpath, self.machine, rng=np.random.default_rng(seed))
        self.channels = [f.name for f in TRAJECTORY_SPEC.fields]
        self.n_trajectories = 1
        self.n_frames = int(self._sim["time"].size)
        self.grid = (1, 1)
        self.dt = 1.0 / OUT_HZ
        self.parameters = _machine_parameters(self.machine)
        self.skipped = ("layer, line: per-sample bookkeeping of the simulation, not a field",)

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
