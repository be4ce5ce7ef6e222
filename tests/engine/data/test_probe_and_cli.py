"""The subprocess probe and the ``info`` / ``import`` subcommands."""

from __future__ import annotations

import argparse
import sys
import time

import pytest
from data_files import SPEC, write_fieldcast, write_npz_frames, write_pdebench_flat

from fieldcast.app.commands import import_data, info
from fieldcast.engine.data import open_dataset, probe_file
from fieldcast.engine.data import probe as probe_module
from fieldcast.engine.systems.base import register_spec


def test_probe_summarises_a_good_file(tmp_path):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=3)
    result = probe_file(path, timeout=30)
    assert result.ok and result.error is None
    assert (result.format, result.system, result.n_trajectories, result.grid) == ("well", "toy", 3, (8, 6))
    assert result.channels == SPEC.channel_names() and result.size_bytes == path.stat().st_size
    assert result.problems == []


def test_probe_reports_a_bad_file_and_an_importable_one(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not data")
    result = probe_file(bad, timeout=30)
    assert (
        not result.ok
        and result.error == f"{bad}: not an HDF5 file (no HDF5 signature; is it a text or another format?)"
    )
    result = probe_file(write_pdebench_flat(tmp_path / "cfd.hdf5"), timeout=30)
    assert result.ok and result.format == "pdebench-flat" and result.system == "import needed"


def test_probe_survives_a_hanging_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(
        probe_module, "_child_command", lambda p: [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    t0 = time.monotonic()
    result = probe_file(tmp_path / "x.h5", timeout=0.5, wall_timeout=2)
    # A reader that waits without computing is stopped by the clock (on Linux the CPU limit never comes).
    wall = 2 if sys.platform.startswith("linux") else 0.5
    assert not result.ok and f"did not finish within {wall:g} s" in result.error
    assert time.monotonic() - t0 < wall + 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU time is limited on Linux only")
def test_probe_stops_a_spinning_reader_by_its_cpu_time(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_module, "_child_command", lambda p: [sys.executable, "-c", "while True: pass"])
    result = probe_file(tmp_path / "x.h5", timeout=1, wall_timeout=300)  # a busy machine is slow to give 1 s
    assert not result.ok and result.error == (
        f"{tmp_path / 'x.h5'}: reading the file took more than 1 s of CPU time (damaged?)"
    )


def test_probe_survives_a_crashing_reader(tmp_path, monkeypatch):
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(probe_module, "_child_command", lambda p: [sys.executable, "-c", crash])
    result = probe_file(tmp_path / "x.h5", timeout=30)
    assert not result.ok and result.error.startswith(
        f"{tmp_path / 'x.h5'}: reading the file crashed the reader"
    )


def _args(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_info_prints_everything(tmp_path, capsys):
    path = write_fieldcast(tmp_path / "toy.h5", n_traj=4)
    assert info.NAME == "info" and info.run(_args(info, [str(path)])) == 0
    out = capsys.readouterr().out
    for text in (
        "system      toy",
        "velocity",
        "m/s",
        "(4, 6, 8, 6, 2)",
        "dt = 0.1",
        "by trajectory",
        "train",
        "mean",
        "unmapped    none",
        "problems    none",
    ):
        assert text in out, text


def test_info_on_an_import_source_shows_the_mapping(tmp_path, capsys):
    src = write_npz_frames(tmp_path / "frames")
    assert info.run(_args(info, [str(src)])) == 0
    out = capsys.readouterr().out
    assert "npz-frames" in out and "velocity_y     <- vel_z" in out


def test_info_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 10)  # a signature and nothing behind it
    assert info.run(_args(info, [str(bad)])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {bad}: ")


def test_import_command_with_system_and_map(tmp_path, capsys):
    register_spec(SPEC)
    src = write_npz_frames(tmp_path / "frames", n_frames=3)
    out = tmp_path / "out.h5"
    argv = [
        str(src),
        "--out",
        str(out),
        "--system",
        "toy",
        "--map",
        "collider=emitter",
        "--compression",
        "lzf",
    ]
    assert import_data.NAME == "import" and import_data.run(_args(import_data, argv)) == 0
    text = capsys.readouterr().out
    assert "emitter <- collider" in text and "unmapped: junk" in text
    with open_dataset(out) as ds:
        assert ds.spec.name == "toy" and ds.n_frames == 3


@pytest.mark.parametrize(
    "extra, message",
    [(["--system", "nope"], "unknown system 'nope'"), (["--map", "oops"], "--map expects SRC=DST")],
)
def test_import_command_bad_arguments(tmp_path, capsys, extra, message):
    src = write_npz_frames(tmp_path / "frames", n_frames=2)
    argv = [str(src), "--out", str(tmp_path / "o.h5"), *extra]
    assert import_data.run(_args(import_data, argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_import_command_bad_file(tmp_path, capsys):
    bad = tmp_path / "x.npz"
    bad.write_text("nope")
    assert import_data.run(_args(import_data, [str(bad), "--out", str(tmp_path / "o.h5")])) == 2
    assert capsys.readouterr().err == f"error: {bad}: not an NPZ archive (damaged or truncated zip)\n"
