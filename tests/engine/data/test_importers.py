"""Importers on small files written in each foreign layout."""

from __future__ import annotations

import numpy as np
import pytest
from data_files import (
    SPEC,
    field_values,
    write_npz_frames,
    write_npz_sequences,
    write_pdebench_flat,
    write_pdebench_grouped,
)

from fieldcast.engine.data import DatasetError, ImportReport, import_file, open_dataset
from fieldcast.engine.data.importers import map_channels
from fieldcast.engine.jobs import Cancelled, CancelToken, Progress


def run(job) -> ImportReport:
    events = list(job)
    assert all(isinstance(e, Progress) for e in events[:-1])
    assert isinstance(events[-1], ImportReport)
    return events[-1]


def test_mapping_aliases_preferences_and_overrides():
    m = map_channels(["density", "vel_x", "vel_y", "vel_z", "foo"], ["density", "velocity_x", "velocity_y"])
    assert m.assign == {"density": "density", "velocity_x": "vel_x", "velocity_y": "vel_y"}
    assert any(u.startswith("vel_z") for u in m.unmapped) and any(u.startswith("foo") for u in m.unmapped)
    m = map_channels(["vel_y", "vel_z"], ["velocity_y"], {"vel_z": "velocity_y"})
    assert m.assign == {"velocity_y": "vel_z"} and m.unmapped[0].startswith("vel_y")
    m = map_channels(["Vx", "Vy", "rho", "junk"], None, {"junk": ""})
    assert m.assign == {"velocity_x": "Vx", "velocity_y": "Vy", "density": "rho"}
    assert m.unmapped == ["junk: dropped by --map"]
    with pytest.raises(ValueError, match="nothing"):
        map_channels(["a"], ["b"], {"nothing": "b"})


def test_npz_frame_folder_generic(tmp_path):
    src = write_npz_frames(tmp_path / "frames", n_frames=11, grid=(8, 6))
    report = run(import_file(src, tmp_path / "out.h5"))
    assert report.format == "npz-frames" and report.unmapped == []
    with open_dataset(tmp_path / "out.h5") as ds:
        assert ds.spec.name == "generic:frames"
        assert ds.channel_names == ["density", "velocity_x", "velocity_y", "collider", "junk"]
        assert ds.spec.field("collider").role == "control"
        assert (ds.n_trajectories, ds.n_frames, ds.grid) == (1, 11, (8, 6))
        assert ds.dt == pytest.approx(0.04)
        ref = field_values(0, 11, (8, 6))
        np.testing.assert_array_equal(ds.read_window(0, 9, 2)[:, 0], ref["density"][9:11])  # natural order
        np.testing.assert_array_equal(ds.read_frame(0, 3, "velocity_y"), ref["velocity"][3, ..., 1])


def test_npz_frames_onto_a_system_with_yx_axes(tmp_path):
    src = write_npz_frames(tmp_path / "frames", n_frames=4, grid=(8, 6), yx=True)
    report = run(
        import_file(src, tmp_path / "out.h5", system=SPEC, axes="yx", mapping={"collider": "emitter"})
    )
    assert report.assign["velocity_y"] == "vel_z" and report.assign["emitter"] == "collider"
    assert any(u.startswith("junk") for u in report.unmapped)
    with open_dataset(tmp_path / "out.h5") as ds:
        assert ds.spec.fields == SPEC.fields and ds.dt == pytest.approx(0.04) and ds.grid == (8, 6)
        assert ds.unmapped == report.unmapped  # recorded in the file for `fieldcast info`
        np.testing.assert_array_equal(
            ds.read_frame(0, 2, "density"), field_values(0, 4, (8, 6))["density"][2]
        )


def test_npz_sequences_fill_missing_controls(tmp_path):
    from fieldcast.engine.systems.base import FieldSpec, SystemSpec

    spec = SystemSpec(
        "ctl", (FieldSpec("density"), FieldSpec("velocity", order=1), FieldSpec("collider", "control"))
    )
    src = write_npz_sequences(tmp_path / "seq", n_traj=3, n_frames=4, grid=(8, 6))
    report = run(import_file(src, tmp_path / "out.h5", system=spec))
    assert report.filled == ["collider"] and any(u.startswith("emitter") for u in report.unmapped)
    with open_dataset(tmp_path / "out.h5") as ds:
        assert (ds.n_trajectories, ds.n_frames) == (3, 4)
        w = ds.read_window(2, 0, 4)
        np.testing.assert_array_equal(w[:, 2], field_values(2, 4, (8, 6))["velocity"][..., 1])
        assert not w[:, 3].any()


def test_missing_state_channel_is_refused(tmp_path):
    src = write_npz_sequences(tmp_path / "seq", n_traj=1)
    from fieldcast.engine.systems.base import FieldSpec, SystemSpec

    spec = SystemSpec("needs_p", (FieldSpec("pressure"),))
    with pytest.raises(DatasetError, match=r"needs pressure.*--map"):
        run(import_file(src, tmp_path / "out.h5", system=spec))
    assert not (tmp_path / "out.h5").exists()


def test_pdebench_flat(tmp_path):
    src = write_pdebench_flat(tmp_path / "2D_CFD.hdf5", n=3, t=4, grid=(8, 6))
    report = run(import_file(src, tmp_path / "out.h5"))
    assert report.format == "pdebench-flat"
    with open_dataset(tmp_path / "out.h5") as ds:
        assert ds.channel_names == ["density", "velocity_x", "velocity_y", "pressure"]
        assert (ds.n_trajectories, ds.n_frames, ds.grid) == (3, 4, (8, 6))
        assert ds.dt == pytest.approx(0.2)
        import h5py

        with h5py.File(src) as f:
            np.testing.assert_array_equal(ds.read_window(1, 0, 4)[:, 2], f["Vy"][1])


def test_pdebench_grouped_needs_map_for_a_system(tmp_path):
    src = write_pdebench_grouped(tmp_path / "2D_diff-react.h5", n=2, t=5, grid=(6, 8), c=2)
    report = run(import_file(src, tmp_path / "generic.h5"))
    assert report.assign == {"data_0": "data_0", "data_1": "data_1"}
    with open_dataset(tmp_path / "generic.h5") as ds:
        assert ds.dt == pytest.approx(0.05) and ds.grid == (6, 8) and ds.n_trajectories == 2
    from fieldcast.engine.systems.base import FieldSpec, SystemSpec

    spec = SystemSpec("rd", (FieldSpec("density"),))
    report = run(import_file(src, tmp_path / "rd.h5", system=spec, mapping={"data_1": "density"}))
    assert report.assign == {"density": "data_1"} and report.unmapped[0].startswith("data_0")
    import h5py

    with h5py.File(src) as f, open_dataset(tmp_path / "rd.h5") as ds:
        np.testing.assert_array_equal(ds.read_frame(1, 3, "density"), f["0001/data"][3, ..., 1])


def test_cancelled_import_leaves_nothing(tmp_path):
    src = write_pdebench_flat(tmp_path / "cfd.h5", n=4)
    token = CancelToken()
    job = import_file(src, tmp_path / "out.h5", token=token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        list(job)
    assert not (tmp_path / "out.h5").exists()
    assert not list(tmp_path.glob(".*part"))
