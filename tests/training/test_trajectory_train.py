"""The trajectory LSTM through the one trainer (task ``sequence``): recipe, events, run folder, sidecar,
streaming prediction, exact resume, and the evaluation beside the zero and linear baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.engine.data import open_dataset
from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.systems.trajectory import INPUTS, TARGETS, Machine, simulate_toolpath
from fieldcast.engine.systems.trajectory.paths import random_toolpath
from fieldcast.training import events as ev
from fieldcast.training.checkpoint import load_checkpoint, load_model
from fieldcast.training.config import RecipeError, load_recipe
from fieldcast.training.runs import Curriculum, read_status
from fieldcast.training.tasks.sequence import SequenceTask, predict_stream
from fieldcast.training.tracking import read_metrics
from fieldcast.training.trainer import Trainer
from fieldcast.training.trajectory_eval import LinearBaseline, error_metrics, format_report, time_per_sample


def test_packaged_recipe_loads():
    recipe = load_recipe("trajectory_lstm", ["train.epochs=1"])
    assert recipe.task == "sequence" and recipe.system == "trajectory"
    assert recipe.loss.hybrid == 1.0 and recipe.loss.hybrid_alpha == 0.7 and recipe.loss.mse == 0.0
    assert recipe.model.args["hidden_size"] == 56 and recipe.train.epochs == 1
    assert (recipe.sequence.seq_len, recipe.sequence.stride, recipe.sequence.warmup) == (50, 10, 10)
    with pytest.raises(RecipeError, match="unknown key 'sequence.seqlen'"):
        load_recipe("trajectory_lstm", ["sequence.seqlen=3"])


def test_training_yields_events_and_checkpoints(task_recipe, tmp_path):
    recipe, data = task_recipe("sequence", {"train": {"epochs": 2}}, name="traj")
    runs = tmp_path / "runs"
    events = list(Curriculum(recipe, runs_dir=runs, data=str(data)).run())
    kinds = {type(e) for e in events}
    assert {ev.DataEvent, ev.StepEvent, ev.EpochEvent, ev.ValidationEvent, ev.CheckpointEvent} <= kinds
    fin = next(e for e in events if isinstance(e, ev.FinishedEvent))
    assert fin.status == "completed" and fin.best.is_file()
    val = [e for e in events if isinstance(e, ev.ValidationEvent)]
    expected = {"mae_um", "rmse_um", "r2", "r2_x", "p99_um", "loss", "zero_rmse_um", "linear_rmse_um"}
    assert expected <= set(val[-1].metrics)
    run = runs / "traj"
    assert read_status(run)["task"] == "sequence" and read_status(run)["status"] == "completed"
    records = list(read_metrics(run / "metrics.jsonl"))
    assert [r["kind"] for r in records].count("validation") == 2

    net, side = load_model(fin.best)
    assert side["kind"] == "sequence" and side["task"] == "sequence" and side["monitor"] == "rmse_um"
    assert side["inputs"] == list(INPUTS) and side["targets"] == list(TARGETS)
    norm = side["normalisation"]
    assert norm["input_names"] == list(INPUTS) and len(norm["in_mean"]) == 4 and len(norm["out_std"]) == 2
    x = np.random.default_rng(0).normal(size=(40, 4)) * 50 + 100
    assert predict_stream(net, x, norm).shape == (40, 2)


def test_validation_streams_whole_trajectories_like_the_exported_predictor(task_recipe):
    recipe_path, data = task_recipe("sequence")
    task = SequenceTask(load_recipe(recipe_path, [f"data.path={data}"]), open_dataset(data))
    net = task.build_model().eval()
    metrics = task.validate(net, torch.device("cpu"))
    x, truth = task.valid_x[0], task.valid_y[0]
    streamed = predict_stream(net, x, task.norm)
    # One sample at a time with the state carried: the same numbers as the whole-sequence call.
    h = None
    steps = []
    with torch.no_grad():
        xn = torch.as_tensor((x - task.norm["in_mean"]) / task.norm["in_std"], dtype=torch.float32)
        for k in range(len(x)):
            y, h = net.forward_with_state(xn[None, k : k + 1], h)
            steps.append(y[0, 0].double().numpy() * task.norm["out_std"] + task.norm["out_mean"])
    assert np.allclose(np.stack(steps), streamed, atol=1e-4)
    assert metrics["zero_rmse_um"] == pytest.approx(
        float(np.sqrt(np.mean(np.concatenate(task.valid_y) ** 2)))
    )
    assert truth.shape == (len(x), 2)


def test_resume_continues_exactly(task_recipe, tmp_path):
    recipe_path, data = task_recipe("sequence", {"train": {"epochs": 2, "seed": 5}})
    recipe = load_recipe(recipe_path, [f"data.path={data}"])
    ds = open_dataset(data)
    list(Trainer(recipe, ds, tmp_path / "a").run())
    trainer = Trainer(recipe, ds, tmp_path / "b", token=CancelToken())
    for event in trainer.run():
        if isinstance(event, ev.StepEvent) and event.step == 5:
            trainer.token.cancel()
    last = tmp_path / "b" / "checkpoints" / "last.safetensors"
    assert load_checkpoint(last)[1]["step"] == 5
    assert list(Trainer(recipe, ds, tmp_path / "b", resume_from=last).run())[-1].status == "completed"
    a, b = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")[0], load_checkpoint(last)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_linear_baseline_explains_a_linear_machine():
    rng = np.random.default_rng(0)
    machine = Machine()  # no friction, backlash, quantisation or jitter: linear from motion to error
    sims = [simulate_toolpath(random_toolpath(rng, 6.0), machine) for _ in range(3)]
    xs = [np.stack([s[k] for k in INPUTS], 1) for s in sims]
    ys = [np.stack([s[k] for k in TARGETS], 1) for s in sims]
    base = LinearBaseline.fit(xs[:2], ys[:2])
    m = error_metrics(base.predict(xs[2]), ys[2])
    zero = error_metrics(np.zeros_like(ys[2]), ys[2])
    assert m["r2"] > 0.8 and m["rmse_um"] < 0.5 * zero["rmse_um"]
    assert zero["r2"] <= 0.0


def test_metrics_and_report():
    truth = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 8.0]])
    m = error_metrics(truth, truth)
    assert m["mae_um"] == 0.0 and m["r2"] == 1.0 and m["p99_um"] == 0.0
    bad = error_metrics(truth + 1.0, truth)
    assert bad["mae_um"] == pytest.approx(1.0) and bad["rmse_um"] == pytest.approx(1.0)
    lines = format_report({"surrogate": bad, "linear": m, "zero": bad})
    assert "does NOT beat" in lines[-1]
    timing = time_per_sample(lambda i: None, n=50, warmup=1)
    assert timing["ms_p50"] >= 0 and timing["per_second"] > 0
