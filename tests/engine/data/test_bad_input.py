"""A corpus of malformed files, generated here: each must give one clear DatasetError naming the file."""

from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest
from data_files import write_fieldcast, write_foreign_well, write_npz_sequences, write_pdebench_flat

from fieldcast.engine.data import DatasetError, check_file, import_file


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _replace(f, name, data, **attrs):
    old = dict(f[name].attrs)
    del f[name]
    d = f.create_dataset(name, data=data)
    d.attrs.update({**old, **attrs})


def text_renamed(p):
    p = p / "notes.h5"
    p.write_text("these are my notes, not data\n" * 20)
    return p


def empty(p):
    p = p / "empty.h5"
    p.write_bytes(b"")
    return p


def truncated(p):
    src = write_fieldcast(p / "full.h5", n_traj=3, n_frames=6, grid=(32, 32))
    data = src.read_bytes()
    out = p / "truncated.h5"
    out.write_bytes(data[: len(data) // 2])
    return out


def missing_dimensions(p):
    return _edit(write_foreign_well(p / "nodims.h5"), lambda f: f.__delitem__("dimensions"))


def missing_field_groups(p):
    def drop(f):
        for g in ("t0_fields", "t1_fields", "t2_fields"):
            del f[g]

    return _edit(write_foreign_well(p / "nofields.h5"), drop)


def wrong_rank(p):
    return _edit(
        write_foreign_well(p / "rank.h5"),
        lambda f: _replace(f, "t0_fields/buoyancy", np.zeros((2, 5, 8), np.float32)),
    )


def wrong_shape(p):
    return _edit(
        write_foreign_well(p / "shape.h5"),
        lambda f: _replace(f, "t0_fields/buoyancy", np.zeros((2, 5, 8, 7), np.float32)),
    )


def wrong_dtype(p):
    return _edit(
        write_foreign_well(p / "dtype.h5"),
        lambda f: _replace(f, "t0_fields/buoyancy", np.full((2, 5, 8, 8), b"abc")),
    )


def listed_but_missing(p):
    return _edit(write_foreign_well(p / "listed.h5"), lambda f: f["t0_fields"].__delitem__("buoyancy"))


def zero_length_time(p):
    def zero(f):
        del f["dimensions/time"]
        f["dimensions"].create_dataset("time", shape=(0,), dtype=np.float32)

    return _edit(write_foreign_well(p / "zero.h5"), zero)


def no_trajectories(p):
    return _edit(write_foreign_well(p / "notraj.h5"), lambda f: f.attrs.__setitem__("n_trajectories", 0))


def absurd_axis(p):
    def huge(f):
        del f["dimensions/x"]
        f["dimensions"].create_dataset("x", shape=(10**6,), dtype=np.float32)

    return _edit(write_foreign_well(p / "absurd.h5"), huge)


def absurd_trajectories(p):
    return _edit(
        write_foreign_well(p / "absurd_traj.h5"), lambda f: f.attrs.__setitem__("n_trajectories", 2**40)
    )


def absurd_total(p):
    def huge(f):
        for g in ("t1_fields", "t2_fields"):
            del f[g]
        t0 = f["t0_fields"]
        t0.attrs["field_names"] = ["buoyancy"]
        del t0["buoyancy"]
        shape = (2, 10**6, 60000, 60000)  # every axis plausible alone, 29 PB together; never allocated
        d = t0.create_dataset("buoyancy", shape=shape, dtype=np.float32, chunks=(1, 1, 8, 8))
        d.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        for axis, n in (("time", shape[1]), ("x", shape[2]), ("y", shape[3])):
            del f["dimensions"][axis]
            f["dimensions"].create_dataset(axis, shape=(n,), dtype=np.float32, chunks=(1024,))

    return _edit(write_foreign_well(p / "absurd_total.h5"), huge)


def three_d(p):
    return _edit(write_foreign_well(p / "3d.h5"), lambda f: f.attrs.__setitem__("n_spatial_dims", 3))


def broken_meta(p):
    return _edit(
        write_fieldcast(p / "meta.h5", n_traj=2), lambda f: f.attrs.__setitem__("fieldcast", "{oops")
    )


def future_version(p):
    path = write_fieldcast(p / "future.h5", n_traj=2)

    def bump(f):
        meta = json.loads(f.attrs["fieldcast"])
        meta["format_version"] = 99
        f.attrs["fieldcast"] = json.dumps(meta)

    return _edit(path, bump)


def nan_values(p):
    def poison(f):
        f["t1_fields/velocity"][1, 3, 2, 2, 0] = np.nan

    return _edit(write_fieldcast(p / "nan.h5", n_traj=2), poison)


def inf_values(p):
    def poison(f):
        f["t0_fields/density"][0, 0, 0, 0] = np.inf

    return _edit(write_fieldcast(p / "inf.h5", n_traj=2), poison)


def unknown_hdf5(p):
    path = p / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("stuff", data=np.zeros(3))
    return path


HDF5_CORPUS = {
    text_renamed: "not an HDF5 file",
    empty: "empty",
    truncated: "truncated",
    missing_dimensions: "missing group 'dimensions'",
    missing_field_groups: "missing groups",
    wrong_rank: "has rank 3",
    wrong_shape: "has shape (2, 5, 8, 7)",
    wrong_dtype: "dtype",
    listed_but_missing: "no such dataset",
    zero_length_time: "zero length",
    no_trajectories: "no trajectories",
    absurd_axis: "absurd size",
    absurd_trajectories: "absurd size",
    absurd_total: "absurd size",
    three_d: "2D fields only",
    broken_meta: "not valid JSON",
    future_version: "newer Fieldcast",
    nan_values: "'velocity_x' contains NaN or Inf",
    inf_values: "'density' contains NaN or Inf",
}


def _assert_one_clear_line(exc: DatasetError, path, keyword: str) -> None:
    text = str(exc)
    assert text.startswith(f"{path}: "), text
    assert "\n" not in text and "Traceback" not in text
    assert keyword in text, text


@pytest.mark.parametrize("make", list(HDF5_CORPUS), ids=lambda f: f.__name__)
def test_malformed_hdf5(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(DatasetError) as info:
        check_file(path).close()
    _assert_one_clear_line(info.value, path, HDF5_CORPUS[make])


def npz_object_array(p):
    path = p / "obj.npz"
    np.savez(path, density=np.array([{"a": 1}, None], dtype=object))
    return path


def npz_truncated(p):
    src = write_npz_sequences(p / "seq", n_traj=1) / "sim_0.npz"
    out = p / "cut.npz"
    out.write_bytes(src.read_bytes()[:200])
    return out


def npz_wrong_rank(p):
    path = p / "rank.npz"
    np.savez(path, density=np.zeros((2, 3, 4, 5, 6), np.float32))
    return path


def npz_strings(p):
    path = p / "str.npz"
    np.savez(path, density=np.full((3, 4, 4), "x"))
    return path


def npz_nan(p):
    path = p / "nan.npz"
    d = np.zeros((3, 4, 4), np.float32)
    d[2, 1, 1] = np.nan
    np.savez(path, density=d)
    return path


def npz_absurd(p):
    # A hand-made header claiming a 10^12-element array with hardly any bytes behind it.
    path = p / "absurd.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
    header["shape"] = (10**4, 10**4, 10**4)
    with zipfile.ZipFile(path, "w") as zf, zf.open("density.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    return path


def npz_inconsistent_frames(p):
    folder = p / "frames"
    folder.mkdir()
    np.savez(folder / "f1.npz", density=np.zeros((4, 4), np.float32))
    np.savez(folder / "f2.npz", density=np.zeros((4, 5), np.float32))
    return folder


def npz_not_zip(p):
    path = p / "fake.npz"
    path.write_text("hello")
    return path


def pdebench_zero_frames(p):
    path = p / "zero.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("density", shape=(2, 0, 4, 4), dtype=np.float32)
        for k in ("x-coordinate", "y-coordinate", "t-coordinate"):
            f.create_dataset(k, data=np.zeros(4))
    return path


def pdebench_nan(p):
    path = write_pdebench_flat(p / "nan.hdf5")
    with h5py.File(path, "r+") as f:
        f["Vx"][2, 1, 0, 0] = np.inf
    return path


def pdebench_bad_time(p):
    path = write_pdebench_flat(p / "time.hdf5", t=4)
    with h5py.File(path, "r+") as f:
        del f["t-coordinate"]
        f.create_dataset("t-coordinate", data=np.zeros(9))
    return path


IMPORT_CORPUS = {
    npz_object_array: "Python objects",
    npz_truncated: "not an NPZ archive",
    npz_wrong_rank: "frame shape",
    npz_strings: "dtype",
    npz_nan: "contains NaN or Inf",
    npz_absurd: "absurd size",
    npz_inconsistent_frames: "has shapes",
    npz_not_zip: "not an NPZ archive",
    pdebench_zero_frames: "zero-length",
    pdebench_nan: "'Vx' contains NaN or Inf",
    pdebench_bad_time: "9 entries for 4 frames",
    unknown_hdf5: "no known layout",
}


@pytest.mark.parametrize("make", list(IMPORT_CORPUS), ids=lambda f: f.__name__)
def test_malformed_import_source(tmp_path, make):
    src = make(tmp_path)
    with pytest.raises(DatasetError) as info:
        list(import_file(src, tmp_path / "out.h5"))
    _assert_one_clear_line(
        info.value, src if make is not npz_inconsistent_frames else src / "f2.npz", IMPORT_CORPUS[make]
    )
    assert not (tmp_path / "out.h5").exists()
