"""``fieldcast train`` refuses bad input with one line naming the file and the problem, exit status 2.

Covered for every task's packaged recipe: a missing or unreadable dataset, a dataset that does not fit
the recipe, a ``--resume`` folder that is not a run, and ``--set`` values that cannot be used. Nothing may
print a traceback, and a refused run leaves no run folder behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import h5py
import pytest

from fieldcast.app.commands import train


def refused(capsys, argv: list[str], *needles: str) -> str:
    code = train.main([*argv, "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fieldcast train: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def runs(tmp_path):
    return tmp_path / "runs"


def no_run_folders(runs) -> bool:
    return not runs.exists() or not any(runs.iterdir())


# ---------------------------------------------------------------- missing or unreadable datasets


@pytest.mark.parametrize("recipe", [None, "smoke_tiny", "melt_convlstm", "trajectory_lstm"])
def test_a_missing_dataset(capsys, tmp_path, runs, recipe):
    missing = tmp_path / "nope.h5"
    argv = ([recipe] if recipe else []) + ["--data", str(missing), "--runs-dir", str(runs)]
    refused(capsys, argv, "nope.h5")
    assert no_run_folders(runs)


@pytest.mark.parametrize("content", ["text", "empty-hdf5"])
@pytest.mark.parametrize("recipe", [None, "smoke_tiny"])
def test_a_file_that_is_not_a_dataset(capsys, tmp_path, runs, recipe, content):
    path = tmp_path / "broken.h5"
    if content == "text":
        path.write_text("not a dataset\n")
    else:
        h5py.File(path, "w").close()
    argv = ([recipe] if recipe else []) + ["--data", str(path), "--runs-dir", str(runs)]
    refused(capsys, argv, "broken.h5", "HDF5" if content == "text" else "Well")
    assert no_run_folders(runs)


# ---------------------------------------------------------------- datasets that do not fit the recipe


@pytest.mark.parametrize(
    "recipe,data,needles",
    [
        ("smoke_tiny", "traj", ["smoke_tiny.yaml", "traj.h5", "'trajectory'"]),
        ("melt_convlstm", "smoke", ["melt_convlstm.yaml", "smoke.h5", "'smoke'"]),
        ("trajectory_lstm", "melt", ["trajectory_lstm.yaml", "melt.h5", "'melt'"]),
        ("melt_play_temperature_k4", "smoke", ["melt_play_temperature_k1.yaml", "smoke.h5"]),
    ],
)
def test_a_dataset_of_another_system(
    capsys, runs, smoke_file, tiny_melt_file, tiny_traj_file, recipe, data, needles
):
    path = {"smoke": smoke_file, "melt": tiny_melt_file, "traj": tiny_traj_file}[data]
    refused(capsys, [recipe, "--data", str(path), "--runs-dir", str(runs)], *needles)
    assert no_run_folders(runs)


@pytest.mark.parametrize(
    "recipe,data,sets,needles",
    [
        # system: auto lets the shape through; the channels, grid or model then say what is wrong.
        ("melt_convlstm", "smoke", [], ["smoke.h5", "channel 'temperature' is not one of density"]),
        ("trajectory_lstm", "smoke", [], ["smoke.h5", "one sample per frame", "(16, 16)"]),
        ("smoke_tiny", "traj", [], ["traj.h5", "channel 'density' is not one of"]),
        ("trajectory_lstm", "traj", ["task=field_rollout"], ["traj.h5", "model 'lstm' does not fit"]),
        ("smoke_tiny", "smoke", ["task=sequence"], ["smoke.h5", "one sample per frame"]),
        ("smoke_tiny", "smoke", ["rollout.steps=40"], ["smoke.h5", "no training windows of 42 frames"]),
        ("trajectory_lstm", "traj", ["sequence.seq_len=5000"], ["traj.h5", "no training windows of 5000"]),
        ("trajectory_lstm", "traj", ["sequence.inputs=[speed]"], ["traj.h5", "channel 'speed'"]),
        ("melt_convlstm", "melt", ["recurrent.condition_channels=[heat]"], ["melt.h5", "channel 'heat'"]),
    ],
)
def test_a_dataset_whose_shape_does_not_fit(
    capsys, runs, smoke_file, tiny_melt_file, tiny_traj_file, recipe, data, sets, needles
):
    path = {"smoke": smoke_file, "melt": tiny_melt_file, "traj": tiny_traj_file}[data]
    overrides = [f"--set={s}" for s in ["system=auto", *sets]]
    refused(capsys, [recipe, "--data", str(path), "--runs-dir", str(runs), *overrides], *needles)
    assert no_run_folders(runs)


# ---------------------------------------------------------------- --resume of something that is not a run


def test_resume_of_folders_that_are_not_runs(capsys, tmp_path, smoke_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    half = tmp_path / "half"
    (half / "checkpoints").mkdir(parents=True)
    (half / "config.yaml").write_text("name: half\n")
    refused(capsys, ["--resume", str(tmp_path / "gone")], "gone", "not a run folder (no such folder)")
    refused(capsys, ["--resume", str(smoke_file)], "smoke.h5", "not a run folder (it is a file)")
    refused(capsys, ["--resume", str(empty)], "empty", "not a run folder (it has no config.yaml)")
    refused(capsys, ["--resume", str(half)], "half", "no checkpoints/last.safetensors")


@pytest.mark.parametrize("task", ["field_rollout", "recurrent_field", "sequence"])
def test_resume_of_a_run_whose_dataset_is_gone(capsys, task_recipe, tmp_path, runs, task):
    recipe, data = task_recipe(task, name="r")
    moved = tmp_path / f"moved-{data.name}"
    shutil.copy(data, moved)
    assert train.main([str(recipe), "--data", str(moved), "--runs-dir", str(runs), "--device", "cpu"]) == 0
    capsys.readouterr()
    moved.unlink()
    refused(capsys, ["--resume", str(runs / "r")], moved.name)


def test_resume_of_a_damaged_checkpoint(capsys, task_recipe, runs):
    recipe, data = task_recipe("sequence", name="r")
    assert train.main([str(recipe), "--data", str(data), "--runs-dir", str(runs), "--device", "cpu"]) == 0
    capsys.readouterr()
    last = runs / "r" / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    refused(capsys, ["--resume", str(runs / "r")], "last.safetensors")


# ---------------------------------------------------------------- --set values that cannot be used


@pytest.mark.parametrize(
    "item,needles",
    [
        ("train.epochs=many", ["--set", "'train.epochs'", "expected int"]),
        ("optim.lr=-1", ["'optim.lr'", ">= 0"]),
        ("data.split=sideways", ["'data.split'", "sideways"]),
        ("data.split=[1,2]", ["'data.split'", "three"]),
        ("task=diffusion", ["'task'", "diffusion"]),
        ("model.args.in_channels=3", ["'model.args.in_channels'", "set from the data"]),
        ("model.args.hidden_size=[1", ["--set", "not valid YAML"]),
        ("sequence.warmup=50", ["'sequence.warmup'"]),
        ("trian.epochs=1", ["unknown key 'trian'"]),
        ("nonsense", ["expected key=value"]),
    ],
)
def test_bad_set_values(capsys, runs, tiny_traj_file, item, needles):
    argv = ["trajectory_lstm", "--data", str(tiny_traj_file), "--runs-dir", str(runs), "--set", item]
    refused(capsys, argv, *needles)
    assert no_run_folders(runs)


def test_bad_set_value_with_the_default_recipe(capsys, runs, smoke_file):
    argv = ["--data", str(smoke_file), "--runs-dir", str(runs), "--set", "rollout.steps=0"]
    refused(capsys, argv, "default recipe for smoke.h5", "'rollout.steps'")


def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path, tiny_traj_file):
    """The same through a real process: what a user sees in a terminal."""
    cmd = [sys.executable, "-m", "fieldcast.app.commands.train", "trajectory_lstm", "--data"]
    cmd += [str(tiny_traj_file), "--set", "task=field_rollout", "--runs-dir", str(tmp_path / "runs")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("fieldcast train: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "traj.h5" in proc.stderr and "does not fit task 'field_rollout'" in proc.stderr
