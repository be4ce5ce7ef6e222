"""Every task trains under ``torchrun --nproc-per-node 2`` (gloo on CPU) through ``fieldcast train``.

Only rank 0 writes the run folder; the run completes with its checkpoints; and two processes with batch B
each take the same optimizer steps as one process with batch 2B (the epoch plan deals each rank half of
every global batch and DDP averages their gradients), so the logged losses and the weights agree.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fieldcast.app.commands import train
from fieldcast.training.checkpoint import load_checkpoint
from fieldcast.training.runs import read_status
from fieldcast.training.tracking import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def torchrun(recipe, data, runs, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "fieldcast.app.commands.train",
        str(recipe),
        "--data",
        str(data),
        "--runs-dir",
        str(runs),
        "--device",
        "cpu",
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=200, cwd=runs.parent)


def step_losses(run) -> list[float]:
    return [r["loss"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "step"]


@pytest.mark.parametrize("task", ["field_rollout", "recurrent_field", "sequence"])
def test_two_processes_train_every_task_like_one_process_of_twice_the_batch(task, task_recipe, tmp_path):
    recipe, data = task_recipe(task, {"train": {"epochs": 2}}, name="tiny")
    runs = tmp_path / "runs"
    proc = torchrun(recipe, data, runs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in runs.iterdir()] == ["tiny"]  # rank 1 made no folder of its own
    run = runs / "tiny"
    status = read_status(run)
    assert status["status"] == "completed" and status["task"] == task
    records = list(read_metrics(run / "metrics.jsonl"))
    assert [r["kind"] for r in records].count("start") == 1  # one writer
    assert records[0]["world_size"] == 2 and records[-1]["status"] == "completed"
    losses = step_losses(run)
    for tag in ("best", "last"):
        _, sidecar = load_checkpoint(run / "checkpoints" / f"{tag}.safetensors")
        assert sidecar["task"] == task
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")[1]["step"] == len(losses)
    assert (run / "checkpoints" / "last.pt").is_file()
    assert proc.stderr.count("finished: completed") == 1  # rank 1 prints nothing

    # The same optimisation in one process with twice the batch: the same losses and weights.
    batch = {"field_rollout": 2, "recurrent_field": 2, "sequence": 4}[task]
    one = tmp_path / "one"
    args = [str(recipe), "--data", str(data), "--runs-dir", str(one), "--device", "cpu"]
    assert train.main([*args, "--set", f"data.batch_size={2 * batch}"]) == 0
    single = step_losses(one / "tiny")
    assert len(losses) == len(single) == 4
    if task == "recurrent_field":
        # Its loss is a masked mean (sum over solid cells / their count), so the mean of two half-batch
        # losses weighs cells a little differently from one full batch: close, not equal.
        assert losses == pytest.approx(single, rel=0.1), (losses, single)
        return
    assert losses == pytest.approx(single, rel=2e-4), (losses, single)
    a = load_checkpoint(run / "checkpoints" / "last.safetensors")[0]
    b = load_checkpoint(one / "tiny" / "checkpoints" / "last.safetensors")[0]
    assert all((a[k] - b[k]).abs().max() < 1e-4 for k in a)
