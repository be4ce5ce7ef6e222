"""Incremental writing of a Fieldcast dataset, one trajectory at a time."""

from __future__ import annotations

import itertools
import math
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.data.splits import segments_from_recipe, split_by_trajectory
from fieldcast.engine.data.stats import RunningStats, stats_to_json
from fieldcast.engine.data.store import FIELD_GROUPS, FORMAT_VERSION, DatasetError, spec_to_json, write_meta
from fieldcast.engine.systems.base import SystemSpec

__all__ = ["DatasetWriter"]

_BC_TYPES = ("WALL", "OPEN", "PERIODIC")
# Chunks hold whole frames (so a window reads exactly its frames) and at least this many bytes, so tiny
# grids do not drown in per-chunk overhead.
_MIN_CHUNK_BYTES = 64 << 10
# compression="auto" gzips a field only when its first trajectory shrinks at least this much: masks, maps
# constant per grain and fields that are mostly zero (cheap to inflate), never smooth float fields, whose
# inflating would cost training several times the read itself for a third or so of their size.
_AUTO_GZIP_RATIO = 4.0
_AUTO_SAMPLE_BYTES = 1 << 20


class DatasetWriter:
    """Write trajectories of a system into a chunked, compressed HDF5 file in The Well layout.

    Each :meth:`append` writes one whole trajectory, then updates ``n_trajectories`` and flushes, so a
    crash loses at most the trajectory being appended: the file then opens with the trajectories written
    before it (with default splits, statistics computed on open). :meth:`close` stores the default split
    (by trajectory, 70/15/15, seeded) and the train-split statistics so a fresh file is ready to train.

    Parameters
    ----------
    path : output file; replaced if it exists.
    spec : the system the data follows; every field of the spec must be given to :meth:`append`.
    n_frames : frames per trajectory.
    grid : ``(nx, ny)`` cells.
    dt : time between frames in ``spec.time_units`` (defaults to ``spec.dt``).
    simulation_parameters : constant parameters of the whole dataset (stored as root attributes and as
        constant scalars).
    extent : physical size ``(Lx, Ly)`` of the domain; coordinates are cell centres.
    boundary_conditions : per axis ``"WALL"``, ``"OPEN"`` or ``"PERIODIC"`` (default walls).
    trajectory_parameters : names of scalars that differ per trajectory, given to :meth:`append`.
    compression : ``"auto"`` (the default: per field, gzip where it shrinks the field at least 4x, as it
        does masks and piecewise-constant maps, else no filter, so random training windows read at the
        speed of the page cache), ``"gzip"`` (every field; readable everywhere, smallest, slowest to
        read), ``"lzf"`` (h5py only) or None.
    split_seed : seed of the default trajectory split.
    split : ``(n_trajectories, n_frames) -> split recipe`` stored at :meth:`close` instead of the default
        (a system whose splits follow its physics, e.g. a load range held out for extrapolation).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        spec: SystemSpec,
        n_frames: int,
        grid: tuple[int, int],
        dt: float | None = None,
        simulation_parameters: Mapping[str, float] | None = None,
        *,
        extent: tuple[float, float] = (1.0, 1.0),
        t0: float = 0.0,
        boundary_conditions: Mapping[str, str] | None = None,
        trajectory_parameters: Sequence[str] = (),
        compression: str | None = "auto",
        dataset_name: str | None = None,
        split_seed: int = 0,
        extra_meta: Mapping[str, Any] | None = None,
        split: Callable[[int, int], dict] | None = None,
    ) -> None:
        import h5py

        self.path = Path(path)
        self.spec = spec
        self.n_frames = int(n_frames)
        self.grid = (int(grid[0]), int(grid[1]))
        self.dt = float(spec.dt if dt is None else dt)
        if self.n_frames < 1 or min(self.grid) < 1:
            raise ValueError(f"n_frames and grid must be positive, got {n_frames} and {grid}")
        if compression not in ("auto", "gzip", "lzf", None):
            raise ValueError(f"compression must be 'auto', 'gzip', 'lzf' or None, got {compression!r}")
        self._compression = compression
        self._params = dict(simulation_parameters or {})
        self._traj_params = list(trajectory_parameters)
        self._split_seed = split_seed
        self._split = split
        self._extra_meta = dict(extra_meta or {})
        self._per_traj_stats: list[RunningStats] = []
        self.n_trajectories = 0
        self._closed = False
        self._f = h5py.File(self.path, "w")
        try:
            self._write_header(dataset_name or spec.name, extent, t0, boundary_conditions or {})
            # Plain fields now, so the file has its whole layout from the start; "auto" recreates the
            # fields whose data earns a filter when the first trajectory arrives, before anything is in them.
            self._create_fields({})
            self._filters_chosen = compression != "auto"
            self._write_meta(complete=False)
            self._f.flush()
        except BaseException:
            self._f.close()
            raise

    # -- layout -----------------------------------------------------------------------------------------
    def _write_header(self, name: str, extent, t0: float, bcs: Mapping[str, str]) -> None:
        f = self._f
        f.attrs["dataset_name"] = name
        f.attrs["grid_type"] = "cartesian"
        f.attrs["n_spatial_dims"] = 2
        f.attrs["n_trajectories"] = 0
        f.attrs["simulation_parameters"] = list(self._params)
        for key, value in self._params.items():
            f.attrs[key] = value
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        time = dims.create_dataset("time", data=(t0 + self.dt * np.arange(self.n_frames)).astype(np.float32))
        for axis, n, length in (("x", self.grid[0], extent[0]), ("y", self.grid[1], extent[1])):
            coords = dims.create_dataset(axis, data=((np.arange(n) + 0.5) * (length / n)).astype(np.float32))
            coords.attrs["sample_varying"] = False
            coords.attrs["time_varying"] = False
        time.attrs["sample_varying"] = False
        time.attrs["time_varying"] = True
        bc_group = f.create_group("boundary_conditions")
        for axis, n in (("x", self.grid[0]), ("y", self.grid[1])):
            kind = str(bcs.get(axis, "WALL")).upper()
            if kind not in _BC_TYPES:
                raise ValueError(f"boundary condition for {axis} must be one of {_BC_TYPES}, got {kind!r}")
            g = bc_group.create_group(f"{axis}_{kind.lower()}")
            g.attrs["associated_dims"] = [axis]
            g.attrs["associated_fields"] = []
            g.attrs["bc_type"] = kind
            g.attrs["sample_varying"] = False
            g.attrs["time_varying"] = False
            mask = np.zeros(n, dtype=bool)
            mask[[0, -1]] = True
            g.create_dataset("mask", data=mask)
        scalars = f.create_group("scalars")
        scalars.attrs["field_names"] = list(self._params) + self._traj_params
        for key, value in self._params.items():
            d = scalars.create_dataset(key, data=np.asarray(value))
            d.attrs["sample_varying"] = False
            d.attrs["time_varying"] = False
        for key in self._traj_params:
            d = scalars.create_dataset(key, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(1024,))
            d.attrs["sample_varying"] = True
            d.attrs["time_varying"] = False

    def _filter_for(self, sample: np.ndarray | None) -> str | None:
        """The filter of one field: the writer's choice, or for "auto" what the field's data earns."""
        if self._compression != "auto":
            return self._compression
        if sample is None:
            return None
        raw = np.ascontiguousarray(sample).reshape(-1)[: _AUTO_SAMPLE_BYTES // 4].tobytes()
        return "gzip" if len(raw) >= _AUTO_GZIP_RATIO * len(zlib.compress(raw, 1)) else None

    def _create_fields(self, first: Mapping[str, np.ndarray]) -> None:
        """Create the (empty) field datasets, or recreate those whose filter ``first``'s data changes."""
        groups = {name: self._f.require_group(name) for name in FIELD_GROUPS}
        for order, name in enumerate(FIELD_GROUPS):
            groups[name].attrs["field_names"] = [fs.name for fs in self.spec.fields if fs.order == order]
        for fs in self.spec.fields:
            group = groups[FIELD_GROUPS[fs.order]]
            compression = self._filter_for(first.get(fs.name))
            if fs.name in group:
                if group[fs.name].compression == compression:
                    continue
                del group[fs.name]
            tail = (2,) * fs.order
            frame_bytes = 4 * self.grid[0] * self.grid[1] * math.prod(tail)
            frames_per_chunk = min(self.n_frames, max(1, math.ceil(_MIN_CHUNK_BYTES / frame_bytes)))
            kwargs: dict[str, Any] = {}
            if compression is not None:
                kwargs = {"compression": compression, "shuffle": True}
                if compression == "gzip":
                    kwargs["compression_opts"] = 4
            d = group.create_dataset(
                fs.name,
                shape=(0, self.n_frames, *self.grid, *tail),
                maxshape=(None, self.n_frames, *self.grid, *tail),
                chunks=(1, frames_per_chunk, *self.grid, *tail),
                dtype=np.float32,
                **kwargs,
            )
            d.attrs["sample_varying"] = True
            d.attrs["time_varying"] = True
            d.attrs["dim_varying"] = [True, True]

    def _write_meta(self, complete: bool, splits: dict | None = None, stats: dict | None = None) -> None:
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "complete": complete,
            "spec": spec_to_json(self.spec),
        }
        meta["spec"]["dt"] = self.dt
        if splits is not None:
            meta["splits"] = splits
        if stats is not None:
            meta["stats"] = stats_to_json(stats)
        meta.update(self._extra_meta)
        write_meta(self._f, meta)

    # -- writing ----------------------------------------------------------------------------------------
    def _checked(
        self, fields: Mapping[str, np.ndarray], frames: int | None = -1, first: int = 0
    ) -> dict[str, np.ndarray]:
        """Fields checked for names, shapes, types and finiteness; ``frames`` is the frame count expected
        (-1: ``n_frames``; None: any, the same for every field), ``first`` the index of their first frame."""
        where = f"trajectory {self.n_trajectories}"
        frames = self.n_frames if frames == -1 else frames
        unknown = set(fields) - {fs.name for fs in self.spec.fields}
        if unknown:
            raise DatasetError(
                self.path, f"{where}: fields {sorted(unknown)} are not in system '{self.spec.name}'"
            )
        out = {}
        for fs in self.spec.fields:
            if fs.name not in fields:
                raise DatasetError(self.path, f"{where}: field '{fs.name}' is missing")
            arr = np.asarray(fields[fs.name])
            if frames is None and arr.ndim:
                frames = arr.shape[0]
            expected = (frames, *self.grid) + (2,) * fs.order
            if arr.shape != expected:
                raise DatasetError(
                    self.path, f"{where}: field '{fs.name}' has shape {arr.shape}; expected {expected}"
                )
            if arr.dtype.kind not in "biuf":
                raise DatasetError(self.path, f"{where}: field '{fs.name}' has dtype {arr.dtype}")
            arr = arr.astype(np.float32, copy=False)
            finite = np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
            if not finite.all():
                frame = first + int(np.argmin(finite))
                raise DatasetError(
                    self.path, f"{where}: field '{fs.name}' contains NaN or Inf (first at frame {frame})"
                )
            out[fs.name] = arr
        return out

    def append(self, fields: Mapping[str, np.ndarray], parameters: Mapping[str, float] | None = None) -> int:
        """Write one trajectory and return its index.

        ``fields`` maps every field name of the spec to float32 frames: scalars ``(T, nx, ny)``, vectors
        ``(T, nx, ny, 2)``. ``parameters`` gives the per-trajectory scalars named at construction.
        """
        if self._closed:
            raise RuntimeError("the writer is closed")
        arrays = self._checked(fields)
        params = dict(parameters or {})
        missing = [k for k in self._traj_params if k not in params]
        if missing:
            raise DatasetError(
                self.path, f"trajectory {self.n_trajectories}: parameters {missing} are missing"
            )
        i = self.n_trajectories
        if not self._filters_chosen:
            self._create_fields(arrays)
            self._filters_chosen = True
        for fs in self.spec.fields:
            d = self._f[FIELD_GROUPS[fs.order]][fs.name]
            d.resize(i + 1, axis=0)
            d[i] = arrays[fs.name]
        for key in self._traj_params:
            d = self._f["scalars"][key]
            d.resize((i + 1,))
            d[i] = float(params[key])
        acc = RunningStats(len(self.spec.channel_names()))
        acc.update(self._as_window(arrays))
        self._per_traj_stats.append(acc)
        # Commit point: readers trust n_trajectories, so it moves only after the data is written.
        self.n_trajectories = i + 1
        self._f.attrs["n_trajectories"] = self.n_trajectories
        self._f.flush()
        return i

    def append_frames(
        self,
        chunks: Iterable[Mapping[str, np.ndarray]],
        parameters: Mapping[str, float] | None = None,
    ) -> int:
        """Write one trajectory arriving in pieces of consecutive frames; returns its index.

        Each piece maps every field to ``(k, nx, ny[, 2])`` frames; together they must hold ``n_frames``.
        Only one piece is in memory at a time, so a trajectory larger than memory can be imported. The
        trajectory counts (readers see it) only once its last frame is written.
        """
        if self._closed:
            raise RuntimeError("the writer is closed")
        params = dict(parameters or {})
        i = self.n_trajectories
        where = f"trajectory {i}"
        missing = [k for k in self._traj_params if k not in params]
        if missing:
            raise DatasetError(self.path, f"{where}: parameters {missing} are missing")
        chunks = iter(chunks)
        if not self._filters_chosen:  # "auto" chooses each field's filter from its first piece
            first_piece = next(chunks, None)
            if first_piece is not None:
                self._create_fields(self._checked(first_piece, frames=None))
                self._filters_chosen = True
                chunks = itertools.chain([first_piece], chunks)
        datasets = {fs.name: self._f[FIELD_GROUPS[fs.order]][fs.name] for fs in self.spec.fields}
        for d in datasets.values():
            d.resize(i + 1, axis=0)
        acc = RunningStats(len(self.spec.channel_names()))
        done = 0
        for chunk in chunks:
            arrays = self._checked(chunk, frames=None, first=done)
            k = next(iter(arrays.values())).shape[0]
            if done + k > self.n_frames:
                raise DatasetError(self.path, f"{where}: more than {self.n_frames} frames")
            for name, d in datasets.items():
                d[i, done : done + k] = arrays[name]
            acc.update(self._as_window(arrays))
            done += k
        if done != self.n_frames:
            raise DatasetError(self.path, f"{where}: {done} frames written, expected {self.n_frames}")
        for key in self._traj_params:
            d = self._f["scalars"][key]
            d.resize((i + 1,))
            d[i] = float(params[key])
        self._per_traj_stats.append(acc)
        self.n_trajectories = i + 1
        self._f.attrs["n_trajectories"] = self.n_trajectories
        self._f.flush()
        return i

    def _as_window(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = []
        for fs in self.spec.fields:
            a = arrays[fs.name]
            parts.append(np.moveaxis(a, -1, 1) if fs.order == 1 else a[:, None])
        return np.concatenate(parts, axis=1)  # (T, C, nx, ny)

    def close(self) -> None:
        """Store the default split and train statistics, and close the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.n_trajectories:
                if self._split is not None:
                    recipe = self._split(self.n_trajectories, self.n_frames)
                else:
                    recipe = split_by_trajectory(self.n_trajectories, seed=self._split_seed)
                segments = segments_from_recipe(recipe, self.n_trajectories, self.n_frames)
                acc = RunningStats(len(self.spec.channel_names()))
                for traj, _, _ in segments["train"]:
                    acc.merge(self._per_traj_stats[traj])
                self._write_meta(complete=True, splits=recipe, stats=acc.result())
            else:
                self._write_meta(complete=True)
        finally:
            self._f.close()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        # Also on an exception: the trajectories already appended are whole and worth keeping.
        self.close()
