import os
import subprocess
import sys
from pathlib import Path

import pytest

from fieldcast.app.commands import train
from fieldcast.training.runs import read_status
from fieldcast.training.tracking import read_metrics

VENV_BIN = Path(sys.executable).parent


def test_command_module_contract():
    assert train.NAME == "train" and train.HELP and callable(train.add_arguments) and callable(train.run)


def test_trains_a_recipe_end_to_end(write_recipe, tmp_path, capsys):
    recipe = write_recipe(changes={"train": {"epochs": 1}})
    code = train.main(
        [str(recipe), "--runs-dir", str(tmp_path / "runs"), "--set", "train.max_steps=3", "--device", "cpu"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "finished: completed at step 3" in err and "train [" in err
    assert read_status(tmp_path / "runs" / "tiny")["status"] == "completed"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "optim.lrr=1"], "unknown key 'optim.lrr'"),
        (["--set", "train.epochs=many"], "key 'train.epochs': expected int"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(write_recipe, tmp_path, capsys, args, needle):
    code = train.main([str(write_recipe()), "--runs-dir", str(tmp_path / "runs"), *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1 and err.startswith("fieldcast train: ")


def test_missing_data_and_missing_recipe(tmp_path, capsys):
    assert train.main(["smoke_tiny", "--runs-dir", str(tmp_path)]) == 2
    assert "no dataset" in capsys.readouterr().err
    assert train.main([str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_packaged_tiny_recipe_with_data_flag(smoke_file, tmp_path):
    runs = tmp_path / "runs"
    assert (
        train.main(
            ["smoke_tiny", "--data", str(smoke_file), "--runs-dir", str(runs), "--set", "train.max_steps=2"]
        )
        == 0
    )
    assert read_status(runs / "smoke_tiny")["status"] == "completed"


def test_resume_flag_continues_a_run(write_recipe, tmp_path):
    runs = tmp_path / "runs"
    recipe = write_recipe(changes={"train": {"epochs": 2}})
    assert train.main([str(recipe), "--runs-dir", str(runs), "--set", "train.max_steps=2"]) == 0
    assert train.main(["--resume", str(runs / "tiny"), "--set", "train.max_steps=6"]) == 0
    steps = [r["step"] for r in read_metrics(runs / "tiny" / "metrics.jsonl") if r["kind"] == "step"]
    assert steps == [1, 2, 3, 4, 5, 6] and not (runs / "tiny-2").exists()


@pytest.mark.timeout(240)
def test_torchrun_two_processes_write_one_run_folder(write_recipe, tmp_path):
    recipe = write_recipe(changes={"train": {"epochs": 1}})
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        str(VENV_BIN / "torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "fieldcast.app.commands.train",
        str(recipe),
        "--runs-dir",
        str(runs),
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=200, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in runs.iterdir()] == ["tiny"]
    records = list(read_metrics(runs / "tiny" / "metrics.jsonl"))
    assert records[0]["world_size"] == 2 and records[-1]["status"] == "completed"
    assert [r["step"] for r in records if r["kind"] == "step"] == [1, 2]  # 8 windows / (2 ranks x batch 2)
    assert (runs / "tiny" / "checkpoints" / "best.safetensors").exists()
