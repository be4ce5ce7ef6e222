"""Random-window read throughput from a chunked Fieldcast file, next to a plain ``np.load`` of the same bytes.

Training reads windows (trajectory, start, history + K frames) at random; this measures how many MB/s of
float32 frames ``FieldDataset.read_window`` delivers that way, decompression included, and compares it
with loading the same array from an uncompressed ``.npy`` in one call (the fastest a loader could read
it). Both files are freshly written, so both are read from the OS page cache: the comparison is about
chunk lookup and decompression, not the disk.

Usage::

    python benchmarks/data_read.py [--trajectories 8] [--frames 32] [--grid 128] [--window 4]
                                   [--compression gzip|lzf|none] [--seconds 3]

The last line is ``RESULT window_mb_s=... npload_mb_s=... ratio=...``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fieldcast.engine.data import DatasetWriter, open_dataset
from fieldcast.engine.systems.base import FieldSpec, SystemSpec

SPEC = SystemSpec(
    name="bench",
    fields=(FieldSpec("density"), FieldSpec("velocity", order=1), FieldSpec("emitter", role="control")),
)


def smooth_fields(rng: np.random.Generator, n_frames: int, n: int) -> dict[str, np.ndarray]:
    """Fields that look like a simulation (smooth waves plus a little noise), so compression is realistic."""
    x = np.linspace(0, 2 * np.pi, n, dtype=np.float32)
    t = np.arange(n_frames, dtype=np.float32)[:, None, None]
    kx, ky, phase = rng.uniform(1, 4, 3)
    base = np.sin(kx * x[None, :, None] + 0.1 * t + phase) * np.cos(ky * x[None, None, :] - 0.05 * t)
    noise = 0.01 * rng.standard_normal((n_frames, n, n), dtype=np.float32)
    density = (base + noise).astype(np.float32)
    velocity = np.stack([np.roll(density, 3, axis=1), -np.roll(density, 5, axis=2)], axis=-1)
    emitter = np.broadcast_to((np.abs(x[:, None] - 1.0) < 0.3).astype(np.float32), (n_frames, n, n)).copy()
    return {"density": density, "velocity": velocity, "emitter": emitter}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trajectories", type=int, default=8)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--grid", type=int, default=128)
    p.add_argument("--window", type=int, default=4, help="frames per window (history + future)")
    p.add_argument("--compression", choices=("gzip", "lzf", "none"), default="gzip")
    p.add_argument("--seconds", type=float, default=3.0, help="time spent reading random windows")
    args = p.parse_args()

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="fieldcast-bench-") as tmp:
        h5_path, npy_path = Path(tmp) / "data.h5", Path(tmp) / "data.npy"
        compression = None if args.compression == "none" else args.compression
        with DatasetWriter(h5_path, SPEC, args.frames, (args.grid, args.grid), compression=compression) as w:
            for _ in range(args.trajectories):
                w.append(smooth_fields(rng, args.frames, args.grid))

        with open_dataset(h5_path) as ds:
            full = np.stack([ds.read_window(i, 0, ds.n_frames) for i in range(ds.n_trajectories)])
            np.save(npy_path, full)  # (B, T, C, nx, ny): the same bytes, uncompressed
            total_mb = full.nbytes / 2**20
            del full

            starts = [
                (int(rng.integers(ds.n_trajectories)), int(rng.integers(ds.n_frames - args.window + 1)))
                for _ in range(100_000)
            ]
            ds.read_window(*starts[0], args.window)  # open the handle outside the timing
            n_read, t_start = 0, time.perf_counter()
            while time.perf_counter() - t_start < args.seconds:
                traj, start = starts[n_read % len(starts)]
                ds.read_window(traj, start, args.window)
                n_read += 1
            window_s = time.perf_counter() - t_start
            window_mb = n_read * args.window * ds.frame_nbytes / 2**20

        loads, t_start = 0, time.perf_counter()
        while loads < 3 or time.perf_counter() - t_start < min(args.seconds, 1.0):
            np.load(npy_path)
            loads += 1
        npload_s = time.perf_counter() - t_start
        file_mb = h5_path.stat().st_size / 2**20

    window_mb_s = window_mb / window_s
    npload_mb_s = loads * total_mb / npload_s
    n_channels = len(SPEC.channel_names())
    print(
        f"dataset: {args.trajectories} x {args.frames} frames of {args.grid}x{args.grid} x {n_channels} "
        f"channels = {total_mb:.1f} MiB ({file_mb:.1f} MiB on disk, {args.compression})"
    )
    print(f"random windows of {args.window} frames: {n_read} reads in {window_s:.2f} s")
    print(f"np.load of the whole array: {loads} loads in {npload_s:.2f} s")
    ratio = window_mb_s / npload_mb_s
    print(f"RESULT window_mb_s={window_mb_s:.1f} npload_mb_s={npload_mb_s:.1f} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
