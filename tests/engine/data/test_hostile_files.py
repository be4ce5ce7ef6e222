"""Small files that lie: declared sizes, data in other files, circular links, nesting, dt, NaN, integers."""

from __future__ import annotations

import json
import shutil
import zipfile

import h5py
import numpy as np
import pytest
from data_files import write_fieldcast

from fieldcast.engine.data import DatasetError, open_dataset, validate_dataset
from fieldcast.engine.data.importers import open_source
from fieldcast.engine.limits import BUDGET_ENV


@pytest.fixture
def good(tmp_path):
    return write_fieldcast(tmp_path / "good.h5", n_traj=3, n_frames=6, grid=(8, 6))


def _copy(good, tmp_path, name):
    path = tmp_path / name
    shutil.copyfile(good, path)
    return path


def _refused(path, *words):
    with pytest.raises(DatasetError) as info:
        open_dataset(path).close()
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    for word in words:
        assert word in text, text
    return text


def test_an_external_link_to_another_file_is_refused(good, tmp_path):
    path = _copy(good, tmp_path, "link.h5")
    with h5py.File(path, "r+") as f:
        del f["t0_fields/density"]
        f["t0_fields/density"] = h5py.ExternalLink(str(good), "/t0_fields/density")
    _refused(path, "external link", "good.h5")


def test_a_virtual_dataset_reading_another_file_is_refused(good, tmp_path):
    path = _copy(good, tmp_path, "virtual.h5")
    with h5py.File(path, "r+") as f:
        shape = f["t0_fields/density"].shape
        del f["t0_fields/density"]
        layout = h5py.VirtualLayout(shape=shape, dtype="f4")
        layout[...] = h5py.VirtualSource(str(good), "t0_fields/density", shape=shape)
        f["t0_fields"].create_virtual_dataset("density", layout)
    _refused(path, "virtual dataset", "good.h5")


def test_a_soft_link_cycle_is_one_line(good, tmp_path):
    path = _copy(good, tmp_path, "cycle.h5")
    with h5py.File(path, "r+") as f:
        del f["t0_fields/density"]
        f["t0_fields/density"] = h5py.SoftLink("/t0_fields/loop")
        f["t0_fields/loop"] = h5py.SoftLink("/t0_fields/density")
    _refused(path, "circular")


def test_a_field_declaring_terabytes_it_does_not_store_is_refused(tmp_path):
    path = tmp_path / "declares.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update(n_spatial_dims=2, n_trajectories=100_000, dataset_name="x")
        dims = f.create_group("dimensions")
        dims.create_dataset("time", data=np.arange(100, dtype=np.float32))
        dims.create_dataset("x", shape=(64,), dtype="f4")
        dims.create_dataset("y", shape=(64,), dtype="f4")
        g = f.create_group("t0_fields")
        g.attrs["field_names"] = ["density"]
        g.create_dataset("density", shape=(100_000, 100, 64, 64), dtype="f4", chunks=(1, 1, 64, 64))
    assert path.stat().st_size < 100_000
    _refused(path, "declares", "stores")


def test_a_frame_over_the_budget_is_refused_before_reading(good, monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "0.001")  # below the floor: the frame budget is its minimum, 8 MiB
    open_dataset(good).close()  # 8 x 6 frames fit
    monkeypatch.setenv(BUDGET_ENV, "64")
    big = good.parent / "big.h5"
    write_fieldcast(big, n_traj=1, n_frames=2, grid=(1024, 1024))  # 4 channels x 4 MiB = 16 MiB a frame
    _refused(big, "one frame", "FIELDCAST_MEMORY_BUDGET_MB")


@pytest.mark.parametrize("dt", [0.0, -0.5, float("nan")])
def test_a_spec_with_a_non_positive_dt_is_refused(good, tmp_path, dt):
    path = _copy(good, tmp_path, "dt.h5")
    with h5py.File(path, "r+") as f:
        meta = json.loads(f.attrs["fieldcast"])
        meta["spec"]["dt"] = dt
        f.attrs["fieldcast"] = json.dumps(meta)
    _refused(path, "dt")


def test_deeply_nested_metadata_is_refused_without_recursion(good, tmp_path):
    path = _copy(good, tmp_path, "nested.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["fieldcast"] = "[" * 100_000 + "]" * 100_000
    _refused(path, "nested 100000 levels")


def test_training_reads_refuse_nan_naming_channel_and_frame(good, tmp_path):
    path = _copy(good, tmp_path, "nan.h5")
    with h5py.File(path, "r+") as f:
        f["t0_fields/density"][1, 4, 2, 2] = np.nan
    with open_dataset(path) as ds:
        assert not np.isfinite(ds.read_window(1, 0, 6)).all()  # descriptions still see the NaN
        ds.require_finite = True
        ds.read_window(1, 0, 4)
        with pytest.raises(
            DatasetError, match=r"'density' contains NaN or Inf \(trajectory 1, first at frame 4\)"
        ):
            ds.read_window(1, 2, 4)


def test_an_int8_density_at_its_lowest_value_is_reported(tmp_path):
    path = tmp_path / "int8.h5"
    write_fieldcast(path, n_traj=1, n_frames=5, grid=(4, 4))
    with h5py.File(path, "r+") as f:
        values = np.full((1, 5, 4, 4), 3, np.int8)
        values[0, 2, 1, 1] = -128
        attrs = dict(f["t0_fields/density"].attrs)
        del f["t0_fields/density"]
        d = f["t0_fields"].create_dataset("density", data=values)
        d.attrs.update(attrs)
    with open_dataset(path) as ds:
        problems = validate_dataset(ds)
    assert any("int8" in p and "-128" in p for p in problems), problems


def test_statistics_for_a_description_read_a_bounded_sample(tmp_path):
    path = tmp_path / "many.h5"
    write_fieldcast(path, n_traj=6, n_frames=40, grid=(8, 8))
    with h5py.File(path, "r+") as f:  # a foreign-like file: no stored statistics
        meta = json.loads(f.attrs["fieldcast"])
        meta.pop("stats")
        f.attrs["fieldcast"] = json.dumps(meta)
    with open_dataset(path) as ds:
        frame = ds.frame_nbytes
        stats, read = ds.sample_stats(10 * frame)
        assert read == 10
        full, read_all = ds.sample_stats(1 << 30)
        assert read_all == sum(b - a for _, a, b in ds.split_segments("train"))
        assert np.allclose(stats["min"], full["min"], atol=200) and np.isfinite(stats["mean"]).all()


def test_an_npz_header_claiming_more_than_its_entry_holds_is_refused(tmp_path):
    path = tmp_path / "lies.npz"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("density.npy", "w") as fh,
    ):
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (8, 256, 256)}
        )
        fh.write(bytes(1024))
    with pytest.raises(DatasetError, match="claims shape"):
        open_source(path)


def test_an_npz_frame_over_the_budget_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "16")
    path = tmp_path / "big.npz"
    np.savez_compressed(path, density=np.zeros((2, 1536, 1536), np.float32))  # a frame: 9 MiB, +float32 copy
    with pytest.raises(DatasetError, match="one frame needs 18.0 MiB, over the memory budget of 16.0 MiB"):
        open_source(path)
    monkeypatch.setenv(BUDGET_ENV, "64")
    assert open_source(path).n_frames == 2


def test_an_npz_sequence_larger_than_the_budget_is_imported_in_pieces(tmp_path, monkeypatch):
    import tracemalloc

    from fieldcast.engine.data import import_file

    frames = np.random.default_rng(0).random((1000, 64, 64), dtype=np.float32)  # 16 MiB
    src = tmp_path / "long.npz"
    np.savez_compressed(src, density=frames)
    monkeypatch.setenv(BUDGET_ENV, "64")  # six copies of the trajectory (96 MiB) would not fit
    tracemalloc.start()
    try:
        for _ in import_file(src, tmp_path / "long.h5"):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * frames.nbytes
    with open_dataset(tmp_path / "long.h5") as ds:
        assert np.array_equal(ds.read_window(0, 990, 10)[:, 0], frames[990:])


def test_an_npz_zip_bomb_is_refused_from_its_sizes(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("density.npy", "w", force_zip64=True) as fh:
            shape = (68, 1024, 1024)
            np.lib.format.write_array_header_2_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
            for _ in range(17):
                fh.write(bytes(16 << 20))
    with pytest.raises(DatasetError, match="zip bomb"):
        open_source(path)
