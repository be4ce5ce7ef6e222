"""PDEBench 2D HDF5 files, in both of their layouts.

- flat (2D CFD): root datasets ``density``, ``Vx``, ``Vy``, ``pressure`` of shape ``(N, T, nx, ny)`` and
  coordinates ``x-coordinate`` (nx), ``y-coordinate`` (ny), ``t-coordinate`` (T+1: it includes the end
  time of the last step);
- grouped (shallow water, diffusion-reaction ...): one group per trajectory, ``0000/data`` of shape
  ``(T, nx, ny, C)`` with ``0000/grid/x``, ``0000/grid/y``, ``0000/grid/t``. Channels have no names in the
  file; they are called ``data_0``, ``data_1`` ... (one channel: ``data``) and need ``--map`` to reach a
  system's channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fieldcast.engine.data.importers.base import Source
from fieldcast.engine.data.links import check_dataset_source, check_stored_bytes
from fieldcast.engine.data.store import MAX_AXIS, MAX_FRAMES, DatasetError, open_h5

__all__ = ["PdebenchFlatSource", "PdebenchGroupedSource", "detect_pdebench"]

_FLAT_COORDS = ("x-coordinate", "y-coordinate", "t-coordinate")


def detect_pdebench(f) -> str | None:
    """``"flat"``, ``"grouped"`` or None for an open h5py file."""
    import h5py

    if all(name in f for name in _FLAT_COORDS):
        return "flat"
    keys = list(f.keys())
    if keys and all(k.isdigit() for k in keys[:4]):
        g = f[keys[0]]
        if isinstance(g, h5py.Group) and "data" in g:
            return "grouped"
    return None


def _dt_from(t: np.ndarray, n_frames: int, path: Path) -> float:
    t = np.asarray(t, dtype=np.float64).ravel()
    if t.size not in (n_frames, n_frames + 1):
        raise DatasetError(path, f"time coordinate has {t.size} entries for {n_frames} frames")
    if not np.all(np.isfinite(t)):
        raise DatasetError(path, "time coordinate contains NaN or Inf")
    if t.size < 2:
        return 1.0
    steps = np.diff(t)
    if np.any(steps <= 0):
        raise DatasetError(path, "time coordinate is not increasing")
    return float(steps[0])


def _check_sizes(path: Path, n_frames: int, grid) -> None:
    if n_frames < 1 or min(grid) < 2:
        raise DatasetError(path, f"zero-length or degenerate axes (frames {n_frames}, grid {tuple(grid)})")
    if n_frames > MAX_FRAMES or max(grid) > MAX_AXIS:
        raise DatasetError(path, f"claims {n_frames} frames of {tuple(grid)} cells, an absurd size")


class PdebenchFlatSource(Source):
    """A flat PDEBench file: one dataset per variable, trajectories along axis 0."""

    format = "pdebench-flat"

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        self.parameters = {}
        with open_h5(self.path) as f:
            names = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and k not in _FLAT_COORDS]
            shapes = {k: f[k].shape for k in names if f[k].ndim == 4}
            if not shapes:
                raise DatasetError(self.path, "no (N, T, nx, ny) arrays next to the PDEBench coordinates")
            for k in shapes:
                check_dataset_source(f, k, k, self.path)
                check_stored_bytes(f[k], k, self.path)
                if f[k].dtype.kind not in "biuf":
                    raise DatasetError(self.path, f"'{k}' has dtype {f[k].dtype}; expected numbers")
            if len(set(shapes.values())) > 1:
                raise DatasetError(self.path, f"variables have different shapes: {shapes}")
            n, t, nx, ny = next(iter(shapes.values()))
            _check_sizes(self.path, t, (nx, ny))
            if n < 1:
                raise DatasetError(self.path, "holds no trajectories")
            self.dt = _dt_from(f["t-coordinate"][:], t, self.path)
            skipped = [f"{k}: not an (N, T, nx, ny) array" for k in names if k not in shapes]
            self.parameters = {k: float(v) for k, v in f.attrs.items() if np.ndim(v) == 0 and _is_number(v)}
        self.channels = list(shapes)
        self.skipped = tuple(skipped)
        self.n_trajectories, self.n_frames, self.grid = int(n), int(t), (int(nx), int(ny))

    streams = True

    def read_trajectory(self, index: int) -> dict[str, np.ndarray]:
        return self.read_frames(index, 0, self.n_frames)

    def read_frames(self, index: int, start: int, stop: int) -> dict[str, np.ndarray]:
        with open_h5(self.path) as f:
            try:
                return {k: np.asarray(f[k][index, start:stop], dtype=np.float32) for k in self.channels}
            except OSError as exc:
                raise DatasetError(self.path, f"cannot read trajectory {index} ({exc})") from None


class PdebenchGroupedSource(Source):
    """A grouped PDEBench file: one group per trajectory holding ``data`` and ``grid``."""

    format = "pdebench-grouped"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.parameters = {}
        with open_h5(self.path) as f:
            self._groups = sorted(k for k in f.keys() if k.isdigit())
            if not self._groups:
                raise DatasetError(self.path, "no trajectory groups ('0000', '0001', ...)")
            first = f[self._groups[0]]
            if "data" not in first:
                raise DatasetError(self.path, f"group '{self._groups[0]}' has no 'data' dataset")
            data = first["data"]
            if data.dtype.kind not in "biuf":
                raise DatasetError(
                    self.path, f"'{self._groups[0]}/data' has dtype {data.dtype}; expected numbers"
                )
            if data.ndim == 3:
                t, nx, ny = data.shape
                c = 0
            elif data.ndim == 4:
                t, nx, ny, c = data.shape
            else:
                raise DatasetError(
                    self.path, f"'{self._groups[0]}/data' has shape {data.shape}; expected (T, nx, ny, C)"
                )
            _check_sizes(self.path, t, (nx, ny))
            for g in self._groups:
                if "data" not in f[g] or f[g]["data"].shape != data.shape:
                    raise DatasetError(self.path, f"group '{g}' has no 'data' of shape {data.shape}")
                check_dataset_source(f[g], "data", f"{g}/data", self.path)
                check_stored_bytes(f[g]["data"], f"{g}/data", self.path)
            grid_t = first.get("grid/t")
            self.dt = _dt_from(grid_t[:], t, self.path) if grid_t is not None else 1.0
        self._has_channel_axis = c > 0
        self.channels = ["data"] if c <= 1 else [f"data_{i}" for i in range(c)]
        self.n_trajectories, self.n_frames, self.grid = len(self._groups), int(t), (int(nx), int(ny))

    streams = True

    def read_trajectory(self, index: int) -> dict[str, np.ndarray]:
        return self.read_frames(index, 0, self.n_frames)

    def read_frames(self, index: int, start: int, stop: int) -> dict[str, np.ndarray]:
        with open_h5(self.path) as f:
            try:
                data = np.asarray(f[self._groups[index]]["data"][start:stop], dtype=np.float32)
            except OSError as exc:
                raise DatasetError(self.path, f"cannot read trajectory {index} ({exc})") from None
        if not self._has_channel_axis:
            return {"data": data}
        return {name: np.ascontiguousarray(data[..., i]) for i, name in enumerate(self.channels)}


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
