"""Datasets as another tool would write them: a Well-layout HDF5 file and NPZ sequences, no Fieldcast
attribute, a system name Fieldcast does not know.

The physics is real and simple, so a surrogate has something to learn: a scalar ``u`` diffusing with a
conductivity map ``kappa`` (constant in time, different per trajectory) and drifting with a uniform wind,
explicit finite differences on a periodic grid. Persistence (copy the last frame) is wrong by the whole
change of one frame, so a trained model can beat it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

__all__ = ["simulate_heat", "write_heat_npz", "write_heat_well"]


def simulate_heat(n_traj: int, n_frames: int, grid: tuple[int, int], seed: int = 0):
    """``u`` (B, T, nx, ny) and ``kappa`` (B, nx, ny) of advection-diffusion runs, float32."""
    rng = np.random.default_rng(seed)
    nx, ny = grid
    x = np.arange(nx)[:, None]
    y = np.arange(ny)[None, :]
    us, kappas = [], []
    for _ in range(n_traj):
        kappa = 0.05 + 0.10 * (np.sin(2 * np.pi * (x / nx + rng.random())) > 0)  # two conductivities
        kappa = np.broadcast_to(kappa, grid).astype(np.float64)
        u = np.zeros(grid)
        for _ in range(3):  # warm blobs
            cx, cy, r = rng.random() * nx, rng.random() * ny, 1.5 + 2.0 * rng.random()
            dx = np.minimum(np.abs(x - cx), nx - np.abs(x - cx))
            dy = np.minimum(np.abs(y - cy), ny - np.abs(y - cy))
            u += np.exp(-(dx**2 + dy**2) / (2 * r * r))
        frames = []
        for _ in range(n_frames):
            frames.append(u.copy())
            for _ in range(4):  # sub-steps per stored frame (stable: 4 kappa + wind <= 1)
                lap = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
                drift = 0.25 * (u - np.roll(u, 1, 0))  # upwind, wind of 0.25 cell per sub-step along x
                u = u + kappa * lap - drift
        us.append(np.stack(frames))
        kappas.append(kappa)
    return np.asarray(us, np.float32), np.asarray(kappas, np.float32)


def write_heat_well(
    path: Path, n_traj: int = 3, n_frames: int = 20, grid=(16, 16), name: str = "lab_heatflow", seed: int = 0
) -> Path:
    """A Well-layout file: ``u`` time-varying (state), ``kappa`` constant per trajectory (conditioning)."""
    u, kappa = simulate_heat(n_traj, n_frames, grid, seed)
    with h5py.File(path, "w") as f:
        f.attrs.update(
            {"dataset_name": name, "grid_type": "cartesian", "n_spatial_dims": 2, "n_trajectories": n_traj}
        )
        f.attrs["simulation_parameters"] = ["wind"]
        f.attrs["wind"] = 0.25
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims.create_dataset("time", data=np.arange(n_frames) * 0.1)
        dims.create_dataset("x", data=np.linspace(0, 1, grid[0], endpoint=False))
        dims.create_dataset("y", data=np.linspace(0, 1, grid[1], endpoint=False))
        for k in ("time", "x", "y"):
            dims[k].attrs["sample_varying"] = False
        bc = f.create_group("boundary_conditions")
        bc.attrs["note"] = "periodic"
        f.create_group("scalars").attrs["field_names"] = []
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["u", "kappa"]
        d = t0.create_dataset("u", data=u)
        d.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        k = t0.create_dataset("kappa", data=kappa)
        k.attrs.update({"sample_varying": True, "time_varying": False, "dim_varying": [True, True]})
        for group in ("t1_fields", "t2_fields"):
            f.create_group(group).attrs["field_names"] = []
    return path


def write_heat_npz(folder: Path, n_traj: int = 3, n_frames: int = 20, grid=(16, 16), seed: int = 0) -> Path:
    """One ``.npz`` per run with ``heat`` (T, nx, ny), as a Blender/NumPy pipeline would save sequences."""
    folder.mkdir(parents=True, exist_ok=True)
    u, _ = simulate_heat(n_traj, n_frames, grid, seed)
    for i in range(n_traj):
        np.savez_compressed(folder / f"run_{i}.npz", heat=u[i])
    return folder
