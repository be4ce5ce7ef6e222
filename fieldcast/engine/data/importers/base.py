"""What every importer shares: a source of trajectories, the import loop, and its report."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldcast.engine.data.importers.mapping import (
    ALIASES,
    ChannelMapping,
    generic_spec_from_channels,
    map_channels,
)
from fieldcast.engine.data.store import DatasetError
from fieldcast.engine.data.writer import DatasetWriter
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.limits import BudgetError, check_budget, format_bytes, frame_budget
from fieldcast.engine.systems.base import SystemSpec, get_spec

__all__ = ["ImportReport", "Source", "run_import"]


class Source:
    """A foreign dataset seen as trajectories of named scalar channels.

    Subclasses set the attributes below in their constructor (reading metadata only) and implement
    :meth:`read_trajectory`.
    """

    path: Path
    format: str  # short name for messages: "npz-frames", "pdebench-flat" ...
    channels: list[str]  # source channel names, vector components already split
    n_trajectories: int
    n_frames: int
    grid: tuple[int, int]
    dt: float = 1.0
    parameters: dict
    skipped: tuple[str, ...] = ()  # things in the source no channel can come from, with the reason
    system: str | None = None  # the system the source's channels belong to (None: build a generic one)

    #: True when :meth:`read_frames` reads only the frames asked for (else it slices a whole trajectory)
    streams: bool = False

    def read_trajectory(self, index: int) -> dict[str, np.ndarray]:
        """Every channel of trajectory ``index`` as float32 ``(T, nx, ny)``."""
        raise NotImplementedError

    def read_frames(self, index: int, start: int, stop: int) -> dict[str, np.ndarray]:
        """Frames ``start:stop`` of every channel of trajectory ``index``, float32 ``(k, nx, ny)``.

        Sources that can read part of a trajectory override this and set :attr:`streams`; the default
        reads the whole trajectory once and hands out slices of it.
        """
        cached = getattr(self, "_frames_cache", None)
        if cached is None or cached[0] != index:
            cached = (index, self.read_trajectory(index))
            self._frames_cache = cached
        return {name: arr[start:stop] for name, arr in cached[1].items()}

    def close(self) -> None:
        """Let go of whatever :meth:`read_frames` keeps between calls (open files, a cached trajectory)."""
        self._frames_cache = None

    def describe(self) -> dict:
        return {
            "format": self.format,
            "channels": list(self.channels),
            "n_trajectories": self.n_trajectories,
            "n_frames": self.n_frames,
            "grid": list(self.grid),
            "dt": self.dt,
        }


@dataclass
class ImportReport:
    """What an import did; yielded as the last event of :func:`run_import`."""

    source: str
    output: str
    format: str
    system: str
    n_trajectories: int
    n_frames: int
    grid: tuple[int, int]
    assign: dict[str, str] = field(default_factory=dict)  # target channel -> source channel
    unmapped: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)  # control channels without a source, written as zeros

    def lines(self) -> list[str]:
        out = [
            f"imported {self.source} ({self.format}) -> {self.output}",
            f"system {self.system}: {self.n_trajectories} trajectories x {self.n_frames} frames, "
            f"grid {self.grid[0]}x{self.grid[1]}",
        ]
        out += [f"  {dst} <- {src}" for dst, src in self.assign.items()]
        out += [f"  {name} <- zeros (no source)" for name in self.filled]
        out += [f"  unmapped: {u}" for u in self.unmapped] or ["  unmapped: none"]
        return out


def resolve_target(
    source: Source, system: str | SystemSpec | None, overrides: Mapping[str, str] | None
) -> tuple[SystemSpec, ChannelMapping]:
    """The spec to write and how source channels feed it; raises :class:`DatasetError` naming the source."""
    spec = get_spec(system) if isinstance(system, str) else system
    try:
        mapping = map_channels(source.channels, None if spec is None else spec.channel_names(), overrides)
    except ValueError as exc:
        raise DatasetError(source.path, str(exc)) from None
    if spec is None:
        if not mapping.assign:
            raise DatasetError(source.path, "no channel could be imported")
        # Known channels first in a fixed order (density, velocity, ...), so the same physics imported
        # from differently ordered files gets the same channel order; unknown ones follow in source order.
        known = list(ALIASES)
        names = sorted(mapping.assign, key=lambda c: known.index(c) if c in known else len(known))
        spec = generic_spec_from_channels(source.path.stem, names, dt=source.dt)
        return spec, mapping
    state = set(spec.channel_names("state"))
    lacking = [c for c in mapping.missing if c in state]
    if lacking:
        raise DatasetError(
            source.path,
            f"system '{spec.name}' needs {', '.join(lacking)}, which the source lacks "
            f"(source channels: {', '.join(source.channels)}; map one with --map SRC={lacking[0]})",
        )
    return spec, mapping


def _fields_for(spec: SystemSpec, mapping: ChannelMapping, channels: Mapping[str, np.ndarray], shape) -> dict:
    fields = {}
    for fs in spec.fields:
        comps = []
        for name in fs.component_names(spec.n_dims):
            src = mapping.assign.get(name)
            comps.append(channels[src] if src is not None else np.zeros(shape, dtype=np.float32))
        fields[fs.name] = comps[0] if fs.order == 0 else np.stack(comps, axis=-1)
    return fields


# Copies of one trajectory an import holds at its peak: the source arrays, the float32 fields, the window
# the statistics are taken from and that window in float64.
TRAJECTORY_COPIES = 6


def check_trajectory_budget(source: Source, n_channels: int) -> int:
    """Frames imported at once (a streaming source) after checking they fit the memory budget; a source
    that reads whole trajectories must fit one. DatasetError naming the source when it does not."""
    frame = 4 * max(n_channels, len(source.channels)) * source.grid[0] * source.grid[1]
    if source.streams:
        what, nbytes = f"one frame ({source.grid[0]} x {source.grid[1]}) imported", frame
    else:
        nbytes = frame * source.n_frames
        what = (
            f"one trajectory ({source.n_frames} frames of {source.grid[0]} x {source.grid[1]}, "
            f"{format_bytes(nbytes)} as float32) imported"
        )
    try:
        check_budget(TRAJECTORY_COPIES * nbytes, what)
    except BudgetError as exc:
        raise DatasetError(source.path, str(exc)) from None
    if not source.streams:
        return source.n_frames
    # Pieces of at most 32 MiB and the frame budget: few writes, a small multiple of one frame in memory.
    return int(max(1, min(source.n_frames, min(32 << 20, frame_budget()) // frame)))


def first_bad_frame(arr: np.ndarray) -> int | None:
    """Index of the first frame (axis 0) of ``arr`` holding NaN or Inf, None when all are finite."""
    finite = np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    return None if finite.all() else int(np.argmin(finite))


def _pieces(
    source: Source,
    spec: SystemSpec,
    mapping: ChannelMapping,
    index: int,
    piece: int,
    token: CancelToken | None,
):
    """The fields of trajectory ``index`` in pieces of ``piece`` frames, NaN/Inf named with its frame."""
    for start in range(0, source.n_frames, piece):
        if token is not None:
            token.raise_if_cancelled()
        stop = min(start + piece, source.n_frames)
        channels = source.read_frames(index, start, stop)
        for name, arr in channels.items():
            frame = first_bad_frame(arr)
            if frame is not None:
                raise DatasetError(
                    source.path,
                    f"the data is not finite: channel '{name}' contains NaN or Inf "
                    f"(trajectory {index}, first at frame {start + frame})",
                )
        yield _fields_for(spec, mapping, channels, (stop - start, *source.grid))


def run_import(
    source: Source,
    out: str | os.PathLike,
    system: str | SystemSpec | None = None,
    overrides: Mapping[str, str] | None = None,
    token: CancelToken | None = None,
    compression: str | None = "gzip",
) -> Generator[Progress | ImportReport, None, None]:
    """Copy ``source`` into a Fieldcast file at ``out``, yielding :class:`Progress`, then the report.

    The file is written under a temporary name and renamed at the end, so a failed or cancelled import
    leaves no half file behind (and an older ``out`` untouched).
    """
    spec, mapping = resolve_target(source, system, overrides)
    piece = check_trajectory_budget(source, len(spec.channel_names()))
    out = Path(out)
    report = ImportReport(
        source=str(source.path),
        output=str(out),
        format=source.format,
        system=spec.name,
        n_trajectories=source.n_trajectories,
        n_frames=source.n_frames,
        grid=source.grid,
        assign=dict(mapping.assign),
        unmapped=list(mapping.unmapped) + list(source.skipped),
        filled=[c for c in mapping.missing],
    )
    extra = {
        "import": {
            "source": str(source.path),
            "format": source.format,
            "unmapped": report.unmapped,
            "filled": report.filled,
            "assign": report.assign,
        }
    }
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{out.name}.", suffix=".part", dir=out.parent if str(out.parent) else "."
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = DatasetWriter(
            tmp,
            spec,
            source.n_frames,
            source.grid,
            dt=source.dt,
            simulation_parameters=source.parameters,
            extra_meta=extra,
            dataset_name=source.path.stem,
            compression=compression,
        )
        with writer:
            for i in range(source.n_trajectories):
                if token is not None:
                    token.raise_if_cancelled()
                writer.append_frames(_pieces(source, spec, mapping, i, piece, token))
                yield Progress("import", i + 1, source.n_trajectories, f"trajectory {i + 1}")
        os.replace(tmp, out)
    finally:
        source.close()
        if tmp.exists():
            tmp.unlink()
    yield report
