"""The generative task on tiny data: it learns, writes its records, exports, and the engine samples it."""

import json

import numpy as np
import pytest
import torch
from generative_data import recipe as tiny_recipe
from generative_data import write as write_tiny

from fieldcast.engine.data import open_dataset
from fieldcast.engine.generative import GenerationCancelled, GenerativeSession, is_generative_model
from fieldcast.engine.runtime import ModelError
from fieldcast.training.checkpoint import load_model
from fieldcast.training.config import recipe_from_dict
from fieldcast.training.export import export_run
from fieldcast.training.tasks.generative import GenerativeStep, ddim_sample
from fieldcast.training.trainer import Trainer


def drain(job):
    """Run a generator job to its end and return its value."""
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("generative")
    data = write_tiny(root / "tiny.h5")
    out = {"data": data}
    for objective, epochs in (("regression", 3), ("diffusion", 2)):
        run = root / objective
        list(Trainer(recipe_from_dict(tiny_recipe(data, objective, epochs)), open_dataset(data), run).run())
        drain(export_run(run))
        out[objective] = run
    return out


def _records(run, kind):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_regression_beats_the_mean_map(runs):
    last = _records(runs["regression"], "validation")[-1]
    assert last["nmse"] < 0.5 * last["mean_nmse"]
    assert last["ssim"] > last["mean_ssim"]


def test_diffusion_loss_falls_and_is_recorded_by_timestep(runs):
    vals = _records(runs["diffusion"], "validation")
    assert vals[-1]["loss"] < vals[0]["loss"]
    bins = _records(runs["diffusion"], "timestep_loss")
    assert len(bins) == len(vals)
    assert len(bins[0]["bins"]) == len(bins[0]["values"]) + 1 == 11
    assert sum(bins[0]["counts"]) > 0
    assert not _records(runs["regression"], "timestep_loss")  # no timesteps in a regression


def test_samples_files_hold_the_documented_arrays(runs):
    rec = _records(runs["diffusion"], "generative_samples")[-1]
    with np.load(runs["diffusion"] / rec["path"], allow_pickle=False) as f:
        assert f["condition"].shape == (2, 16, 16) and f["truth"].shape == (16, 16)
        assert f["samples"].shape == (4, 16, 16) and rec["samples"] == 4
        assert f["conditions"].shape == (4, 2, 16, 16) and f["predictions"].shape == f["truths"].shape
        assert (
            list(f["condition_names"]) == ["buildings", "transmitter"] and str(f["target_name"]) == "power_db"
        )
        assert f["samples"].std(axis=0).mean() > 0  # different samples of one condition
    with np.load(runs["regression"] / _records(runs["regression"], "generative_samples")[-1]["path"]) as f:
        assert np.ptp(f["samples"], axis=0).max() == 0  # a regression answers once


def test_exported_models_describe_themselves(runs):
    for objective in ("diffusion", "regression"):
        path = runs[objective] / "model.onnx"
        assert is_generative_model(path)
        info = GenerativeSession(path).info
        assert info.condition_channels == ("buildings", "transmitter") and info.target == "power_db"
        assert info.target_units == "dB" and info.grid == (16, 16) and info.source == "radio"
        assert info.is_diffusion == (objective == "diffusion")
    info = GenerativeSession(runs["diffusion"] / "model.onnx").info
    assert info.prediction == "v" and info.schedule == {"name": "cosine", "timesteps": 100}
    assert info.default_steps == 5
    report = json.loads((runs["diffusion"] / "export_report.json").read_text())
    assert report["variants"]["fp32"]["parity"]["ok"]


def test_engine_sampler_matches_the_trainers_sampler(runs):
    """Same noise (numpy default_rng(seed)) and the same DDIM arithmetic: torch and ONNX Runtime agree."""
    model, sidecar = load_model(runs["diffusion"] / "checkpoints" / "best.safetensors")
    step = GenerativeStep(model, sidecar["normalisation"], sidecar["generative"]).eval()
    ds = open_dataset(runs["data"])
    cond = ds.read_window(0, 0, 1)[0, :2]
    ref = ddim_sample(
        step, torch.from_numpy(cond[None]).expand(3, -1, -1, -1), sidecar["normalisation"], 5, 7
    )
    got = GenerativeSession(runs["diffusion"] / "model.onnx").sample(cond, n=3, steps=5, seed=7)
    assert np.abs(got - ref).max() < 1e-3 * np.ptp(ref)


def test_sampling_is_deterministic_per_seed_and_cancellable(runs):
    s = GenerativeSession(runs["diffusion"] / "model.onnx")
    cond = open_dataset(runs["data"]).read_window(0, 0, 1)[0, :2]
    a, b = s.sample(cond, n=2, seed=3), s.sample(cond, n=2, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, s.sample(cond, n=2, seed=4))
    assert not np.array_equal(s.sample(cond, seed=3, eta=1.0), s.sample(cond, seed=3))
    seen = []

    def stop_at_two(step, total, x0):
        seen.append((step, total, x0.shape))
        return step < 2

    with pytest.raises(GenerationCancelled):
        s.sample(cond, n=2, steps=4, callback=stop_at_two)
    assert seen == [(1, 4, (2, 16, 16)), (2, 4, (2, 16, 16))]
    with pytest.raises(ValueError, match="condition dropout"):
        s.sample(cond, guidance=2.0)
    with pytest.raises(ValueError, match=r"condition must be \(2, 16, 16\)"):
        s.sample(cond[:1])


def test_regression_session_repeats_its_one_answer(runs):
    s = GenerativeSession(runs["regression"] / "model.onnx")
    cond = open_dataset(runs["data"]).read_window(0, 0, 1)[0, :2]
    out = s.sample(cond, n=3, seed=0)
    assert out.shape == (3, 16, 16) and np.array_equal(out[0], out[2])


def test_a_field_model_file_is_not_a_generative_one(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not onnx")
    assert not is_generative_model(bad)
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        GenerativeSession(bad)


def test_eval_and_bench_handle_generative_models(runs, capsys):
    import sys

    from fieldcast.app.commands import bench
    from fieldcast.app.commands import eval as eval_cmd
    from fieldcast.engine.bench import iter_bench
    from fieldcast.engine.evaluate import iter_evaluate_model

    result = drain(
        iter_evaluate_model(runs["diffusion"] / "model.onnx", runs["data"], "test", n_trajectories=2)
    )
    assert result["task"] == "generative" and result["pairs"] == 8 and result["finite"]
    assert set(result["metrics"]) == {"nmse", "ssim", "psnr_db", "rmse"}
    assert "mean" in result["baselines"] and "calibration" in result
    eval_cmd.print_table(result, sys.stdout)
    assert "train-split mean map" in capsys.readouterr().out
    r = drain(iter_bench(runs["diffusion"] / "model.onnx", steps=10, warmup=0))
    assert r["task"] == "generative" and r["denoise_steps"] == 5 and r["samples"] == 2 and r["steps"] == 10
    assert r["ms_per_sample_p50"] > r["ms_p50"] > 0
    bench.print_report(r, sys.stdout)
    assert "ms/sample" in capsys.readouterr().out
