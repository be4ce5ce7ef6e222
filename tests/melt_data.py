"""Tiny simulated melt datasets for the training and GUI tests (tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path


def write_melt_dataset(path: Path, trajectories: int, frames: int, size: int) -> Path:
    """``trajectories`` melt runs (seeds 0, 1, ...) of ``frames`` frames, plate ``size`` × ``size // 2``."""
    from fieldcast.engine.data import DatasetWriter
    from fieldcast.engine.systems.melt import MELT_SPEC, simulate_trajectory, writer_options

    kwargs = writer_options(frames, size)
    grid = kwargs.pop("grid")
    with DatasetWriter(path, MELT_SPEC, n_frames=frames, grid=grid, dt=MELT_SPEC.dt, **kwargs) as w:
        for seed in range(trajectories):
            w.append(simulate_trajectory(seed, frames, size))
    return path
