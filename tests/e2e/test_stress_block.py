"""The stress system with a model that predicts 20 load increments per call: train, export, eval, Play."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fieldcast.app.cli import main as cli

pytestmark = pytest.mark.slow

TINY = ["--set", "model.args.base_width=4", "--set", "model.args.depth=1", "--set", "train.max_steps=3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("block") / "stress.h5"
    generate = ["generate", "stress", "--microstructures", "5", "--increments", "24", "--grains", "5"]
    assert cli([*generate, "--size", "16", "--seed", "3", "--out", str(path)]) == 0
    return path


def test_items_mask_the_frames_past_the_training_range(data: Path):
    from fieldcast.resources import resource_path
    from fieldcast.training.config import load_recipe
    from fieldcast.training.datasets import open_data
    from fieldcast.training.tasks import get_task

    recipe = load_recipe(resource_path("recipes", "stress/stress_block.yaml"))
    task = get_task("field_block")(recipe, open_data(str(data)))
    assert task.k == 20
    # a start at frame 15 of a 21-frame segment has 5 frames to score (16..20), the other 15 are masked
    i = task.train_set.starts.index((0, 15))
    x, target, valid = task.train_set[i]
    assert x.shape == (5, 16, 16) and target.shape == (20, 16, 16)
    assert valid.tolist() == [1.0] * 5 + [0.0] * 15
    states = task.train_set.segments[0][0]
    assert np.array_equal(target[:5].numpy(), states[16:21, 0])
    assert float(target[5:].abs().max()) == 0.0
    # the change to frame t+k grows with k: each output is scaled by its own spread
    scale = task.norm["out_std"]
    assert len(scale) == 20 and scale[0] < scale[9] < scale[19]


def test_train_export_eval_and_play_one_call_per_20_increments(data: Path, tmp_path: Path, capsys):
    runs = tmp_path / "runs"
    assert cli(["train", "stress_block", "--data", str(data), "--runs-dir", str(runs), *TINY]) == 0
    run = runs / "stress_block"
    assert cli(["export", str(run)]) == 0
    model = run / "model.onnx"
    capsys.readouterr()
    assert cli(["eval", str(model), str(data), "--split", "valid", "--horizons", "1,20"]) == 0
    out = capsys.readouterr().out
    assert "mae/sigma_vM [MPa]" in out

    from fieldcast.engine.runtime import ModelSession
    from fieldcast.engine.systems.stress import sample_microstructure
    from fieldcast.engine.systems.stress.play import StressPlay, network_call

    session = ModelSession(model, threads=1)
    assert session.info.increments == 20 and session.info.output_channels == ("sigma_vM",)
    report = json.loads((run / "export_report.json").read_text())
    assert report["variants"]["fp32"]["parity"]["ok"]

    calls = []

    def run_model(x):
        calls.append(x.shape)
        return session.run(x)["next_fields"]

    micro = sample_microstructure(np.random.default_rng(0), (16, 16), grains=4)
    play = StressPlay(micro, run_model, dict(session.info.layout), increments=20, max_increments=24)
    frames = [play.advance() for _ in range(24)]
    assert len(calls) == 2  # increments 1-20 from one call, 21-24 from the next
    block = network_call(
        run_model, dict(session.info.layout), np.zeros((16, 16), np.float32), play.controls, 20
    )
    assert block.shape == (20, 16, 16)
    assert np.allclose(frames[4].network, block[4], atol=1e-4)
    assert all(f.network_seconds > 0 for f in frames)
