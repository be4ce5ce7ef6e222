"""Small files in every layout the data layer reads, written into a test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from fieldcast.engine.data import DatasetWriter
from fieldcast.engine.systems.base import FieldSpec, SystemSpec

SPEC = SystemSpec(
    name="toy",
    fields=(
        FieldSpec("density", role="state", units="kg/m^3"),
        FieldSpec("velocity", role="state", order=1, units="m/s"),
        FieldSpec("emitter", role="control"),
    ),
    dt=0.1,
    history=2,
)


def field_values(traj: int, n_frames: int, grid: tuple[int, int]) -> dict[str, np.ndarray]:
    """Deterministic fields where every value tells where it came from: 1000*traj + 10*frame + ..."""
    t = np.arange(n_frames, dtype=np.float32)[:, None, None]
    x = np.arange(grid[0], dtype=np.float32)[None, :, None]
    y = np.arange(grid[1], dtype=np.float32)[None, None, :]
    base = 1000.0 * traj + 10.0 * t + 0.01 * x + 0.0001 * y
    density = base + np.zeros((n_frames, *grid), dtype=np.float32)
    velocity = np.stack([density + 0.1, -density], axis=-1)
    emitter = (x + y + t < 4).astype(np.float32) + np.zeros((n_frames, *grid), dtype=np.float32)
    return {"density": density, "velocity": velocity, "emitter": emitter}


def write_fieldcast(path: Path, n_traj: int = 4, n_frames: int = 6, grid=(8, 6), **kwargs) -> Path:
    with DatasetWriter(path, SPEC, n_frames=n_frames, grid=grid, dt=SPEC.dt, **kwargs) as w:
        for i in range(n_traj):
            w.append(field_values(i, n_frames, grid))
    return path


def write_foreign_well(path: Path, n_traj: int = 2, n_frames: int = 5, grid=(8, 8)) -> Path:
    """A Well file as other tools write it: no Fieldcast attribute, a constant field, a t2 field."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs.update(
            {
                "dataset_name": "foreign",
                "grid_type": "cartesian",
                "n_spatial_dims": 2,
                "n_trajectories": n_traj,
            }
        )
        f.attrs["simulation_parameters"] = ["Re"]
        f.attrs["Re"] = 100.0
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims.create_dataset("time", data=np.linspace(0, 0.5, n_frames, endpoint=False))
        dims.create_dataset("x", data=np.linspace(0, 1, grid[0]))
        dims.create_dataset("y", data=np.linspace(0, 1, grid[1]))
        for k in ("time", "x", "y"):
            dims[k].attrs["sample_varying"] = False
        f.create_group("boundary_conditions")
        sc = f.create_group("scalars")
        sc.attrs["field_names"] = []
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["buoyancy", "mask"]
        d = t0.create_dataset("buoyancy", data=rng.random((n_traj, n_frames, *grid), dtype=np.float32))
        d.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        m = t0.create_dataset("mask", data=np.arange(grid[0], dtype=np.float32))  # constant, varies in x only
        m.attrs.update({"sample_varying": False, "time_varying": False, "dim_varying": [True, False]})
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = ["velocity"]
        v = t1.create_dataset("velocity", data=rng.random((n_traj, n_frames, *grid, 2), dtype=np.float32))
        v.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        t2 = f.create_group("t2_fields")
        t2.attrs["field_names"] = ["stress"]
        s = t2.create_dataset("stress", data=np.zeros((n_traj, n_frames, *grid, 2, 2), dtype=np.float32))
        s.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
    return path


def write_pdebench_flat(path: Path, n: int = 3, t: int = 4, grid=(8, 6)) -> Path:
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        for name in ("density", "Vx", "Vy", "pressure"):
            f.create_dataset(name, data=rng.random((n, t, *grid), dtype=np.float32))
        f.create_dataset("x-coordinate", data=np.linspace(0, 1, grid[0]))
        f.create_dataset("y-coordinate", data=np.linspace(0, 1, grid[1]))
        f.create_dataset("t-coordinate", data=np.linspace(0, 0.2 * t, t + 1))
    return path


def write_pdebench_grouped(path: Path, n: int = 2, t: int = 5, grid=(6, 8), c: int = 2) -> Path:
    rng = np.random.default_rng(2)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g.create_dataset("data", data=rng.random((t, *grid, c), dtype=np.float32))
            g.create_dataset("grid/x", data=np.linspace(0, 1, grid[0]))
            g.create_dataset("grid/y", data=np.linspace(0, 1, grid[1]))
            g.create_dataset("grid/t", data=np.linspace(0, 0.05 * (t - 1), t))
    return path


def write_npz_frames(folder: Path, n_frames: int = 5, grid=(8, 6), yx: bool = False) -> Path:
    """A Blender/Mantaflow-style folder: frame_0001.npz ... with density, vel_x, vel_z, collider, junk."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_frames):
        vals = field_values(0, n_frames, grid)
        arrays = {
            "density": vals["density"][k],
            "vel_x": vals["velocity"][k, ..., 0],
            "vel_z": vals["velocity"][k, ..., 1],
            "collider": (vals["density"][k] > 5).astype(np.uint8),
            "junk": np.ones(grid, dtype=np.float32),
            "dt": np.float64(0.04),
        }
        if yx:
            arrays = {n: (a.T if a.ndim == 2 else a) for n, a in arrays.items()}
        np.savez(folder / f"frame_{k + 1}.npz", **arrays)  # natural order: frame_10 after frame_9
    return folder


def write_npz_sequences(folder: Path, n_traj: int = 3, n_frames: int = 4, grid=(8, 6)) -> Path:
    """One .npz per trajectory with density (T, nx, ny) and velocity (T, nx, ny, 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_traj):
        vals = field_values(i, n_frames, grid)
        np.savez_compressed(
            folder / f"sim_{i}.npz",
            density=vals["density"],
            velocity=vals["velocity"],
            emitter=vals["emitter"],
        )
    return folder
