"""The writer's default filter: gzip for fields it shrinks a lot (masks), none for float fields, and random
training windows from such a file read about as fast as an uncompressed array."""

from __future__ import annotations

import h5py
import numpy as np

from fieldcast.engine.data import DatasetWriter, open_dataset
from fieldcast.engine.systems.base import FieldSpec, SystemSpec

SPEC = SystemSpec(
    name="toy",
    fields=(FieldSpec("density"), FieldSpec("velocity", order=1), FieldSpec("emitter", role="control")),
)


def _fields(rng, frames, n):
    density = rng.standard_normal((frames, n, n)).astype(np.float32)
    velocity = rng.standard_normal((frames, n, n, 2)).astype(np.float32)
    emitter = np.zeros((frames, n, n), np.float32)
    emitter[:, 2:5, 3:6] = 1.0
    return {"density": density, "velocity": velocity, "emitter": emitter}


def test_auto_gzips_masks_and_leaves_float_fields_plain(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "auto.h5"
    with DatasetWriter(path, SPEC, 5, (16, 16)) as w:
        first = _fields(rng, 5, 16)
        w.append(first)
        w.append(_fields(rng, 5, 16))
    with h5py.File(path) as f:
        assert f["t0_fields/emitter"].compression == "gzip"
        assert f["t0_fields/density"].compression is None
        assert f["t1_fields/velocity"].compression is None
    with open_dataset(path) as ds:
        window = ds.read_window(0, 1, 3)
    np.testing.assert_array_equal(window[:, 0], first["density"][1:4])
    np.testing.assert_array_equal(window[:, 3], first["emitter"][1:4])


def test_auto_with_no_trajectory_still_writes_a_valid_layout(tmp_path):
    path = tmp_path / "empty.h5"
    DatasetWriter(path, SPEC, 4, (8, 8)).close()
    with h5py.File(path) as f:
        assert f["t1_fields/velocity"].shape == (0, 4, 8, 8, 2)


def test_random_windows_touch_only_plain_whole_frame_chunks(tmp_path):
    """What makes random training windows read near np.load's speed (measured by benchmarks/data_read.py,
    not here: a timed test flakes on a busy machine): float fields stay uncompressed, chunks hold whole
    frames of one trajectory and no more than a small window's worth, and a window reads back exact."""
    rng = np.random.default_rng(1)
    frames, n = 16, 64
    written = []
    with DatasetWriter(tmp_path / "w.h5", SPEC, frames, (n, n)) as w:
        for _ in range(4):
            written.append(_fields(rng, frames, n))
            w.append(written[-1])
    with h5py.File(tmp_path / "w.h5") as f:
        for key in ("t0_fields/density", "t1_fields/velocity"):
            d = f[key]
            assert d.compression is None, key
            assert d.chunks[0] == 1 and d.chunks[2:] == d.shape[2:], (key, d.chunks)
            # At most 64 KiB (rounded up to whole frames): a 4-frame window never inflates a whole trajectory.
            assert d.chunks[1] * d.dtype.itemsize * np.prod(d.shape[2:]) <= max(
                64 << 10, d.dtype.itemsize * np.prod(d.shape[2:])
            ), d.chunks
    with open_dataset(tmp_path / "w.h5") as ds:
        for traj, start in [(int(rng.integers(4)), int(rng.integers(frames - 3))) for _ in range(20)]:
            window = ds.read_window(traj, start, 4)
            np.testing.assert_array_equal(window[:, 0], written[traj]["density"][start : start + 4])
            np.testing.assert_array_equal(window[:, 1], written[traj]["velocity"][start : start + 4, ..., 0])


def test_auto_chooses_from_the_first_piece_of_a_trajectory_written_in_pieces(tmp_path):
    rng = np.random.default_rng(2)
    whole = _fields(rng, 6, 16)
    pieces = [{k: v[a : a + 3] for k, v in whole.items()} for a in (0, 3)]
    path = tmp_path / "pieces.h5"
    with DatasetWriter(path, SPEC, 6, (16, 16)) as w:
        w.append_frames(pieces)
    with h5py.File(path) as f:
        assert f["t0_fields/emitter"].compression == "gzip"
        assert f["t0_fields/density"].compression is None
    with open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.read_window(0, 0, 6)[:, 0], whole["density"])
