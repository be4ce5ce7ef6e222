"""Structural check of a Well-layout HDF5 file: what fields it holds and how to index them.

Only metadata is read here (attributes and shapes), so checking a multi-gigabyte file is instant. Every
problem becomes one :class:`DatasetError` naming the file and what is wrong.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from fieldcast.engine.data.links import check_dataset_source, check_stored_bytes
from fieldcast.engine.data.store import (
    FIELD_GROUPS,
    MAX_AXIS,
    MAX_FRAMES,
    MAX_TOTAL_BYTES,
    DatasetError,
    decode_attr,
    read_meta,
    spec_from_json,
)
from fieldcast.engine.limits import format_bytes, frame_budget
from fieldcast.engine.systems.base import MAX_NAME, FieldSpec, SystemSpec

__all__ = ["FieldLayout", "Layout", "inspect_layout"]

_REAL_KINDS = "biuf"  # bool, signed, unsigned, float: all convert to float32 without surprise


@dataclass(frozen=True)
class FieldLayout:
    """Where one field lives and which leading axes its array has."""

    name: str
    order: int
    path: str  # "t0_fields/density"
    sample_varying: bool
    time_varying: bool
    dim_varying: tuple[bool, ...]
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Layout:
    """Everything :class:`~fieldcast.engine.data.reader.FieldDataset` needs, read once from the file."""

    dataset_name: str
    spec: SystemSpec
    n_trajectories: int
    n_frames: int
    grid: tuple[int, int]
    dt: float
    t0: float
    fields: tuple[FieldLayout, ...]  # in spec order
    skipped: tuple[str, ...]  # fields in the file Fieldcast cannot use, with the reason
    meta: dict | None
    simulation_parameters: dict = field(default_factory=dict)
    boundary_conditions: dict = field(default_factory=dict)


def _attr(obj, name: str, path, where: str):
    if name not in obj.attrs:
        raise DatasetError(path, f"{where} has no '{name}' attribute (not a The Well layout file)")
    return decode_attr(obj.attrs[name])


def _group(f, name: str, path):
    import h5py

    if name not in f:
        raise DatasetError(path, f"missing group '{name}' (not a The Well layout file)")
    obj = f[name]
    if not isinstance(obj, h5py.Group):
        raise DatasetError(path, f"'{name}' is not a group")
    return obj


def _axis_length(dims, name: str, path) -> int:
    import h5py

    if name not in dims or not isinstance(dims[name], h5py.Dataset):
        raise DatasetError(path, f"missing dataset 'dimensions/{name}'")
    shape = dims[name].shape
    if shape is None or len(shape) == 0:
        raise DatasetError(path, f"'dimensions/{name}' is a scalar; expected a coordinate array")
    return int(shape[-1])


def _read_time(dims, n_frames: int, path) -> tuple[float, float]:
    check_dataset_source(dims, "time", "dimensions/time", path)
    t = np.asarray(dims["time"][0] if dims["time"].ndim > 1 else dims["time"][:], dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise DatasetError(path, "'dimensions/time' contains NaN or Inf")
    if n_frames > 1 and not np.all(np.diff(t) > 0):
        raise DatasetError(path, "'dimensions/time' is not strictly increasing")
    dt = float(t[1] - t[0]) if n_frames > 1 else 1.0
    return float(t[0]), dt


def _field_layouts(f, path, n_frames: int, grid: tuple[int, int], n_traj: int):

    layouts: list[FieldLayout] = []
    skipped: list[str] = []
    groups = [g for g in FIELD_GROUPS if g in f]
    if not groups:
        raise DatasetError(path, "missing groups 't0_fields'/'t1_fields' (not a The Well layout file)")
    for order, gname in enumerate(FIELD_GROUPS):
        if gname not in f:
            continue
        group = _group(f, gname, path)
        for name in _attr(group, "field_names", path, f"group '{gname}'"):
            name = str(name)
            where = f"{gname}/{name}"
            ds = check_dataset_source(group, name, where, path)
            if ds is None:
                raise DatasetError(path, f"'{gname}' lists field '{name}' but has no such dataset")
            if order > 1:
                skipped.append(f"{where}: tensor order {order} is not supported")
                continue
            if ds.dtype.kind not in _REAL_KINDS:
                raise DatasetError(path, f"'{where}' has dtype {ds.dtype}; expected real numbers")
            sample = bool(decode_attr(ds.attrs.get("sample_varying", True)))
            time = bool(decode_attr(ds.attrs.get("time_varying", True)))
            dims = tuple(bool(v) for v in decode_attr(ds.attrs.get("dim_varying", [True, True])))
            if len(dims) != 2:
                raise DatasetError(path, f"'{where}' has dim_varying of length {len(dims)}; expected 2")
            expected = [n_traj] if sample else []
            expected += [n_frames] if time else []
            expected += [n for n, varying in zip(grid, dims, strict=True) if varying]
            expected += [2] * order
            names = (["B"] if sample else []) + (["T"] if time else []) + ["nx", "ny"] + ["2"] * order
            shape = tuple(int(s) for s in ds.shape)
            if len(shape) != len(expected):
                raise DatasetError(
                    path, f"'{where}' has rank {len(shape)} {shape}; expected ({', '.join(names)})"
                )
            if sample and shape[0] < n_traj:
                raise DatasetError(
                    path, f"'{where}' holds {shape[0]} trajectories but the file says {n_traj}"
                )
            if list(shape[1 if sample else 0 :]) != expected[1 if sample else 0 :]:
                raise DatasetError(
                    path,
                    f"'{where}' has shape {shape}; expected {tuple(expected)} from the time and x/y axes",
                )
            layouts.append(FieldLayout(name, order, where, sample, time, dims, shape, str(ds.dtype)))
    return layouts, skipped


def _generic_spec(dataset_name: str, layouts: list[FieldLayout], dt: float) -> SystemSpec:
    fields = tuple(
        FieldSpec(name=fl.name, role="state" if fl.time_varying else "conditioning", order=fl.order)
        for fl in layouts
    )
    name = f"generic:{dataset_name}"[:MAX_NAME]
    return SystemSpec(name=name, fields=fields, dt=dt, description="imported Well file")


def _order_by_spec(spec: SystemSpec, layouts: list[FieldLayout], path) -> tuple[FieldLayout, ...]:
    by_name = {fl.name: fl for fl in layouts}
    ordered = []
    for fs in spec.fields:
        fl = by_name.get(fs.name)
        if fl is None:
            raise DatasetError(path, f"system '{spec.name}' needs field '{fs.name}', which the file lacks")
        if fl.order != fs.order:
            raise DatasetError(
                path, f"field '{fs.name}' has tensor order {fl.order}; the spec says {fs.order}"
            )
        ordered.append(fl)
    return tuple(ordered)


def _simulation_parameters(f) -> dict:
    out = {}
    for name in decode_attr(f.attrs.get("simulation_parameters", [])) or []:
        name = str(name)
        if name in f.attrs:
            out[name] = decode_attr(f.attrs[name])
    return out


def _boundary_conditions(f) -> dict:
    import h5py

    out = {}
    if "boundary_conditions" in f and isinstance(f["boundary_conditions"], h5py.Group):
        for name, grp in f["boundary_conditions"].items():
            out[name] = {
                "bc_type": str(decode_attr(grp.attrs.get("bc_type", "?"))),
                "associated_dims": decode_attr(grp.attrs.get("associated_dims", [])),
            }
    return out


def inspect_layout(f, path: str | os.PathLike) -> Layout:
    """Check the structure of the open Well file ``f`` and describe it; raises :class:`DatasetError`."""
    ndims = _attr(f, "n_spatial_dims", path, "the file")
    if int(ndims) != 2:
        raise DatasetError(path, f"has {ndims} spatial dimensions; Fieldcast handles 2D fields only")
    dims = _group(f, "dimensions", path)
    spatial = [str(s) for s in decode_attr(dims.attrs.get("spatial_dims", ["x", "y"]))]
    if len(spatial) != 2:
        raise DatasetError(path, f"'dimensions' lists spatial dims {spatial}; expected two")
    grid = (_axis_length(dims, spatial[0], path), _axis_length(dims, spatial[1], path))
    n_frames = _axis_length(dims, "time", path)
    n_traj = int(_attr(f, "n_trajectories", path, "the file"))
    for label, n, limit in (
        ("x", grid[0], MAX_AXIS),
        ("y", grid[1], MAX_AXIS),
        ("time", n_frames, MAX_FRAMES),
    ):
        if n <= 0:
            raise DatasetError(path, f"the {label} axis has zero length")
        if n > limit:
            raise DatasetError(path, f"the {label} axis claims {n} entries, an absurd size (damaged header?)")
    if n_traj <= 0:
        raise DatasetError(path, "holds no trajectories (n_trajectories is 0)")
    if n_traj > MAX_FRAMES:
        raise DatasetError(path, f"claims {n_traj} trajectories, an absurd size (damaged header?)")
    layouts, skipped = _field_layouts(f, path, n_frames, grid, n_traj)
    if not layouts:
        raise DatasetError(path, "has no 2D scalar or vector fields Fieldcast can read")
    total = sum(math.prod(fl.shape) * 4 for fl in layouts)
    if total > MAX_TOTAL_BYTES:
        raise DatasetError(
            path, f"claims {total / 2**40:.0f} TiB of fields, an absurd size (damaged header?)"
        )
    _check_frame_size(layouts, grid, path)
    _check_stored_bytes(f, layouts, path)
    t0, dt = _read_time(dims, n_frames, path)
    meta = read_meta(f, path)
    dataset_name = str(decode_attr(f.attrs.get("dataset_name", _stem(path))))
    if meta is not None and "spec" in meta:
        try:
            spec = spec_from_json(meta["spec"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(path, f"the Fieldcast attribute has a broken system spec ({exc})") from None
        ordered = _order_by_spec(spec, layouts, path)
        dt = float(spec.dt)
        if not (math.isfinite(dt) and dt > 0):
            raise DatasetError(path, f"the system spec's dt = {dt:g} is not a positive time step")
    else:
        spec = _generic_spec(dataset_name, layouts, dt)
        ordered = tuple(layouts)
    return Layout(
        dataset_name=dataset_name,
        spec=spec,
        n_trajectories=n_traj,
        n_frames=n_frames,
        grid=grid,
        dt=dt,
        t0=t0,
        fields=ordered,
        skipped=tuple(skipped),
        meta=meta,
        simulation_parameters=_simulation_parameters(f),
        boundary_conditions=_boundary_conditions(f),
    )


def _check_frame_size(layouts: list[FieldLayout], grid: tuple[int, int], path) -> None:
    """One frame of every channel, as float32, must fit the frame budget before anything is read."""
    channels = sum(2 if fl.order == 1 else 1 for fl in layouts)
    nbytes = 4 * channels * grid[0] * grid[1]
    limit = frame_budget()
    if nbytes > limit:
        raise DatasetError(
            path,
            f"one frame ({grid[0]} x {grid[1]}, {channels} channels) needs {format_bytes(nbytes)}, over the "
            f"{format_bytes(limit)} a frame may take (set FIELDCAST_MEMORY_BUDGET_MB to allow more)",
        )


def _check_stored_bytes(f, layouts: list[FieldLayout], path) -> None:
    for fl in layouts:
        check_stored_bytes(f[fl.path], fl.path, path)


def _stem(path) -> str:
    return os.path.splitext(os.path.basename(str(path)))[0]
