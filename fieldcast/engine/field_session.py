"""Interactive stepping of any exported field model: a start, painted controls, one frame at a time.

:class:`FieldPlay` is what Play's generic field page drives for a model of any system, built in or not
(``generic:...`` systems carry their spec in the model). It knows the model only through its layout: the
state channels it predicts, the control channels it reads, the history it sees. A start is a dataset frame
(:func:`dataset_start`) or zeros (:func:`zero_start`); the user's controls live in a :class:`ControlPaint`
that the GUI thread paints while the stepping thread takes a copy at every step, so painting never waits for
inference. The model's output is kept as it is, except for the rule its layout states (vector channels
zeroed inside the solid control, ``nonnegative`` channels clamped at 0). Arrays are ``(nx, ny)`` float32,
x first and y up, in the units of the model's channels; coordinates and radii are grid cells.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.rollout import Rollout
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.base import FieldSpec, SystemSpec

__all__ = [
    "DEFAULT_GRID",
    "ControlPaint",
    "FieldFrame",
    "FieldPlay",
    "StartState",
    "channel_colormaps",
    "data_path_of",
    "dataset_start",
    "field_play_problem",
    "first_start",
    "zero_start",
]

#: grid of a zero start for a model that does not say which grid it was trained on
DEFAULT_GRID = (64, 64)


def field_play_problem(info: ModelInfo) -> str | None:
    """None when the generic field page can step a model, else why not (one line)."""
    spec = info.spec or {}
    kind = spec.get("kind", "rollout")
    if kind != "rollout":
        return f"a {kind} model of system {info.system!r}; Play steps field models (kind rollout) only"
    if int(spec.get("n_dims", 2)) != 2:
        return f"a {spec.get('n_dims')}-D model; Play shows 2-D fields"
    if not info.layout.get("state"):
        return "the model predicts no state channel"
    return None


@dataclass(frozen=True)
class StartState:
    """Where a rollout starts: the state, the controls at that frame and the frames before it.

    Attributes
    ----------
    state : state channel -> (nx, ny).
    controls : control channel -> (nx, ny) (zeros where the source has none).
    earlier : the history channels of the frames before, newest first (empty: repeat ``state``).
    source : one line saying where it comes from, for the user.
    """

    state: dict[str, np.ndarray]
    controls: dict[str, np.ndarray]
    earlier: tuple[dict[str, np.ndarray], ...] = ()
    source: str = "zeros"

    @property
    def grid(self) -> tuple[int, int]:
        return next(iter(self.state.values())).shape[:2]


def _zero_grid(info: ModelInfo) -> tuple[int, int]:
    if info.grid:
        return int(info.grid[0]), int(info.grid[1])
    return DEFAULT_GRID


def zero_start(info: ModelInfo, grid: tuple[int, int] | None = None) -> StartState:
    """Every state and control channel zero, on ``grid`` (default the model's training grid)."""
    nx, ny = grid or _zero_grid(info)
    state = {n: np.zeros((nx, ny), np.float32) for n in info.layout["state"]}
    controls = {n: np.zeros((nx, ny), np.float32) for n in info.layout["controls"]}
    return StartState(state, controls, (), f"zeros, {nx} × {ny}")


def data_path_of(info: ModelInfo, model_path: str | os.PathLike | None = None) -> Path | None:
    """The dataset the model was trained on when that file exists here (provenance ``data_path``, as
    written or beside the model), else None."""
    recorded = (info.provenance or {}).get("data_path")
    if not recorded or not isinstance(recorded, str):
        return None
    candidates = [Path(recorded)]
    if model_path is not None:
        candidates.append(Path(model_path).parent / Path(recorded).name)
    return next((p for p in candidates if p.is_file()), None)


def dataset_start(
    path: str | os.PathLike, info: ModelInfo, trajectory: int = 0, frame: int = 0
) -> StartState:
    """The state and controls of frame ``frame`` of trajectory ``trajectory`` of a dataset file.

    The frames before it fill the model's history (the first frame repeats where there are none); control
    channels the file does not have start at zero. Raises ValueError naming the file when it is unreadable
    (:class:`~fieldcast.engine.data.DatasetError`), lacks a state channel of the model, has no such frame, or
    has a grid the model cannot run on.
    """
    from fieldcast.engine.data import open_dataset

    path = Path(path)
    with open_dataset(path) as ds:
        have = set(ds.channel_names)
        missing = [n for n in info.layout["state"] if n not in have]
        if missing:
            raise ValueError(
                f"{path}: no channel {', '.join(repr(m) for m in missing)} of the model's state "
                f"(the file has {', '.join(ds.channel_names)})"
            )
        if not 0 <= trajectory < ds.n_trajectories:
            raise ValueError(f"{path}: no trajectory {trajectory} (it has {ds.n_trajectories})")
        if not 0 <= frame < ds.n_frames:
            raise ValueError(f"{path}: no frame {frame} (trajectories have {ds.n_frames} frames)")
        problem = info.check_grid(*ds.grid)
        if problem:
            raise ValueError(f"{path}: the model cannot run on the file's grid ({problem})")
        state = {n: ds.read_frame(trajectory, frame, n) for n in info.layout["state"]}
        nx, ny = ds.grid
        controls = {
            n: ds.read_frame(trajectory, frame, n) if n in have else np.zeros((nx, ny), np.float32)
            for n in info.layout["controls"]
        }
        earlier = tuple(
            {n: ds.read_frame(trajectory, max(frame - lag, 0), n) for n in info.layout["history_state"]}
            for lag in range(1, info.history)
        )
        source = f"{path.name}, trajectory {trajectory}, frame {frame}"
    return StartState(state, controls, earlier, source)


def first_start(
    info: ModelInfo, model_path: str | os.PathLike | None = None
) -> tuple[StartState, Path | None, str | None]:
    """Where a model starts when it is opened: ``(start, dataset, note)``.

    The first frame of the file it was trained on when that file is here and fits (``dataset`` is that
    file), else zeros (``dataset`` None, and ``note`` says why the file was not used when there is one).
    """
    data = data_path_of(info, model_path)
    if data is None:
        return zero_start(info), None, None
    try:
        return dataset_start(data, info), data, None
    except (OSError, ValueError) as exc:
        return zero_start(info), None, f"Starting from zeros: {exc}"


def channel_colormaps(info: ModelInfo) -> dict[str, str]:
    """Channel -> the colour map its system's spec gives it (empty for a model without a known spec)."""
    try:
        spec = info.system_spec()
    except (KeyError, ValueError):
        return {}
    return {c.name: spec.field(c.field).colormap for c in spec.channels()}


class ControlPaint:
    """The control channels the user paints, shared between the GUI thread and the stepping thread.

    Parameters
    ----------
    names : control channels, in the model's order.
    nx, ny : grid, cells.
    """

    def __init__(self, names: list[str], nx: int, ny: int) -> None:
        self.names = list(names)
        self.nx, self.ny = nx, ny
        self._lock = threading.Lock()
        self._x, self._y = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5, indexing="ij")
        self._planes = {n: np.zeros((nx, ny), np.float32) for n in self.names}
        self._version = 0

    def load(self, planes: dict[str, np.ndarray]) -> None:
        """Replace every control by ``planes`` (a missing one becomes zero)."""
        with self._lock:
            for n in self.names:
                src = planes.get(n)
                self._planes[n] = (
                    np.zeros((self.nx, self.ny), np.float32) if src is None else np.array(src, np.float32)
                )
            self._version += 1

    def paint(self, name: str, x: float, y: float, radius: float, value: float) -> None:
        """Set control ``name`` to ``value`` in a disc of ``radius`` cells around (x, y), with a one-cell
        soft edge that blends towards what was there."""
        if name not in self._planes:
            raise KeyError(f"no control channel {name!r} (controls: {', '.join(self.names) or 'none'})")
        w = np.clip(radius + 0.5 - np.hypot(self._x - x, self._y - y), 0.0, 1.0).astype(np.float32)
        inside = w > 0
        if not inside.any():
            return
        with self._lock:
            plane = self._planes[name]
            plane[inside] += w[inside] * (np.float32(value) - plane[inside])
            self._version += 1

    def erase(self, x: float, y: float, radius: float, names: list[str] | None = None) -> None:
        """Paint zero into ``names`` (default every control) in a disc around (x, y)."""
        for n in names if names is not None else self.names:
            self.paint(n, x, y, radius, 0.0)

    @property
    def version(self) -> int:
        """Increases with every change, so a view redraws the controls only when they moved."""
        return self._version

    def take(self) -> dict[str, np.ndarray]:
        """Copies of every control plane (for one step or for drawing)."""
        with self._lock:
            return {n: p.copy() for n, p in self._planes.items()}


@dataclass(frozen=True)
class FieldFrame:
    """One finished frame, owned by whoever receives it.

    Attributes
    ----------
    index : steps since the start.
    state : state channel -> (nx, ny), as the model predicted it (after its layout's rule).
    controls : control channel -> (nx, ny) the step was taken with (the start's controls at index 0).
    ms_model : time inside the model, ms (0 at the start).
    ms_total : time of the whole step, ms.
    """

    index: int
    state: dict[str, np.ndarray]
    controls: dict[str, np.ndarray]
    ms_model: float = 0.0
    ms_total: float = 0.0

    @property
    def finite(self) -> bool:
        return all(bool(np.isfinite(a).all()) for a in self.state.values())


def _flat_spec(info: ModelInfo) -> SystemSpec:
    """A spec with one scalar field per state channel, so that a rollout hands out channels, not fields."""
    names = list(info.layout["state"])
    return SystemSpec(info.system, tuple(FieldSpec(n) for n in names))


class FieldPlay:
    """A field model stepped from a start under painted controls, one frame per :meth:`advance`.

    Parameters
    ----------
    session : the model's session.
    start : where to start (its grid sets the grid).

    Only one thread may call the methods (the stepping thread); painting goes through :attr:`controls`.
    """

    def __init__(self, session: ModelSession, start: StartState) -> None:
        self.session = session
        self.info = session.info
        self.rollout = Rollout(session, _flat_spec(self.info), rules="layout")
        self.start = start
        self.controls = ControlPaint(list(self.info.layout["controls"]), *start.grid)
        self.frame: FieldFrame | None = None
        self.reset()

    def reset(self) -> FieldFrame:
        """Back to the start: its state, history and controls."""
        start = self.start
        self.rollout.reset(start.state, start.earlier)
        self.controls.load(start.controls)
        state = {n: np.array(a, np.float32) for n, a in start.state.items()}
        self.frame = FieldFrame(0, state, self.controls.take())
        return self.frame

    def set_start(self, start: StartState) -> FieldFrame:
        """Start from ``start`` from now on (a new grid gets new control planes) and go back to it."""
        self.rollout.reset(start.state, start.earlier)  # checks the grid before anything changes
        self.start = start
        if start.grid != (self.controls.nx, self.controls.ny):
            self.controls = ControlPaint(list(self.info.layout["controls"]), *start.grid)
        return self.reset()

    def advance(self) -> FieldFrame:
        """One step of the model under the controls as painted now."""
        t0 = time.perf_counter()
        controls = self.controls.take()
        result = self.rollout.step(controls)
        self.frame = FieldFrame(
            self.frame.index + 1 if self.frame is not None else 1,
            result.fields,
            controls,
            result.ms_model,
            (time.perf_counter() - t0) * 1e3,
        )
        return self.frame
