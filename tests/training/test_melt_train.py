"""The melt microstructure ConvLSTM through the one trainer (task ``recurrent_field``): events, run folder,
sidecar, exact resume, the solidification loss and the melt metrics on a tiny generated dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.engine.data import open_dataset
from fieldcast.engine.jobs import CancelToken
from fieldcast.training import events as ev
from fieldcast.training.checkpoint import load_checkpoint, load_model
from fieldcast.training.config import load_recipe
from fieldcast.training.melt_eval import FrontScore, front_mask, pool_errors
from fieldcast.training.runs import Curriculum, read_status
from fieldcast.training.tasks.recurrent_field import (
    RecurrentFieldTask,
    RecurrentStep,
    run_window,
    solidification_weights,
)
from fieldcast.training.tracking import read_metrics
from fieldcast.training.trainer import Trainer

IPF = [f"ipf_{a}_{c}" for a in "xyz" for c in "rgb"]


def test_packaged_recipes_are_recurrent_field_recipes():
    for name in ("melt_convlstm", "melt_convlstm_residual", "melt_play_convlstm"):
        recipe = load_recipe(name)
        assert recipe.task == "recurrent_field" and recipe.system == "melt"
        assert recipe.data.state_channels == IPF and recipe.recurrent.condition_channels == ["temperature"]
        assert recipe.recurrent.context == 3 and recipe.model.name == "convlstm"


def test_training_yields_events_fills_the_run_and_carries_the_model(task_recipe, tmp_path):
    recipe, data = task_recipe("recurrent_field", {"train": {"epochs": 2}}, name="melt")
    runs = tmp_path / "runs"
    events = list(Curriculum(recipe, runs_dir=runs, data=str(data)).run())
    steps = [e for e in events if isinstance(e, ev.StepEvent)]
    assert len(steps) == 8 and all(np.isfinite(e.loss) and "mse" in e.parts for e in steps)
    data_event = next(e for e in events if isinstance(e, ev.DataEvent))
    assert data_event.task == "recurrent_field" and "windows of 4 frames" in data_event.description
    val = [e for e in events if isinstance(e, ev.ValidationEvent)]
    assert len(val) == 2
    assert {"mse", "front_mse", "persistence_mse", "persistence_front_mse", "loss"} <= set(val[0].metrics)
    assert val[0].metrics["loss"] == val[0].metrics["front_mse"]  # the monitor for a melt system
    samples = next(e for e in events if isinstance(e, ev.SamplesEvent))
    assert samples.channel_names == tuple(IPF) and samples.truth.shape[1:] == (9, 32, 16)
    fin = next(e for e in events if isinstance(e, ev.FinishedEvent))
    assert fin.status == "completed" and fin.best.is_file()
    run = runs / "melt"
    assert read_status(run)["status"] == "completed" and read_status(run)["task"] == "recurrent_field"
    kinds = [r["kind"] for r in read_metrics(run / "metrics.jsonl")]
    assert kinds.count("step") == 8 and kinds.count("validation") == 2

    model, side = load_model(fin.best)
    assert side["task"] == "recurrent_field" and side["kind"] == "recurrent-field"
    assert side["state_channels"] == IPF and side["condition_channels"] == ["temperature"]
    assert (side["solidus"], side["liquidus"]) == (1658.0, 1723.0) and side["context"] == 3
    assert side["monitor"] == "front_mse" and side["metric"] == min(v.metrics["front_mse"] for v in val)
    assert side["normalisation"]["input_names"][-2:] == ["temperature", "temperature@t+1"]
    # The rebuilt model streams a window exactly as the trained module did.
    ds = open_dataset(data)
    task = RecurrentFieldTask(load_recipe(recipe, [f"data.path={data}"]), ds)
    w = task.valid_set[0][None]
    preds = run_window(RecurrentStep(model, side["normalisation"]).eval(), w, 1, 3)
    assert len(preds) == 1 and preds[0].shape == (1, 9, 32, 16) and torch.isfinite(preds[0]).all()


def test_resume_continues_exactly(task_recipe, tmp_path):
    recipe_path, data = task_recipe("recurrent_field", {"train": {"epochs": 2, "seed": 4}})
    recipe = load_recipe(recipe_path, [f"data.path={data}"])
    ds = open_dataset(data)
    list(Trainer(recipe, ds, tmp_path / "a").run())
    trainer = Trainer(recipe, ds, tmp_path / "b", token=CancelToken())
    for event in trainer.run():
        if isinstance(event, ev.StepEvent) and event.step == 3:
            trainer.token.cancel()
    last = tmp_path / "b" / "checkpoints" / "last.safetensors"
    assert load_checkpoint(last)[1]["step"] == 3
    assert list(Trainer(recipe, ds, tmp_path / "b", resume_from=last).run())[-1].status == "completed"
    a, b = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")[0], load_checkpoint(last)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_loss_ignores_liquid_cells_and_weighs_the_mushy_range(task_recipe):
    recipe_path, data = task_recipe("recurrent_field")
    task = RecurrentFieldTask(load_recipe(recipe_path, [f"data.path={data}"]), open_dataset(data))
    batch = torch.zeros(1, 4, 10, 4, 4)  # (B, L, temperature + 9 IPF, H, W)
    batch[:, :, 0] = 1000.0  # solid everywhere ...
    batch[:, 3, 0, 0, 0] = 2000.0  # ... but one cell liquid at the scored frame
    target = batch[:, 3, 1:].clone()

    class Fixed(torch.nn.Module):
        def __init__(self, pred):
            super().__init__()
            self.pred = pred

        def forward(self, window):
            return self.pred[:, None]

    wrong_in_liquid = target.clone()
    wrong_in_liquid[:, :, 0, 0] = 5.0
    assert task.loss(Fixed(wrong_in_liquid), batch)[0] == 0.0
    wrong_in_solid = target.clone()
    wrong_in_solid[:, :, 1, 1] = 1.0
    cold, _ = task.loss(Fixed(wrong_in_solid), batch)
    batch[:, 3, 0, 1, 1] = 1690.5  # the same error in the middle of the mushy range weighs more
    mushy, _ = task.loss(Fixed(wrong_in_solid), batch)
    assert 0.0 < cold < mushy


def test_solidification_weights_peak_between_solidus_and_liquidus():
    t = torch.tensor([1500.0, 1658.0, 1690.5, 1723.0, 1900.0])
    w = solidification_weights(t, 1658.0, 1723.0)
    assert int(w.argmax()) == 2 and w[2] == pytest.approx(1.0)
    assert w[0] < w[1] < w[2] and w[4] < w[3] < w[2]


def test_front_and_persistence_scores():
    ipf_now = torch.rand(1, 9, 6, 6)
    ipf_now[:, :, :, 3:] = 0.0  # the top half is liquid at t
    t_next = torch.full((1, 6, 6), 1000.0)
    t_next[:, :, 4:] = 1800.0  # ... and the top two rows stay liquid at t+1
    front = front_mask(t_next, ipf_now, 1723.0)
    assert front[0, :, 3].all() and not front[0, :, :3].any() and not front[0, :, 4:].any()
    target = ipf_now.clone()
    target[:, :, :, 3] = 0.5  # the newly solid row gets an orientation
    score = FrontScore()
    score.add(target, target, ipf_now, t_next, 1723.0)
    r = score.result()
    assert r["mse"] == 0.0 and r["front_mse"] == 0.0
    assert r["persistence_front_mse"] == pytest.approx(0.25)
    assert r["persistence_mse"] == pytest.approx(0.25 * 6 / 24)


def test_pool_errors():
    temp = np.full((3, 20, 10), 300.0)
    temp[:, 5:12, 7:] = 2000.0
    assert pool_errors(temp, temp, 5e-6, 1723.0)["pool_depth_error"] == 0.0
    shallow = temp.copy()
    shallow[:, :, 7] = 300.0
    err = pool_errors(shallow, temp, 5e-6, 1723.0)
    assert err["pool_depth_error"] == pytest.approx(5e-6, rel=0.2)
