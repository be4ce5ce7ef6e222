"""One trainer, several tasks: the task registry and API, and every trainer feature for every task.

A feature written once in the trainer (mixed precision, gradient accumulation, the non-finite stop,
out-of-memory back-off, live learning rate, max_steps) must work for field rollout, recurrent field,
sequence and generative alike; and there is exactly one optimizer step in the package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

import fieldcast
from fieldcast.engine.data import open_dataset
from fieldcast.training import events as ev
from fieldcast.training.checkpoint import load_checkpoint
from fieldcast.training.config import load_recipe
from fieldcast.training.tasks import get_task, task_names
from fieldcast.training.tracking import read_metrics
from fieldcast.training.trainer import Trainer, TrainerControl

TASKS = ["field_rollout", "generative", "recurrent_field", "sequence"]
PACKAGE = Path(fieldcast.__file__).parent


@pytest.fixture
def make(task_recipe):
    """``make(task, changes) -> Trainer`` (no run folder unless ``run_dir`` is given)."""

    def build(task: str, changes: dict | None = None, run_dir=None, **kwargs) -> Trainer:
        path, data = task_recipe(task, changes)
        recipe = load_recipe(path, [f"data.path={data}"])
        return Trainer(recipe, open_dataset(data), run_dir, device="cpu", **kwargs)

    return build


# ---------------------------------------------------------------- the registry and the one loop


def test_every_task_is_registered_and_unknown_ones_are_named():
    assert task_names() == sorted([*TASKS, "field_block"])  # field_block: tests/e2e/test_stress_block.py
    with pytest.raises(KeyError, match="unknown task 'diffusion'; known tasks: field_block, field_rollout"):
        get_task("diffusion")


def test_there_is_one_optimizer_step_and_one_backward_in_the_package():
    steps, backwards = [], []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = ast.unparse(node.func.value)
                if node.func.attr == "step" and re.search(r"optim|scaler|\bopt\b", owner):
                    steps.append(rel)
                if node.func.attr == "backward":
                    backwards.append(rel)
    assert steps == ["training/trainer.py"] and backwards == ["training/trainer.py"]
    assert not (PACKAGE / "training" / "melt_train.py").exists()
    assert not (PACKAGE / "training" / "sequence.py").exists()


@pytest.mark.parametrize("task", TASKS)
def test_the_task_api(task, make):
    trainer = make(task)
    t = trainer.task
    assert t.name == task and t.has_validation() and len(t.train_set) > 0
    assert "training" in t.describe()
    side = t.sidecar()
    assert {"normalisation", "history", "grid", "dt"} <= set(side)
    metrics = t.validate(trainer.module.eval(), trainer.device)
    assert t.monitor in metrics and "loss" in metrics
    baseline = {
        "field_rollout": "persistence_loss",
        "recurrent_field": "persistence_front_mse",
        "generative": "mean_nmse",
    }
    assert baseline.get(task, "zero_rmse_um") in metrics  # every validation states its baseline
    batch = t.to_device(
        t.prepare(torch.utils.data.default_collate([t.train_set[0]]), [False]), trainer.device
    )
    loss, terms = t.loss(trainer.train_module.train(), batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    assert all(torch.isfinite(torch.as_tensor(v)) for v in terms.values())


# ---------------------------------------------------------------- every trainer feature for every task


@pytest.mark.parametrize("task", TASKS)
def test_bfloat16_autocast_trains_every_task_on_cpu(task, make):
    trainer = make(task, {"train": {"amp": True, "amp_dtype": "bfloat16", "max_steps": 2}})
    assert trainer.amp and trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()
    events = list(trainer.run())
    assert events[-1].status == "completed" and events[-1].step == 2
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())


@pytest.mark.parametrize("task", ["field_rollout", "sequence"])
def test_accumulating_two_half_batches_is_one_whole_batch(task, make):
    batch = 2 if task == "field_rollout" else 4
    whole = make(task, {"data": {"batch_size": 2 * batch}, "train": {"max_steps": 2}})
    halves = make(
        task, {"data": {"batch_size": batch}, "optim": {"accumulate": 2}, "train": {"max_steps": 2}}
    )
    a = [e.loss for e in whole.run() if isinstance(e, ev.StepEvent)]
    b = [e.loss for e in halves.run() if isinstance(e, ev.StepEvent)]
    assert len(a) == len(b) == 2 and a == pytest.approx(b, rel=1e-5)
    wa, wb = whole.model.state_dict(), halves.model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


@pytest.mark.parametrize("task", TASKS)
def test_a_non_finite_loss_stops_every_task(task, make, tmp_path):
    trainer = make(task, {"train": {"epochs": 2, "checkpoint_every": 1}}, run_dir=tmp_path / "run")
    model = trainer.model
    forward = model.forward
    poisoned = {"on": False}

    def poison(*args, **kwargs):
        out = forward(*args, **kwargs)
        if not poisoned["on"]:
            return out
        if isinstance(out, tuple):
            return (out[0] * torch.nan, *out[1:])
        return out * torch.nan

    model.forward = poison
    for event in trainer.run():
        if isinstance(event, ev.CheckpointEvent) and event.step == 2:
            poisoned["on"] = True
    assert event.status == "diverged" and event.step == 2 and "step 3" in event.message
    weights, sidecar = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert sidecar["step"] == 2 and all(torch.isfinite(v).all() for v in weights.values())


@pytest.mark.parametrize("task", TASKS)
def test_out_of_memory_halves_the_batch_for_every_task(task, make, tmp_path):
    changes = {"data": {"batch_size": 4}, "train": {"epochs": 2, "max_steps": 3}}
    trainer = make(task, changes, run_dir=tmp_path / "run")
    loss = trainer.task.loss
    seen = []

    def tight(module, batch):
        size = (batch[0] if isinstance(batch, (tuple, list)) else batch).shape[0]
        seen.append(size)
        if size > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return loss(module, batch)

    trainer.task.loss = tight
    events = list(trainer.run())
    assert events[-1].status == "completed" and events[-1].step == 3
    assert seen[0] == 4 and set(seen[1:]) == {2}
    assert trainer.recipe.data.batch_size == 2 and trainer.recipe.optim.accumulate == 2
    backoff = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "oom_backoff"]
    assert len(backoff) == 1 and backoff[0]["previous_batch_size"] == 4


@pytest.mark.parametrize("task", TASKS)
def test_live_learning_rate_and_max_steps_for_every_task(task, make):
    control = TrainerControl()
    trainer = make(task, {"train": {"epochs": 5, "max_steps": 3}}, control=control)
    lrs = []
    for event in trainer.run():
        if isinstance(event, ev.StepEvent):
            lrs.append(event.lr)
            control.set_lr(0.05)
    assert lrs == pytest.approx([1e-3, 0.05, 0.05])
    assert event.status == "completed" and event.step == 3 and "max_steps=3" in event.message
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
