"""thermal-imaging through the command line on tiny sizes: generate -> train (diffusion and its regression
baseline) -> export -> eval -> bench, and the exported models sample through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fieldcast.app.cli import main as cli
from fieldcast.engine.data import open_dataset
from fieldcast.engine.generative import GenerativeSession

pytestmark = pytest.mark.slow


def _only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def test_generate_train_export_eval_bench(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = tmp_path / "radio.h5"
    gen = ["generate", "thermal-imaging", "--source", "radio", "--trajectories", "6", "--frames", "2"]
    assert cli([*gen, "--size", "16", "--seed", "3", "--out", str(data)]) == 0
    models = {}
    for recipe in ("generative_tiny", "generative_regression_tiny"):
        runs = tmp_path / recipe
        assert cli(["train", recipe, "--data", str(data), "--runs-dir", str(runs), "--device", "cpu"]) == 0
        run = _only_run(runs)
        kinds = {json.loads(line)["kind"] for line in (run / "metrics.jsonl").read_text().splitlines()}
        assert {"validation", "generative_samples"} <= kinds
        assert cli(["export", str(run)]) == 0
        models[recipe] = run / "model.onnx"
        capsys.readouterr()
        assert cli(["eval", str(models[recipe]), str(data), "--split", "valid"]) == 0
        out = capsys.readouterr().out
        assert "train-split mean map" in out and "NMSE" in out
        assert json.loads((run / "metrics.json").read_text())["task"] == "generative"
        assert cli(["bench", str(models[recipe]), "--steps", "10", "--warmup", "0"]) == 0
        assert "ms/sample" in capsys.readouterr().out
    diffusion = GenerativeSession(models["generative_tiny"])
    assert diffusion.info.is_diffusion and diffusion.info.source == "radio"
    assert diffusion.info.condition_channels == ("buildings", "transmitter")
    ds = open_dataset(data)
    cond = ds.read_window(0, 0, 1)[0, : len(diffusion.info.condition_channels)]
    maps = diffusion.sample(cond, n=2, seed=1)
    assert maps.shape == (2, 16, 16) and np.isfinite(maps).all()
    regression = GenerativeSession(models["generative_regression_tiny"])
    assert not regression.info.is_diffusion
