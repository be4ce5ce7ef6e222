"""G-code import: a slicer's file simulated on the reference printer and stored as a trajectory dataset."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pytest

from fieldcast.app.commands import import_data
from fieldcast.engine.data import DatasetError, ImportReport, detect_format, import_file, open_dataset
from fieldcast.engine.data.importers import GcodeSource, run_import
from fieldcast.engine.data.probe import describe_file
from fieldcast.engine.systems.trajectory import Machine, simulate_toolpath
from fieldcast.engine.systems.trajectory.gcode import read_gcode
from fieldcast.resources import resource_path

SAMPLE = resource_path("gcode", "calibration_square_prusaslicer.gcode")
SQUARE = "G21\nG90\nG1 X0 Y0 F6000\nG1 X20 Y0\nG1 X20 Y20\nG1 X0 Y20\nG1 X0 Y0\n"


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    import_data.add_arguments(parser)
    return parser.parse_args(argv)


def _last(job) -> ImportReport:
    events = list(job)
    assert isinstance(events[-1], ImportReport)
    return events[-1]


def test_sample_imports_as_a_trajectory_dataset(tmp_path):
    out = tmp_path / "traj.h5"
    assert detect_format(SAMPLE) == "gcode"
    report = _last(import_file(SAMPLE, out))
    assert report.system == "trajectory" and report.format == "gcode" and report.filled == []
    expected = simulate_toolpath(read_gcode(SAMPLE), Machine(), rng=np.random.default_rng(0))
    with open_dataset(out) as ds:
        assert ds.spec.name == "trajectory"
        assert (ds.n_trajectories, ds.n_frames, ds.grid) == (1, expected["time"].size, (1, 1))
        assert ds.dt == pytest.approx(0.01)
        assert ds.simulation_parameters["accel"] == pytest.approx(500.0)
        window = ds.read_window(0, 0, ds.n_frames)[:, :, 0, 0]  # (T, C)
        for name in ("x_ref", "vy_ref", "error_x", "error_y"):
            column = window[:, ds.channel_names.index(name)]
            np.testing.assert_allclose(column, expected[name].astype(np.float32), rtol=1e-6, atol=1e-6)
    assert np.abs(expected["error_x"]).max() > 1.0  # the printer does deviate: the data is not all zeros


def test_machine_parameters_shape_the_imported_error(tmp_path):
    path = tmp_path / "square.gcode"
    path.write_text(SQUARE)
    slow = GcodeSource(path)
    fast = GcodeSource(path, Machine(replace(Machine().limits, accel=3000.0)))
    assert fast.parameters["accel"] == 3000.0 and fast.n_frames < slow.n_frames
    peak = {s: np.abs(s.read_trajectory(0)["error_x"]).max() for s in (slow, fast)}
    assert peak[fast] > peak[slow]  # harder acceleration excites the belts more
    _last(
        run_import(fast, tmp_path / "fast.h5", system="trajectory", overrides={c: c for c in fast.channels})
    )
    with open_dataset(tmp_path / "fast.h5") as ds:
        assert ds.n_frames == fast.n_frames


@pytest.mark.parametrize(
    "text, problem",
    [
        ("G1 X0 Y0\nG1 X10 Y0 F-5\n", "line 2: feed rate F-5"),
        ("G90\nG1 X0\nG2 X10 Y0\n", "line 3: an arc needs I/J"),
        ("G1 X1 Y1\nX10 Y5\n", "line 2: expected a G, M or T command"),
        ("; only a comment\nM104 S200\n", "no XY moves"),
    ],
)
def test_malformed_gcode_is_one_line_naming_file_and_line(tmp_path, text, problem):
    path = tmp_path / "bad.gcode"
    path.write_text(text)
    with pytest.raises(DatasetError) as info:
        list(import_file(path, tmp_path / "out.h5"))
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)
    assert "\n" not in str(info.value) and not (tmp_path / "out.h5").exists()


def test_cli_imports_gcode_and_reports_bad_lines(tmp_path, capsys):
    out = tmp_path / "traj.h5"
    assert import_data.run(_args([str(SAMPLE), "--out", str(out)])) == 0
    text = capsys.readouterr().out
    assert "system trajectory" in text and "error_x <- error_x" in text
    with open_dataset(out) as ds:
        assert ds.spec.name == "trajectory"
    bad = tmp_path / "bad.gcode"
    bad.write_text("G1 X0 Y0\nG1 X1e999 Y0\n")
    assert import_data.run(_args([str(bad), "--out", str(tmp_path / "o.h5")])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {bad}: line 2: ")


def test_probe_describes_gcode_as_importable(tmp_path):
    result = describe_file(SAMPLE)
    assert result.ok and result.format == "gcode" and result.grid == (1, 1)
    assert "error_x" in result.channels and result.n_frames > 1000
