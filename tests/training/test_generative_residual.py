"""Regression + diffusion correction: a residual diffusion run on tiny data, its export and its sampler."""

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from generative_data import recipe as tiny_recipe
from generative_data import write as write_tiny

from fieldcast.engine.data import open_dataset
from fieldcast.engine.generative import GenerativeSession
from fieldcast.engine.runtime import ModelError
from fieldcast.training.checkpoint import load_model
from fieldcast.training.config import RecipeError, recipe_from_dict
from fieldcast.training.export import ExportError, export_run
from fieldcast.training.tasks.generative import GenerativeStep, ddim_sample
from fieldcast.training.trainer import Trainer


def drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def train(recipe: dict, data, run):
    list(Trainer(recipe_from_dict(recipe), open_dataset(data), run).run())
    drain(export_run(run))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("residual")
    data = write_tiny(root / "tiny.h5")
    regression = train(tiny_recipe(data, "regression", 2), data, root / "regression")
    mean_model = root / "mean.onnx"
    shutil.copy(regression / "model.onnx", mean_model)
    recipe = tiny_recipe(data, "diffusion", 2)
    recipe["generative"]["mean_model"] = str(mean_model)
    residual = train(recipe, data, root / "residual")
    return {"data": data, "mean": mean_model, "residual": residual, "root": root}


def _condition(runs):
    return open_dataset(runs["data"]).read_window(0, 0, 1)[0, :2]


def test_residual_export_carries_its_regression_model(runs):
    s = GenerativeSession(runs["residual"] / "model.onnx")
    assert s.info.is_diffusion and s.info.residual and s.info.mean_model["file"] == "mean.onnx"
    report = json.loads((runs["residual"] / "export_report.json").read_text())
    assert report["variants"]["fp32"]["parity"]["ok"]
    cond = _condition(runs)
    alone = GenerativeSession(runs["mean"]).predict(cond[None])
    assert np.array_equal(s.mean(cond[None]), alone)  # the same bytes inside, the same answer


def test_engine_sampler_matches_the_trainers_and_adds_the_mean_back(runs):
    model, sidecar = load_model(runs["residual"] / "checkpoints" / "best.safetensors")
    norm, gen = sidecar["normalisation"], sidecar["generative"]
    assert gen["residual"] and 0 < norm["residual_std"] < 0.5 * np.ptp(norm["residual_range"])  # std scale
    step = GenerativeStep(model, norm, gen).eval()
    cond = _condition(runs)
    mean = torch.from_numpy(GenerativeSession(runs["mean"]).predict(cond[None])).expand(3, -1, -1, -1)
    c = torch.from_numpy(cond[None]).expand(3, -1, -1, -1)
    ref = ddim_sample(step, c, norm, 5, 7, mean=mean)
    s = GenerativeSession(runs["residual"] / "model.onnx")
    got = s.sample(cond, n=3, steps=5, seed=7)
    assert np.abs(got - ref).max() < 1e-3 * np.ptp(ref)
    # what the samples differ from the regression answer by stays within the residual's clip bounds
    lo, hi = norm["residual_range"]
    margin = 0.1 * (hi - lo)
    diff = got - mean[:, 0].numpy()
    assert diff.min() >= lo - margin - 1e-4 and diff.max() <= hi + margin + 1e-4


def test_a_tampered_mean_model_is_refused(runs, tmp_path):
    model = onnx.load(str(runs["residual"] / "model.onnx"))
    for p in model.metadata_props:
        if p.key == "fieldcast.mean_model":
            meta = json.loads(p.value)
            meta["sha256"] = "0" * 64
            p.value = json.dumps(meta)
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ModelError, match="does not match its recorded SHA-256"):
        GenerativeSession(bad)


def test_mean_model_needs_diffusion_and_a_regression_file(runs):
    data = runs["data"]
    wrong = tiny_recipe(data, "regression", 1)
    wrong["generative"]["mean_model"] = str(runs["mean"])
    with pytest.raises(RecipeError, match="needs objective: diffusion"):
        list(Trainer(recipe_from_dict(wrong), open_dataset(data), runs["root"] / "w1").run())
    twice = tiny_recipe(data, "diffusion", 1)
    twice["generative"]["mean_model"] = str(runs["residual"] / "model.onnx")
    with pytest.raises(RecipeError, match="is a diffusion model, not a regression one"):
        list(Trainer(recipe_from_dict(twice), open_dataset(data), runs["root"] / "w2").run())


def test_export_refuses_a_changed_regression_model(runs, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(runs["residual"], run)
    original = runs["mean"].read_bytes()
    try:
        runs["mean"].write_bytes(original + b"\0")
        with pytest.raises(ExportError, match="changed since"):
            drain(export_run(run))
    finally:
        runs["mean"].write_bytes(original)


def test_export_steps_sets_the_default_of_diffusion_models_only(runs, tmp_path):
    drain(export_run(runs["residual"], out=tmp_path / "five.onnx", steps=3))
    assert GenerativeSession(tmp_path / "five.onnx").info.default_steps == 3
    with pytest.raises(ExportError, match="diffusion models only"):
        drain(export_run(runs["root"] / "regression", out=tmp_path / "r.onnx", steps=3))


def test_bench_and_eval_run_a_residual_model(runs):
    from fieldcast.engine.bench import iter_bench
    from fieldcast.engine.evaluate import iter_evaluate_model

    r = drain(iter_bench(runs["residual"] / "model.onnx", steps=10, warmup=0))
    assert r["task"] == "generative" and r["denoise_steps"] == 5 and r["ms_p50"] > 0
    result = drain(
        iter_evaluate_model(runs["residual"] / "model.onnx", runs["data"], "test", n_trajectories=2)
    )
    assert result["finite"] and result["metrics"]["nmse"] < result["baselines"]["mean"]["nmse"]
