"""Importers: foreign simulation data -> Fieldcast files, with a channel-mapping step and a report."""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from pathlib import Path

from fieldcast.engine.data.importers.base import ImportReport, Source, resolve_target, run_import
from fieldcast.engine.data.importers.gcode import GcodeSource, import_gcode, looks_like_gcode
from fieldcast.engine.data.importers.mapping import (
    ALIASES,
    ChannelMapping,
    generic_spec_from_channels,
    map_channels,
    parse_map_args,
)
from fieldcast.engine.data.importers.npz import NpzSource, looks_like_npz
from fieldcast.engine.data.importers.pdebench import (
    PdebenchFlatSource,
    PdebenchGroupedSource,
    detect_pdebench,
)
from fieldcast.engine.data.store import DatasetError, open_h5
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.systems.base import SystemSpec

__all__ = [
    "ALIASES",
    "ChannelMapping",
    "GcodeSource",
    "ImportReport",
    "NpzSource",
    "PdebenchFlatSource",
    "PdebenchGroupedSource",
    "Source",
    "detect_format",
    "generic_spec_from_channels",
    "import_file",
    "map_channels",
    "open_source",
    "parse_map_args",
    "resolve_target",
]


def detect_format(path: str | os.PathLike) -> str:
    """``"well"``, ``"pdebench-flat"``, ``"pdebench-grouped"``, ``"npz"`` or ``"gcode"``; raises
    :class:`DatasetError`."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(p, "not found")
    if looks_like_npz(p):
        return "npz"
    if looks_like_gcode(p):
        return "gcode"
    if p.is_dir():
        raise DatasetError(p, "folder holds no .npz files")
    with open_h5(p) as f:
        if "t0_fields" in f or "t1_fields" in f or "dimensions" in f:
            return "well"
        kind = detect_pdebench(f)
    if kind is None:
        raise DatasetError(p, "HDF5 file in no known layout (expected The Well or PDEBench)")
    return f"pdebench-{kind}"


def open_source(path: str | os.PathLike, axes: str = "xy") -> Source:
    """The importer source for ``path`` (NPZ file/folder, PDEBench HDF5, or G-code simulated on the default
    printer)."""
    kind = detect_format(path)
    if kind == "npz":
        return NpzSource(path, axes=axes)
    if kind == "gcode":
        return GcodeSource(path)
    if kind == "pdebench-flat":
        return PdebenchFlatSource(path)
    if kind == "pdebench-grouped":
        return PdebenchGroupedSource(path)
    raise DatasetError(path, "is already a Well-layout file; open it directly instead of importing it")


def import_file(
    src: str | os.PathLike,
    out: str | os.PathLike,
    system: str | SystemSpec | None = None,
    mapping: Mapping[str, str] | None = None,
    *,
    axes: str = "xy",
    dt: float | None = None,
    compression: str | None = "gzip",
    token: CancelToken | None = None,
) -> Generator[Progress | ImportReport, None, None]:
    """Import ``src`` into a Fieldcast file ``out``: yields :class:`Progress`, then one :class:`ImportReport`.

    ``system`` is a registered system name or spec (None: the source's own system, e.g. ``trajectory``
    for G-code, else a generic spec built from the source's channels); ``mapping`` overrides the channel
    mapping, ``{"SRC": "DST"}``, ``"DST" == ""`` drops SRC; ``dt`` overrides the source's time step.
    G-code goes through :func:`~fieldcast.engine.data.importers.gcode.import_gcode`, which reports its
    parse, simulation and write progress in moves.
    """
    if detect_format(src) == "gcode":
        yield from import_gcode(src, out, system, mapping, dt=dt, compression=compression, token=token)
        return
    source = open_source(src, axes=axes)
    if system is None and source.system is not None:
        # The source speaks the system's own channel names: take them as they are unless told otherwise.
        system = source.system
        mapping = {name: name for name in source.channels} | dict(mapping or {})
    if dt is not None:
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        source.dt = float(dt)
    yield from run_import(source, out, system=system, overrides=mapping, token=token, compression=compression)
