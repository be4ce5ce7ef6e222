"""Sequence training of the trajectory LSTM: events, checkpoints, evaluation beside the baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.engine.systems.trajectory import (
    INPUTS,
    TARGETS,
    Machine,
    iter_write_dataset,
    simulate_toolpath,
)
from fieldcast.engine.systems.trajectory.paths import random_toolpath
from fieldcast.training.events import CheckpointEvent, EpochEvent, FinishedEvent, StepEvent, ValidationEvent
from fieldcast.training.sequence import (
    SequenceRecipe,
    is_sequence_recipe,
    load_sequence_recipe,
    predict_stream,
    train_sequence,
)
from fieldcast.training.trajectory_eval import LinearBaseline, error_metrics, format_report, time_per_sample

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def traj_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("traj") / "traj.h5"
    list(iter_write_dataset(path, 8, 300, seed=3))
    return path


def test_packaged_recipe_loads():
    assert is_sequence_recipe("trajectory_lstm")
    recipe = load_sequence_recipe("trajectory_lstm", {"train.epochs": 1})
    assert recipe.loss["alpha"] == 0.7 and recipe.model["args"]["hidden_size"] == 56
    assert recipe.train["epochs"] == 1
    with pytest.raises(ValueError, match="unknown key"):
        SequenceRecipe(data={"seqlen": 3})


def test_training_yields_events_and_checkpoints(traj_file, tmp_path):
    from fieldcast.training.checkpoint import load_model

    recipe = SequenceRecipe(
        data={"seq_len": 30, "stride": 15, "warmup": 5, "batch_size": 16},
        model={"name": "lstm", "args": {"hidden_size": 16, "encoder_size": 8}},
        train={"epochs": 2},
    )
    events = list(train_sequence(recipe, traj_file, tmp_path / "run"))
    kinds = [type(e) for e in events]
    assert (
        StepEvent in kinds and EpochEvent in kinds and ValidationEvent in kinds and CheckpointEvent in kinds
    )
    fin = events[-1]
    assert isinstance(fin, FinishedEvent) and fin.status == "completed" and fin.best.is_file()
    val = [e for e in events if isinstance(e, ValidationEvent)]
    assert {"mae_um", "rmse_um", "r2", "r2_x", "p99_um"} <= set(val[-1].metrics)
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2
    net, sidecar = load_model(fin.best)
    x = np.random.default_rng(0).normal(size=(40, 4)) * 50 + 100
    assert predict_stream(net, x, sidecar["normalisation"]).shape == (40, 2)


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
