"""The writer's default filter: gzip for fields it shrinks a lot (masks), none for float fields, and random
training windows from such a file read about as fast as an uncompressed array."""

from __future__ import annotations

import time

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


def test_random_windows_read_near_the_speed_of_np_load(tmp_path):
    """CPU time per byte (robust on a busy machine) of random 4-frame windows against np.load."""
    rng = np.random.default_rng(1)
    frames, n = 16, 64
    with DatasetWriter(tmp_path / "w.h5", SPEC, frames, (n, n)) as w:
        for _ in range(4):
            w.append(_fields(rng, frames, n))
    with open_dataset(tmp_path / "w.h5") as ds:
        whole = np.stack([ds.read_window(i, 0, frames) for i in range(4)])
        np.save(tmp_path / "w.npy", whole)
        starts = [(int(rng.integers(4)), int(rng.integers(frames - 3))) for _ in range(400)]
        ratios = []
        for _ in range(3):
            t = time.process_time()
            for traj, start in starts:
                ds.read_window(traj, start, 4)
            window_s = (time.process_time() - t) / (len(starts) * 4 * ds.frame_nbytes)
            t = time.process_time()
            for _ in range(20):
                np.load(tmp_path / "w.npy")
            load_s = (time.process_time() - t) / (20 * whole.nbytes)
            ratios.append(load_s / window_s)
    # The benchmark (benchmarks/data_read.py) asks for 0.5x on 128² frames; tiny frames carry more
    # per-read overhead, so the test holds a lower bar that gzip everywhere (about 0.1x) cannot meet.
    assert max(ratios) > 0.25, ratios


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
