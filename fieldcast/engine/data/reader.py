"""Lazy reading of a Fieldcast (or any 2D The Well) file: windows of frames straight from the chunks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fieldcast.engine.data.layout import FieldLayout, Layout, inspect_layout
from fieldcast.engine.data.splits import (
    SPLIT_NAMES,
    choose_split,
    describe_split,
    segments_from_recipe,
    split_by_trajectory,
    windows_in_segments,
)
from fieldcast.engine.data.stats import RunningStats, iter_compute_stats, stats_from_json
from fieldcast.engine.data.store import DatasetError, open_h5
from fieldcast.engine.limits import format_bytes, memory_budget
from fieldcast.engine.systems.base import SystemSpec

__all__ = ["FieldDataset", "open_dataset"]

# Chunk cache per dataset: a few frames of a 512x512 vector field, so a window that reuses a chunk
# (chunks of several small frames) does not decompress it twice.
_CHUNK_CACHE_BYTES = 16 << 20


class FieldDataset:
    """A dataset file opened for reading; cheap to create, pickle and send to data-loader workers.

    The metadata is read once when the object is made. The HDF5 handle is opened on the first read and
    is not pickled, so each worker process opens its own. Arrays follow The Well convention: spatial
    axes last in (x, y) order; windows are ``(T, C, nx, ny)`` float32 with channels in
    ``spec.channel_names()`` order.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        with open_h5(self.path) as f:
            try:
                self._layout: Layout = inspect_layout(f, self.path)
            except (KeyError, TypeError, ValueError, OSError) as exc:
                if isinstance(exc, DatasetError):
                    raise
                # h5py raises these for damaged object headers; name the problem instead of a traceback.
                raise DatasetError(self.path, f"damaged file structure ({exc})") from None
        self._h5 = None
        self._datasets: dict = {}  # h5py datasets by path, looked up once per handle
        #: refuse windows holding NaN or Inf (training sets it; descriptions and checks want to see them)
        self.require_finite = False
        self._channel_slices = self._build_channel_slices()
        self._n_channels = len(self.spec.channel_names())
        self._segments: dict[str, list[tuple[int, int, int]]] | None = None
        self._stats: dict | None = None
        self._split_override: dict | None = None
        self._recompute_stats = False  # the split in use is not the one the stored statistics describe

    # -- metadata ---------------------------------------------------------------------------------------
    @property
    def spec(self) -> SystemSpec:
        return self._layout.spec

    @property
    def n_trajectories(self) -> int:
        return self._layout.n_trajectories

    @property
    def n_frames(self) -> int:
        return self._layout.n_frames

    @property
    def grid(self) -> tuple[int, int]:
        return self._layout.grid

    @property
    def dt(self) -> float:
        return self._layout.dt

    @property
    def t0(self) -> float:
        return self._layout.t0

    @property
    def channel_names(self) -> list[str]:
        return self.spec.channel_names()

    @property
    def dataset_name(self) -> str:
        return self._layout.dataset_name

    @property
    def meta(self) -> dict:
        """The Fieldcast attribute (empty for a foreign Well file)."""
        return dict(self._layout.meta or {})

    @property
    def is_foreign(self) -> bool:
        """True for a Well file written without Fieldcast (its spec is generic, built from its fields)."""
        return self._layout.meta is None or "spec" not in self._layout.meta

    @property
    def skipped_fields(self) -> tuple[str, ...]:
        """Fields in the file that Fieldcast cannot use, each with the reason."""
        return self._layout.skipped

    @property
    def unmapped(self) -> list[str]:
        """Source channels an importer could not map, as recorded in the file, plus skipped fields."""
        recorded = (self._layout.meta or {}).get("import", {}).get("unmapped", [])
        return [str(x) for x in recorded] + list(self._layout.skipped)

    @property
    def simulation_parameters(self) -> dict:
        return dict(self._layout.simulation_parameters)

    @property
    def boundary_conditions(self) -> dict:
        return dict(self._layout.boundary_conditions)

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one float32 frame of all channels."""
        return 4 * self._n_channels * self.grid[0] * self.grid[1]

    def times(self) -> np.ndarray:
        """Time of each stored frame, in ``spec.time_units``."""
        return self.t0 + self.dt * np.arange(self.n_frames)

    def channel_units(self) -> dict[str, str]:
        return {c.name: c.units for c in self.spec.channels()}

    # -- reading ----------------------------------------------------------------------------------------
    def _file(self):
        if self._h5 is None:
            self._h5 = open_h5(self.path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
            self._datasets = {}
        return self._h5

    def _dataset(self, path: str):
        f = self._file()
        d = self._datasets.get(path)
        if d is None:
            d = self._datasets[path] = f[path]
        return d

    def _read_into(self, fl: FieldLayout, traj: int, start: int, out: np.ndarray, channel: int) -> bool:
        """Read a float32 field that varies in every axis straight into ``out[:, channel(s)]``.

        HDF5 copies the frames from its chunks into the window without the high-level slicing machinery,
        whose per-call cost otherwise dominates small random windows. Returns False when the field needs
        the general path (a constant axis, another stored type).
        """
        if not (fl.sample_varying and fl.time_varying and all(fl.dim_varying)):
            return False
        import h5py

        d = self._dataset(fl.path)
        if d.dtype != np.float32:
            return False
        length = out.shape[0]
        tail = (2,) * fl.order
        file_space = d.id.get_space()
        file_space.select_hyperslab((traj, start, 0, 0, *(0,) * fl.order), (1, length, *self.grid, *tail))
        try:
            buf = np.empty((length, *self.grid, *tail), dtype=np.float32)
            d.id.read(h5py.h5s.create_simple(buf.shape), file_space, buf)
        except (OSError, RuntimeError) as exc:
            raise DatasetError(
                self.path,
                f"cannot read '{fl.path}' trajectory {traj} frames {start}..{start + length - 1} ({exc})",
            ) from None
        if fl.order == 0:
            out[:, channel] = buf
        else:
            out[:, channel : channel + 2] = np.moveaxis(buf, -1, 1)
        return True

    def _build_channel_slices(self) -> list[tuple[FieldLayout, int]]:
        out = []
        c = 0
        for fl in self._layout.fields:
            out.append((fl, c))
            c += 2 if fl.order == 1 else 1
        return out

    def _check_range(self, traj: int, start: int, length: int) -> None:
        if not 0 <= traj < self.n_trajectories:
            raise IndexError(f"trajectory {traj} out of range 0..{self.n_trajectories - 1}")
        if length < 1 or start < 0 or start + length > self.n_frames:
            raise IndexError(f"frames {start}..{start + length - 1} out of range 0..{self.n_frames - 1}")

    def _read_field(self, fl: FieldLayout, traj: int, start: int, length: int, component=None) -> np.ndarray:
        """Frames of one field as ``(length, nx, ny[, 2])`` (or one component), broadcasting constant axes."""
        index: tuple = ()
        if fl.sample_varying:
            index += (traj,)
        if fl.time_varying:
            index += (slice(start, start + length),)
        data = self._dataset(fl.path)
        order = 0 if component is not None else fl.order
        try:
            if component is not None and fl.order == 1:
                arr = data[index + (Ellipsis, component)]
            else:
                arr = data[index] if index else data[()]
        except (OSError, RuntimeError) as exc:
            # A damaged chunk or a filter this h5py lacks: say where, not a libhdf5 stack.
            raise DatasetError(
                self.path,
                f"cannot read '{fl.path}' trajectory {traj} frames {start}..{start + length - 1} ({exc})",
            ) from None
        arr = np.asarray(arr, dtype=np.float32)
        if fl.time_varying and all(fl.dim_varying):
            return arr
        # Rebuild the missing axes (constant in time, or in x or y) as broadcast views.
        shape = [length if fl.time_varying else 1]
        shape += [n if v else 1 for n, v in zip(self.grid, fl.dim_varying, strict=True)]
        shape += [2] * order
        target = [length, *self.grid] + [2] * order
        return np.broadcast_to(arr.reshape(shape), target)

    def read_window(self, traj: int, start: int, length: int) -> np.ndarray:
        """Frames ``start .. start+length-1`` of trajectory ``traj`` as float32 ``(length, C, nx, ny)``.

        Only those frames are read from disk.
        """
        self._check_range(traj, start, length)
        if length * self.frame_nbytes > memory_budget():
            raise DatasetError(
                self.path,
                f"reading {length} frames at once needs {format_bytes(length * self.frame_nbytes)}, over the "
                f"memory budget of {format_bytes(memory_budget())}",
            )
        out = np.empty((length, self._n_channels, *self.grid), dtype=np.float32)
        for fl, c in self._channel_slices:
            if self._read_into(fl, traj, start, out, c):
                continue
            arr = self._read_field(fl, traj, start, length)
            if fl.order == 1:
                out[:, c : c + 2] = np.moveaxis(arr, -1, 1)
            else:
                out[:, c] = arr
        if self.require_finite:
            self._refuse_nonfinite(out, traj, start)
        return out

    def _refuse_nonfinite(self, window: np.ndarray, traj: int, start: int) -> None:
        finite = np.isfinite(window).all(axis=(2, 3))  # (T, C)
        if finite.all():
            return
        frame, channel = (int(i[0]) for i in np.nonzero(~finite))
        raise DatasetError(
            self.path,
            f"the data is not finite: channel '{self.channel_names[channel]}' contains NaN or Inf "
            f"(trajectory {traj}, first at frame {start + frame})",
        )

    def read_frame(self, traj: int, frame: int, channel: str) -> np.ndarray:
        """One frame of one channel as float32 ``(nx, ny)``, reading only that frame (for previews)."""
        self._check_range(traj, frame, 1)
        for fl, _ in self._channel_slices:
            names = self.spec.field(fl.name).component_names(self.spec.n_dims)
            if channel in names:
                comp = names.index(channel) if fl.order == 1 else None
                return np.ascontiguousarray(self._read_field(fl, traj, frame, 1, comp)[0])
        raise KeyError(f"no channel {channel!r}; channels are {', '.join(self.channel_names)}")

    # -- splits and statistics --------------------------------------------------------------------------
    @property
    def split_recipe(self) -> dict:
        """The stored split recipe, or the default (by trajectory 70/15/15, seed 0) if none is stored."""
        if self._split_override is not None:
            return self._split_override
        return choose_split("auto", self.n_trajectories, (self._layout.meta or {}).get("splits"))

    @property
    def split_note(self) -> str:
        """How the split in use was made, in one line (shown by ``info``, the run and the Train panel)."""
        return describe_split(self.split_recipe, self.n_trajectories)

    def use_split(self, setting: str | list[float]) -> None:
        """Train on ``setting`` (see :func:`~fieldcast.engine.data.splits.choose_split`) instead.

        Statistics stored for another train split are dropped and computed again on the new one.
        """
        stored = (self._layout.meta or {}).get("splits")
        recipe = choose_split(setting, self.n_trajectories, stored)
        if recipe == self.split_recipe:
            return
        try:
            segments_from_recipe(recipe, self.n_trajectories, self.n_frames)
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(self.path, f"split {setting!r} does not fit the data ({exc})") from None
        self._split_override = recipe
        self._segments = None
        self._stats = None
        self._recompute_stats = True

    @property
    def has_stored_splits(self) -> bool:
        return bool((self._layout.meta or {}).get("splits"))

    def _all_segments(self) -> dict[str, list[tuple[int, int, int]]]:
        if self._segments is None:
            try:
                self._segments = segments_from_recipe(self.split_recipe, self.n_trajectories, self.n_frames)
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(self.path, f"stored splits are invalid ({exc})") from None
        return self._segments

    def split_segments(self, name: str) -> list[tuple[int, int, int]]:
        """``(traj, frame_start, frame_stop)`` segments of split ``name`` (train, valid or test)."""
        if name not in SPLIT_NAMES:
            raise KeyError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
        return list(self._all_segments()[name])

    def windows(self, name: str, length: int, stride: int = 1) -> list[tuple[int, int]]:
        """All ``(traj, start)`` windows of ``length`` frames lying inside split ``name``."""
        return windows_in_segments(self.split_segments(name), length, stride)

    @property
    def has_stored_stats(self) -> bool:
        meta = self._layout.meta or {}
        stored = meta.get("stats")
        written = meta.get("splits") or split_by_trajectory(self.n_trajectories)
        if self._recompute_stats or self.split_recipe != written:
            return False  # they describe another train split
        return bool(stored) and stats_from_json(stored, len(self.channel_names)) is not None

    @property
    def stats(self) -> dict:
        """Per-channel ``mean``/``std``/``min``/``max`` (float32, shape (C,)) of the train split.

        Read from the file; for a file without stored statistics (a foreign Well file) they are computed
        once from the train split and kept in memory.
        """
        if self._stats is None:
            meta = self._layout.meta or {}
            stored = meta.get("stats")
            # Stored statistics describe the train split the writer stored (by trajectory when none is);
            # a split cut another way (a file with fewer than three trajectories, a recipe's time ratios)
            # gets its own, from its own training frames.
            written = meta.get("splits") or split_by_trajectory(self.n_trajectories)
            if self._recompute_stats or self.split_recipe != written:
                stored = None
            self._stats = stats_from_json(stored, len(self.channel_names)) if stored else None
            if self._stats is None:
                job = iter_compute_stats(self, self.split_segments("train"))
                try:
                    while True:
                        next(job)
                except StopIteration as stop:
                    self._stats = stop.value
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self._stats.items()}

    def sample_stats(self, max_bytes: int) -> tuple[dict, int]:
        """Statistics for a description: the stored or already computed ones, else computed from at most
        ``max_bytes`` of train frames spread evenly over the split. Returns ``(stats, frames read)``;
        frames read is 0 when nothing had to be read."""
        if self._stats is not None or self.has_stored_stats:
            return self.stats, 0
        segments = self.split_segments("train")
        total = sum(b - a for _, a, b in segments)
        budget = max(1, max_bytes // max(self.frame_nbytes, 1))
        if total <= budget:
            return self.stats, total
        picks = np.unique(np.linspace(0, total - 1, budget).round().astype(np.int64))
        acc = RunningStats(len(self.channel_names))
        position = 0
        for traj, a, b in segments:
            inside = picks[(picks >= position) & (picks < position + (b - a))] - position + a
            for frame in inside.tolist():
                acc.update(self.read_window(traj, int(frame), 1))
            position += b - a
        return acc.result(), int(picks.size)

    # -- lifetime ---------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
            self._datasets = {}

    def __enter__(self) -> FieldDataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_h5"] = None  # each process opens its own handle
        state["_datasets"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (
            f"<FieldDataset {self.path.name}: {self.spec.name}, {self.n_trajectories} traj x "
            f"{self.n_frames} frames, grid {self.grid[0]}x{self.grid[1]}, channels {self.channel_names}>"
        )


def open_dataset(path: str | os.PathLike) -> FieldDataset:
    """Open a dataset for lazy reading; raises :class:`DatasetError` ("PATH: problem") if it is unusable."""
    return FieldDataset(path)
