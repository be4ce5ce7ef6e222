"""Writing, lazy reading, splits and statistics of the Fieldcast store."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from data_files import SPEC, field_values, write_fieldcast, write_foreign_well

from fieldcast.engine.data import (
    DatasetError,
    DatasetWriter,
    open_dataset,
    set_splits,
    split_by_time,
    split_by_trajectory,
    split_explicit,
)
from fieldcast.engine.jobs import Cancelled, CancelToken


def test_round_trip_window_and_frame(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=3, n_frames=6, grid=(8, 6))
    with open_dataset(path) as ds:
        assert ds.spec == SPEC
        assert (ds.n_trajectories, ds.n_frames, ds.grid) == (3, 6, (8, 6))
        assert ds.dt == pytest.approx(0.1)
        assert ds.channel_names == ["density", "velocity_x", "velocity_y", "emitter"]
        w = ds.read_window(2, 1, 3)
        assert w.shape == (3, 4, 8, 6) and w.dtype == np.float32
        ref = field_values(2, 6, (8, 6))
        np.testing.assert_array_equal(w[:, 0], ref["density"][1:4])
        np.testing.assert_array_equal(w[:, 1], ref["velocity"][1:4, ..., 0])
        np.testing.assert_array_equal(w[:, 2], ref["velocity"][1:4, ..., 1])
        np.testing.assert_array_equal(w[:, 3], ref["emitter"][1:4])
        frame = ds.read_frame(1, 4, "velocity_y")
        assert frame.shape == (8, 6) and frame.dtype == np.float32
        np.testing.assert_array_equal(frame, field_values(1, 6, (8, 6))["velocity"][4, ..., 1])
        assert ds.channel_units()["velocity_x"] == "m/s"
        with pytest.raises(IndexError):
            ds.read_window(0, 4, 3)
        with pytest.raises(KeyError):
            ds.read_frame(0, 0, "pressure")


def test_file_follows_the_well_layout(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=2)
    with h5py.File(path) as f:
        assert f.attrs["grid_type"] == "cartesian" and f.attrs["n_spatial_dims"] == 2
        assert f.attrs["n_trajectories"] == 2
        assert list(f["t0_fields"].attrs["field_names"]) == ["density", "emitter"]
        vel = f["t1_fields/velocity"]
        assert vel.shape == (2, 6, 8, 6, 2) and vel.chunks[:2] == (1, 6)
        assert bool(vel.attrs["sample_varying"]) and bool(vel.attrs["time_varying"])
        assert list(f["dimensions"].attrs["spatial_dims"]) == ["x", "y"]
        assert f["dimensions/time"].shape == (6,)


def test_reading_is_lazy_and_pickles(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=2)
    ds = open_dataset(path)
    assert ds._h5 is None  # metadata read, no handle kept until data is asked for
    ds.read_frame(0, 0, "density")
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._h5 is None
    np.testing.assert_array_equal(clone.read_window(1, 2, 2), ds.read_window(1, 2, 2))
    clone.close()
    ds.close()


def test_default_split_and_train_only_stats(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=10, n_frames=5)
    with open_dataset(path) as ds:
        segs = {n: ds.split_segments(n) for n in ("train", "valid", "test")}
        assert len(segs["train"]) >= 6 and segs["valid"] and segs["test"]
        trajs = sorted(t for s in segs.values() for t, _, _ in s)
        assert trajs == list(range(10))
        assert ds.has_stored_splits and ds.has_stored_stats
        train = np.concatenate([ds.read_window(t, a, b - a) for t, a, b in segs["train"]])
        stats = ds.stats
        np.testing.assert_allclose(stats["mean"], train.mean(axis=(0, 2, 3)), rtol=1e-5)
        np.testing.assert_allclose(stats["std"], train.std(axis=(0, 2, 3)), rtol=1e-4)
        assert stats["mean"].dtype == np.float32 and stats["mean"].shape == (4,)
        assert len(ds.windows("train", 3)) == len(segs["train"]) * 3


def test_time_split_and_windows(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=2, n_frames=24)
    set_splits(path, split_by_time((12, 6, 6)))
    with open_dataset(path) as ds:
        assert ds.split_segments("train") == [(0, 0, 12), (1, 0, 12)]
        assert ds.split_segments("valid") == [(0, 12, 18), (1, 12, 18)]
        assert ds.split_segments("test") == [(0, 18, 24), (1, 18, 24)]
        assert ds.windows("valid", 4) == [(0, 12), (0, 13), (0, 14), (1, 12), (1, 13), (1, 14)]
        train = np.concatenate([ds.read_window(t, 0, 12) for t in (0, 1)])
        np.testing.assert_allclose(ds.stats["mean"], train.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_trajectory_and_explicit_splits(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=6, n_frames=4)
    set_splits(path, split_by_trajectory(6, (0.5, 0.25, 0.25), seed=3))
    with open_dataset(path) as ds:
        assert ds.split_recipe["seed"] == 3
        assert sorted(t for n in ("train", "valid", "test") for t, _, _ in ds.split_segments(n)) == list(
            range(6)
        )
    set_splits(path, split_explicit({"train": [(0, 0, 4), (1, 0, 2)], "test": [(5, 1, 4)]}))
    with open_dataset(path) as ds:
        assert ds.split_segments("train") == [(0, 0, 4), (1, 0, 2)]
        assert ds.split_segments("valid") == []
        assert ds.windows("train", 2) == [(0, 0), (0, 1), (0, 2), (1, 0)]
        np.testing.assert_allclose(
            ds.stats["mean"],
            np.concatenate([ds.read_window(0, 0, 4), ds.read_window(1, 0, 2)]).mean(axis=(0, 2, 3)),
            rtol=1e-5,
        )
    with pytest.raises(DatasetError, match="does not fit"):
        set_splits(path, split_explicit({"train": [(9, 0, 4)]}))


def test_cancelled_split_change_leaves_file_untouched(tmp_path):
    from fieldcast.engine.data import iter_set_splits

    path = write_fieldcast(tmp_path / "toy.h5", n_traj=4)
    before = path.read_bytes()
    token = CancelToken()
    job = iter_set_splits(path, split_by_time((1, 1, 1)), token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        list(job)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*tmp"))


def test_crash_loses_only_the_trajectory_in_progress(tmp_path):
    path = tmp_path / "crash.h5"
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(tmp_path.parent)!r})
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from data_files import SPEC, field_values
        from fieldcast.engine.data import DatasetWriter
        w = DatasetWriter({str(path)!r}, SPEC, n_frames=6, grid=(8, 6))
        w.append(field_values(0, 6, (8, 6)))
        w.append(field_values(1, 6, (8, 6)))
        os._exit(1)  # dies without closing, as a killed generator would
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    with open_dataset(path) as ds:
        assert ds.n_trajectories == 2
        np.testing.assert_array_equal(ds.read_window(1, 0, 6)[:, 0], field_values(1, 6, (8, 6))["density"])
        assert not ds.has_stored_stats  # computed on demand instead
        assert ds.stats["mean"].shape == (4,)


def test_writer_rejects_bad_trajectories(tmp_path):
    with DatasetWriter(tmp_path / "w.h5", SPEC, n_frames=3, grid=(4, 4)) as w:
        good = field_values(0, 3, (4, 4))
        with pytest.raises(DatasetError, match="velocity.*shape"):
            w.append({**good, "velocity": good["velocity"][..., 0]})
        with pytest.raises(DatasetError, match="NaN"):
            w.append({**good, "density": np.full((3, 4, 4), np.nan, dtype=np.float32)})
        with pytest.raises(DatasetError, match="emitter.*missing"):
            w.append({"density": good["density"], "velocity": good["velocity"]})
        w.append(good)
    assert open_dataset(tmp_path / "w.h5").n_trajectories == 1


def test_lzf_and_trajectory_parameters(tmp_path):
    path = tmp_path / "p.h5"
    with DatasetWriter(
        path,
        SPEC,
        3,
        (4, 4),
        compression="lzf",
        simulation_parameters={"g": 9.81},
        trajectory_parameters=["b"],
    ) as w:
        for i in range(3):
            w.append(field_values(i, 3, (4, 4)), parameters={"b": 0.5 * i})
    with h5py.File(path) as f:
        assert f["t0_fields/density"].compression == "lzf"
        np.testing.assert_allclose(f["scalars/b"][:], [0, 0.5, 1.0])
    assert open_dataset(path).simulation_parameters == {"g": pytest.approx(9.81)}


def test_the_well_loads_a_fieldcast_file(tmp_path):
    data_dir = tmp_path / "well"
    data_dir.mkdir()
    write_fieldcast(data_dir / "toy.h5", n_traj=2, n_frames=6, grid=(8, 6))
    from the_well.data import WellDataset

    wd = WellDataset(path=str(data_dir), n_steps_input=2, n_steps_output=1, use_normalization=False)
    assert len(wd) == 2 * 4
    sample = wd[5]  # trajectory 1, start frame 1
    assert tuple(sample["input_fields"].shape) == (2, 8, 6, 4)
    assert tuple(sample["output_fields"].shape) == (1, 8, 6, 4)
    ref = field_values(1, 6, (8, 6))
    np.testing.assert_array_equal(sample["input_fields"][..., 0].numpy(), ref["density"][1:3])
    # The Well stacks t0 fields before t1 fields: density, emitter, velocity_x, velocity_y.
    np.testing.assert_array_equal(sample["output_fields"][0, ..., 1].numpy(), ref["emitter"][3])
    np.testing.assert_array_equal(sample["output_fields"][0, ..., 3].numpy(), ref["velocity"][3, ..., 1])


def test_foreign_well_file_opens_as_generic_system(tmp_path):
    path = write_foreign_well(tmp_path / "foreign.h5")
    with open_dataset(path) as ds:
        assert ds.is_foreign and ds.spec.name == "generic:foreign"
        assert ds.channel_names == ["buoyancy", "mask", "velocity_x", "velocity_y"]
        assert ds.spec.field("mask").role == "conditioning"
        assert any("stress" in s for s in ds.skipped_fields)
        w = ds.read_window(1, 2, 2)
        assert w.shape == (2, 4, 8, 8)
        np.testing.assert_array_equal(w[1, 1], np.broadcast_to(np.arange(8.0)[:, None], (8, 8)))
        assert ds.dt == pytest.approx(0.1)
        assert ds.stats["mean"].shape == (4,)  # computed in memory: the file has none
    set_splits(path, split_by_time((3, 1, 1)))
    with open_dataset(path) as ds:
        assert ds.has_stored_stats and ds.split_segments("train") == [(0, 0, 3), (1, 0, 3)]
