"""Faults during training: out of memory backs off and goes on; cancel stops within one batch.

Covered elsewhere and not repeated here: a non-finite loss stops the run keeping the last good checkpoint
(``tests/training/test_trainer.py::test_nan_stops_the_run_and_keeps_the_last_good_checkpoint``) and resume
is bit-exact (``tests/training/test_trainer.py::test_resume_equals_an_uninterrupted_run_bit_for_bit``).
"""

from __future__ import annotations

import pytest
import torch
import yaml

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.training import events as ev
from fieldcast.training.checkpoint import load_checkpoint
from fieldcast.training.config import load_recipe
from fieldcast.training.tasks import field_rollout as task_module
from fieldcast.training.tracking import read_metrics
from fieldcast.training.trainer import Trainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def smoke_ds(tmp_path_factory):
    from fieldcast.engine.data import open_dataset
    from fieldcast.engine.generation import generate_dataset

    path = tmp_path_factory.mktemp("faults") / "smoke.h5"
    for _ in generate_dataset("smoke", path, trajectories=3, frames=6, size=16, seed=0):
        pass
    with open_dataset(path) as ds:
        yield ds


def tiny_recipe(tmp_path, smoke_ds, **train):
    data = {
        "system": "smoke",
        "data": {"path": str(smoke_ds.path), "batch_size": 4, "max_train_windows": 8, "max_valid_windows": 2},
        "model": {
            "name": "unet",
            "args": {"depth": 1, "base_width": 4, "norm": "group", "groups": 2, "bottleneck_blocks": 0},
        },
        "rollout": {"steps": 1},
        "train": {"epochs": 2, "log_every": 1, "rollout_test_every": 0, **train},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_recipe(path)


def inject(monkeypatch, failures: int, make_error, when=lambda window: True) -> list[int]:
    """Make ``rollout_loss`` raise ``make_error()`` on its first ``failures`` calls that match ``when``."""
    real = task_module.rollout_loss
    sizes: list[int] = []

    def flaky(module, window, *args, **kwargs):
        sizes.append(window.shape[0])
        if failures > sum(1 for s in sizes[:-1] if s == -1) and when(window):
            sizes[-1] = -1
            raise make_error()
        return real(module, window, *args, **kwargs)

    monkeypatch.setattr(task_module, "rollout_loss", flaky)
    return sizes


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        lambda: RuntimeError("CUDA out of memory. Tried to allocate 512.00 MiB"),
    ],
    ids=["OutOfMemoryError", "RuntimeError"],
)
def test_out_of_memory_halves_the_batch_and_goes_on(monkeypatch, tmp_path, smoke_ds, make_error):
    recipe = tiny_recipe(tmp_path, smoke_ds)
    sizes = inject(monkeypatch, 2, make_error, when=lambda w: w.shape[0] > 1)
    trainer = Trainer(recipe, smoke_ds, tmp_path / "run")
    planned = trainer.total_steps
    events = list(trainer.run())
    fin = events[-1]
    assert isinstance(fin, ev.FinishedEvent) and fin.status == "completed"
    assert fin.step == planned  # the effective batch is kept: as many optimizer steps as planned
    assert [s for s in sizes if s == -1] == [-1, -1]
    assert max(s for s in sizes if s > 0) == 1  # 4 -> 2 -> 1 windows per micro-batch
    notes = [e.message for e in events if isinstance(e, Progress) and "out of memory" in e.message]
    assert len(notes) == 2 and "batch size 1" in notes[-1]
    backoffs = [r for r in read_metrics(tmp_path / "run/metrics.jsonl") if r["kind"] == "oom_backoff"]
    assert [(r["previous_batch_size"], r["batch_size"], r["accumulate"]) for r in backoffs] == [
        (4, 2, 2),
        (2, 1, 4),
    ]
    _, sidecar = load_checkpoint(tmp_path / "run/checkpoints/last.safetensors")
    assert sidecar["config"]["data"]["batch_size"] == 1  # a resume keeps the batch that fits


def test_out_of_memory_at_batch_size_one_ends_the_run_cleanly(monkeypatch, tmp_path, smoke_ds):
    recipe = tiny_recipe(tmp_path, smoke_ds)
    inject(monkeypatch, 100, lambda: torch.cuda.OutOfMemoryError("CUDA out of memory"))
    fin = list(Trainer(recipe, smoke_ds, tmp_path / "run").run())[-1]
    assert fin.status == "failed" and "batch size 1" in fin.message


def test_cancel_returns_within_one_batch(monkeypatch, tmp_path, smoke_ds):
    recipe = tiny_recipe(tmp_path, smoke_ds, epochs=5)
    token = CancelToken()
    real = task_module.rollout_loss
    calls = []

    def cancelling(module, window, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            token.cancel()  # as if the user pressed Stop while this batch runs
        return real(module, window, *args, **kwargs)

    monkeypatch.setattr(task_module, "rollout_loss", cancelling)
    events = list(Trainer(recipe, smoke_ds, tmp_path / "run", token=token).run())
    fin = events[-1]
    assert fin.status == "cancelled" and fin.step == 3 and len(calls) == 3  # the batch ran, no other did
    _, sidecar = load_checkpoint(tmp_path / "run/checkpoints/last.safetensors")
    assert sidecar["step"] == 3
