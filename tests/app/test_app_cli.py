import subprocess
import sys

import pytest

import fieldcast
from fieldcast.app import cli


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fieldcast {fieldcast.__version__}"


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in ("generate", "info", "import", "train", "export", "bench", "eval", "play"):
        assert name in out
    assert "--smoke-test" in out


def test_unknown_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_missing_subcommand_module_says_so(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "bench", "fieldcast.app.commands.does_not_exist")
    assert cli.main(["bench"]) == 2
    assert "not available" in capsys.readouterr().err


def test_play_refuses_a_missing_model(tmp_path, capsys):
    assert cli.main(["play", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx: file not found" in capsys.readouterr().err


def test_console_script_and_module_entry_agree():
    out = subprocess.run(
        [sys.executable, "-m", "fieldcast", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"fieldcast {fieldcast.__version__}"


def test_window_modules_do_not_import_torch():
    # The window must open without paying for torch; training imports it when asked.
    code = (
        "import sys; import fieldcast.app.cli, fieldcast.app.gui, fieldcast.app.main_window, "
        "fieldcast.app.smoke_test; bad = [m for m in ('torch', 'onnxruntime') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_smoke_test_passes(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items()}
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "fieldcast", "--smoke-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
    assert "FAIL" not in result.stdout


def test_a_command_missing_from_this_build_takes_its_arguments_and_says_so(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "train", "fieldcast.app.commands.not_in_this_build")
    assert cli.main(["train", "recipe.yaml", "--data", "x.h5"]) == 2
    assert "not available in this version" in capsys.readouterr().err


def test_output_cut_short_by_its_reader_is_not_an_error(tmp_path):
    """``fieldcast info F | head``: the reader closes the pipe early; no traceback, exit 0."""
    import numpy as np

    data = tmp_path / "runs.npz"
    np.savez(data, heat=np.zeros((4, 8, 8), np.float32))
    out = tmp_path / "d.h5"
    assert cli.main(["import", str(data), "--out", str(out)]) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldcast.app.cli", "info", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before anything is written, as after `head -0`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err
