"""Per-channel normalisation statistics, computed on the training split only, in one streaming pass.

Means and variances are combined block by block with Chan et al.'s parallel update, so the result does not
depend on how the data was chunked and never needs the whole split in memory.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress

if TYPE_CHECKING:
    from fieldcast.engine.data.reader import FieldDataset

__all__ = ["RunningStats", "iter_compute_stats", "stats_from_json", "stats_to_json"]

# A channel that never changes (a collider mask absent from every scene) has std 0; dividing by it would
# turn the channel into NaN, so such channels are normalised by 1 instead.
MIN_STD = 1e-12


class RunningStats:
    """Running per-channel count, mean, squared deviations, min and max of ``(T, C, nx, ny)`` blocks."""

    def __init__(self, n_channels: int) -> None:
        self.count = 0
        self.mean = np.zeros(n_channels, dtype=np.float64)
        self.m2 = np.zeros(n_channels, dtype=np.float64)
        self.min = np.full(n_channels, np.inf)
        self.max = np.full(n_channels, -np.inf)
        self.frames = 0

    def update(self, block: np.ndarray) -> None:
        """Add a block of frames, shape ``(T, C, nx, ny)``."""
        if block.size == 0:
            return
        x = np.moveaxis(block, 1, 0).reshape(block.shape[1], -1).astype(np.float64, copy=False)
        n = x.shape[1]
        # A NaN or Inf in the data makes the statistics NaN: the data checks report it, this must not raise.
        with np.errstate(invalid="ignore", over="ignore"):
            mean = x.mean(axis=1)
            m2 = ((x - mean[:, None]) ** 2).sum(axis=1)
            self._combine(n, mean, m2, x.min(axis=1), x.max(axis=1))
        self.frames += block.shape[0]

    def merge(self, other: RunningStats) -> None:
        """Add the statistics of another accumulator (e.g. of one trajectory)."""
        if other.count:
            self._combine(other.count, other.mean, other.m2, other.min, other.max)
            self.frames += other.frames

    def _combine(self, n: int, mean, m2, lo, hi) -> None:
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total
        self.min = np.minimum(self.min, lo)
        self.max = np.maximum(self.max, hi)

    def result(self) -> dict:
        """``mean``, ``std`` (population, floored as described above), ``min``, ``max`` as float32 (C,)."""
        if self.count == 0:
            raise ValueError("no frames to compute statistics from (is the training split empty?)")
        std = np.sqrt(self.m2 / self.count)
        std = np.where(std > MIN_STD, std, 1.0)
        return {
            "mean": self.mean.astype(np.float32),
            "std": std.astype(np.float32),
            "min": self.min.astype(np.float32),
            "max": self.max.astype(np.float32),
            "frames": int(self.frames),
        }


def iter_compute_stats(
    ds: FieldDataset,
    segments: Sequence[tuple[int, int, int]],
    token: CancelToken | None = None,
    block_bytes: int = 64 << 20,
) -> Generator[Progress, None, dict]:
    """Stream over ``segments`` of ``ds`` and return their statistics (the generator's return value).

    Frames are read in blocks of about ``block_bytes`` so memory stays bounded on large files.
    """
    acc = RunningStats(len(ds.channel_names))
    frame_bytes = 4 * len(ds.channel_names) * ds.grid[0] * ds.grid[1]
    step = max(1, block_bytes // max(frame_bytes, 1))
    total = sum(stop - start for _, start, stop in segments)
    done = 0
    for traj, start, stop in segments:
        for a in range(start, stop, step):
            if token is not None:
                token.raise_if_cancelled()
            n = min(step, stop - a)
            acc.update(ds.read_window(traj, a, n))
            done += n
            yield Progress("statistics", done, total, f"trajectory {traj}")
    return acc.result()


def stats_to_json(stats: dict) -> dict:
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in stats.items()}


def stats_from_json(data: dict, n_channels: int) -> dict | None:
    """Stats read from the file, or None if they are missing or do not match the channel count."""
    try:
        out = {k: np.asarray(data[k], dtype=np.float32) for k in ("mean", "std", "min", "max") if k in data}
    except (TypeError, ValueError):
        return None
    if "mean" not in out or "std" not in out:
        return None
    if any(v.shape != (n_channels,) for v in out.values()):
        return None
    out["frames"] = int(data.get("frames", 0))
    return out
