"""On-disk conventions of a Fieldcast dataset: The Well HDF5 layout plus one Fieldcast root attribute.

A Fieldcast file is a plain The Well file (root attributes ``dataset_name``, ``grid_type``,
``n_spatial_dims``, ``n_trajectories``, ``simulation_parameters``; groups ``dimensions``,
``boundary_conditions``, ``scalars``, ``t0_fields``/``t1_fields``/``t2_fields``) so that
``the_well.data.WellDataset`` reads it. Everything Fieldcast needs beyond that lives in the JSON root
attribute ``fieldcast``::

    {"format_version": 1, "complete": true, "spec": {...}, "splits": {...}, "stats": {...}, "import": {...}}

Keeping it in one attribute means a foreign Well file is simply a file without it, and updating splits or
statistics never touches the field arrays.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.systems.base import SystemSpec, spec_from_dict, spec_to_dict

__all__ = [
    "FIELDCAST_ATTR",
    "FIELD_GROUPS",
    "FORMAT_VERSION",
    "DatasetError",
    "atomic_update_meta",
    "decode_attr",
    "open_h5",
    "read_meta",
    "spec_from_json",
    "spec_to_json",
]

FORMAT_VERSION = 1
FIELDCAST_ATTR = "fieldcast"
FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")
SPATIAL_DIMS = ("x", "y")

# Sizes beyond these are treated as a damaged or crafted header rather than real data: no desktop
# dataset has a 100k-cell axis or a petabyte of fields, and trusting such numbers would make us allocate.
MAX_AXIS = 65536
MAX_FRAMES = 10_000_000
MAX_TOTAL_BYTES = 1 << 42  # 4 TiB
# Splits, statistics and a spec take kilobytes; tens of megabytes of metadata is a crafted attribute.
MAX_META_CHARS = 32 << 20


class DatasetError(ValueError):
    """A file cannot be used as a dataset; ``str(err)`` is ``"PATH: problem"``, one line for a person.

    Attributes
    ----------
    path : the file (or folder) the problem is in.
    problem : what is wrong, without the path.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever libhdf5 put in it
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):
        # Default exception pickling passes only args; keep (path, problem) so errors cross processes.
        return (type(self), (self.path, self.problem))


def decode_attr(value: Any) -> Any:
    """Turn an h5py attribute value into plain Python (bytes -> str, numpy scalars/arrays -> lists)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [decode_attr(v) for v in value.tolist()]
    if isinstance(value, list):
        return [decode_attr(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_h5(path: str | os.PathLike, mode: str = "r", **kwargs):
    """Open an HDF5 file, turning libhdf5's failures into a :class:`DatasetError` a person can read."""
    import h5py

    p = Path(path)
    if mode == "r":
        if not p.exists():
            raise DatasetError(path, "file not found")
        if p.is_dir():
            raise DatasetError(path, "is a folder, not an HDF5 file")
        if p.stat().st_size == 0:
            raise DatasetError(path, "file is empty")
        if not _has_hdf5_signature(p):
            raise DatasetError(path, "not an HDF5 file (no HDF5 signature; is it a text or another format?)")
    try:
        return h5py.File(p, mode, **kwargs)
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            raise DatasetError(path, "HDF5 file is truncated (incomplete download or copy?)") from None
        if "signature" in text:
            raise DatasetError(path, "not an HDF5 file") from None
        if "lock" in text.lower():
            raise DatasetError(
                path, "file is locked by another program (is it still being written?)"
            ) from None
        raise DatasetError(path, f"cannot open HDF5 file ({text})") from None


def _has_hdf5_signature(path: Path) -> bool:
    # The superblock signature sits at offset 0, 512, 1024, ... (a user block may precede it).
    sig = b"\x89HDF\r\n\x1a\n"
    size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == sig:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def spec_to_json(spec: SystemSpec) -> dict:
    """The spec as stored in a file's Fieldcast attribute (:func:`~fieldcast.engine.systems.spec_to_dict`)."""
    return spec_to_dict(spec)


def spec_from_json(data: Mapping[str, Any]) -> SystemSpec:
    """Rebuild a stored spec (:func:`~fieldcast.engine.systems.spec_from_dict`); ValueError naming the key."""
    return spec_from_dict(data)


def read_meta(h5file, path: str | os.PathLike) -> dict | None:
    """The parsed Fieldcast attribute of an open file, or None for a foreign Well file."""
    if FIELDCAST_ATTR not in h5file.attrs:
        return None
    from fieldcast.engine.limits import MAX_JSON_DEPTH, nesting_depth

    raw = decode_attr(h5file.attrs[FIELDCAST_ATTR])
    if not isinstance(raw, str):
        raise DatasetError(path, f"the '{FIELDCAST_ATTR}' attribute is not a JSON text")
    if len(raw) > MAX_META_CHARS:
        raise DatasetError(
            path, f"the '{FIELDCAST_ATTR}' attribute holds {len(raw):,} characters, far beyond any metadata"
        )
    depth = nesting_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise DatasetError(path, f"the '{FIELDCAST_ATTR}' attribute is nested {depth} levels deep (damaged?)")
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        raise DatasetError(path, f"the '{FIELDCAST_ATTR}' attribute is not valid JSON") from None
    if not isinstance(meta, dict):
        raise DatasetError(path, f"the '{FIELDCAST_ATTR}' attribute is not a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DatasetError(
            path, f"written by a newer Fieldcast (format version {version}); this one reads {FORMAT_VERSION}"
        )
    return meta


def write_meta(h5file, meta: Mapping[str, Any]) -> None:
    """Store ``meta`` as the Fieldcast attribute (numpy arrays become lists)."""
    h5file.attrs[FIELDCAST_ATTR] = json.dumps(meta, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the Fieldcast attribute")


def atomic_update_meta(path: str | os.PathLike, update: Mapping[str, Any]) -> None:
    """Merge ``update`` into the Fieldcast attribute of ``path`` so that a crash leaves the old file whole.

    libhdf5 gives no crash guarantee for in-place edits: a half-written object header can make the whole
    file unreadable, which would cost the user every trajectory to change a split. So the file is copied
    next to itself, the copy is edited and fsynced, and ``os.replace`` swaps it in (atomic on POSIX and
    Windows). The copy costs one sequential pass over the file, less than recomputing the statistics.
    Readers that hold the old file open keep reading the old inode on POSIX; on Windows the replace fails
    while another process has the file open, and the error says so.
    """
    src = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".tmp", dir=src.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(src, tmp)
        with open_h5(tmp, "r+") as f:
            meta = read_meta(f, path) or {"format_version": FORMAT_VERSION, "complete": True}
            meta.update(update)
            meta["format_version"] = FORMAT_VERSION
            write_meta(f, meta)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, src)
        except PermissionError:
            raise DatasetError(path, "cannot replace the file: another program has it open") from None
    finally:
        if tmp.exists():
            tmp.unlink()
