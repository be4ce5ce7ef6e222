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
from fieldcast.engine.limits import BudgetError, check_budget, format_bytes
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

    def read_trajectory(self, index: int) -> dict[str, np.ndarray]:
        """Every channel of trajectory ``index`` as float32 ``(T, nx, ny)``."""
        raise NotImplementedError

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


def check_trajectory_budget(source: Source, n_channels: int) -> None:
    """DatasetError naming the source when one trajectory would not fit the memory budget."""
    nbytes = 4 * max(n_channels, len(source.channels)) * source.n_frames * source.grid[0] * source.grid[1]
    try:
        check_budget(
            TRAJECTORY_COPIES * nbytes,
            f"one trajectory ({source.n_frames} frames of {source.grid[0]} x {source.grid[1]}, "
            f"{format_bytes(nbytes)} as float32) imported",
        )
    except BudgetError as exc:
        raise DatasetError(source.path, str(exc)) from None


def first_bad_frame(arr: np.ndarray) -> int | None:
    """Index of the first frame (axis 0) of ``arr`` holding NaN or Inf, None when all are finite."""
    finite = np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    return None if finite.all() else int(np.argmin(finite))


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
    check_trajectory_budget(source, len(spec.channel_names()))
    out = Path(out)
    shape = (source.n_frames, *source.grid)
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
                channels = source.read_trajectory(i)
                for name, arr in channels.items():
                    frame = first_bad_frame(arr)
                    if frame is not None:
                        raise DatasetError(
                            source.path,
                            f"the data is not finite: channel '{name}' contains NaN or Inf "
                            f"(trajectory {i}, first at frame {frame})",
                        )
                writer.append(_fields_for(spec, mapping, channels, shape))
                yield Progress("import", i + 1, source.n_trajectories, f"trajectory {i + 1}")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    yield report
