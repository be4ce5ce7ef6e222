"""Random-window read throughput from a chunked Fieldcast file, next to a plain ``np.load`` of the same bytes.

Training reads windows (trajectory, start, history + K frames) at random; this measures how many MB/s of
float32 frames ``FieldDataset.read_window`` delivers that way, decompression included, and compares it
with loading the same array from an uncompressed ``.npy`` in one call (the fastest a loader could read
it). Both files are freshly written, so both are read from the OS page cache: the comparison is about
chunk lookup and decompression, not the disk.

The two are timed in alternating rounds; ``read_ratio`` compares the fastest round of each (the one other
work on the machine disturbed least), in CPU seconds of this process: what the read path itself costs.
``read_ratio_median`` is the median of the per-round ratios and ``read_ratio_wall`` the same as
``read_ratio`` in wall-clock seconds (equal on an idle machine).

Usage::

    python benchmarks/data_read.py [--trajectories 8] [--frames 32] [--grid 128] [--window 4]
                                   [--compression auto|gzip|lzf|none] [--rounds 9] [--seconds 0.5]

The last line is ``RESULT read_ratio=... read_ratio_median=... read_ratio_wall=... window_mb_s=...
npload_mb_s=...`` (MB/s of the fastest rounds, wall clock).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
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
    p.add_argument("--compression", choices=("auto", "gzip", "lzf", "none"), default="auto")
    p.add_argument("--rounds", type=int, default=9, help="alternating rounds of windows and np.load")
    p.add_argument("--seconds", type=float, default=0.5, help="time spent on each side of a round")
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
            total_bytes = full.nbytes
            del full
            window_bytes = args.window * ds.frame_nbytes
            starts = [
                (int(rng.integers(ds.n_trajectories)), int(rng.integers(ds.n_frames - args.window + 1)))
                for _ in range(100_000)
            ]
            ds.read_window(*starts[0], args.window)  # open the handle outside the timing
            np.load(npy_path)
            rounds = []  # (window cpu s/byte, window wall s/byte, load cpu s/byte, load wall s/byte)
            n_read = 0
            for _ in range(args.rounds):
                first, cpu0, wall0 = n_read, time.process_time(), time.perf_counter()
                while time.perf_counter() - wall0 < args.seconds:
                    traj, start = starts[n_read % len(starts)]
                    ds.read_window(traj, start, args.window)
                    n_read += 1
                n_bytes = (n_read - first) * window_bytes
                w_cpu, w_wall = (
                    (time.process_time() - cpu0) / n_bytes,
                    (time.perf_counter() - wall0) / n_bytes,
                )
                loads, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
                while loads < 2 or time.perf_counter() - wall0 < args.seconds:
                    np.load(npy_path)
                    loads += 1
                n_bytes = loads * total_bytes
                l_cpu, l_wall = (
                    (time.process_time() - cpu0) / n_bytes,
                    (time.perf_counter() - wall0) / n_bytes,
                )
                rounds.append((w_cpu, w_wall, l_cpu, l_wall))
        file_mb = h5_path.stat().st_size / 2**20
        with h5py.File(h5_path) as f:
            filters = {
                name: f[group][name].compression or "none"
                for group in ("t0_fields", "t1_fields")
                for name in f[group].attrs["field_names"]
            }

    r = np.array(rounds)
    read_ratio = float(r[:, 2].min() / r[:, 0].min())
    read_ratio_median = float(np.median(r[:, 2] / r[:, 0]))
    read_ratio_wall = float(r[:, 3].min() / r[:, 1].min())
    window_mb_s = float(1 / r[:, 1].min()) / 2**20
    npload_mb_s = float(1 / r[:, 3].min()) / 2**20
    n_channels = len(SPEC.channel_names())
    print(
        f"dataset: {args.trajectories} x {args.frames} frames of {args.grid}x{args.grid} x {n_channels} "
        f"channels = {total_bytes / 2**20:.1f} MiB ({file_mb:.1f} MiB on disk)"
    )
    print(f"compression {args.compression}: " + ", ".join(f"{k} {v}" for k, v in filters.items()))
    print(f"random windows of {args.window} frames: {n_read} reads over {args.rounds} rounds")
    print(f"per-round ratios (CPU): {' '.join(f'{x:.2f}' for x in r[:, 2] / r[:, 0])}")
    print(
        f"RESULT read_ratio={read_ratio:.3f} read_ratio_median={read_ratio_median:.3f} "
        f"read_ratio_wall={read_ratio_wall:.3f} "
        f"window_mb_s={window_mb_s:.1f} npload_mb_s={npload_mb_s:.1f}"
    )


if __name__ == "__main__":
    main()
