"""Tiny simulated melt datasets for the training and GUI tests (tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A small, fast pool (low power, quick scan) on a 32-cell plate: it melts and solidifies several times in
# 40 frames, so every few frames has newly solid cells whose orientation a model can learn and copying the
# last frame cannot give.
QUICK_POOL = {"power": (60.0, 90.0), "speed": (0.6, 0.9)}


def write_melt_dataset(path: Path, trajectories: int, frames: int, size: int, **options: Any) -> Path:
    """``trajectories`` melt runs (seeds 0, 1, ...) of ``frames`` frames, plate ``size`` × ``size // 2``.

    ``options`` go to the scene sampler (e.g. :data:`QUICK_POOL`).
    """
    from fieldcast.engine.data import DatasetWriter
    from fieldcast.engine.systems.melt import MELT_SPEC, simulate_trajectory, writer_options

    kwargs = writer_options(frames, size)
    grid = kwargs.pop("grid")
    with DatasetWriter(path, MELT_SPEC, n_frames=frames, grid=grid, dt=MELT_SPEC.dt, **kwargs) as w:
        for seed in range(trajectories):
            w.append(simulate_trajectory(seed, frames, size, **options))
    return path
