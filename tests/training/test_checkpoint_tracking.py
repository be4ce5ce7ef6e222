import json
import math

import pytest
import torch

from fieldcast.training.checkpoint import (
    atomic_write,
    load_checkpoint,
    load_model,
    load_train_state,
    save_checkpoint,
)
from fieldcast.training.models import build_model
from fieldcast.training.tracking import MetricsWriter, Tracker, read_metrics


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two" and [q.name for q in tmp_path.iterdir()] == ["f.bin"]


def test_checkpoint_roundtrip_and_torn_write_detection(tmp_path):
    model = build_model("unet", dict(in_channels=2, out_channels=1, depth=1, base_width=4))
    state = {"optimizer": {"lr": 0.1}, "rng": torch.get_rng_state()}
    weights = save_checkpoint(tmp_path, "last", model, {"step": 5, "epoch": 1, "normalisation": {}}, state)
    assert {p.name for p in tmp_path.iterdir()} == {"last.safetensors", "last.json", "last.pt"}
    clone, sidecar = load_model(weights)
    assert sidecar["model"]["name"] == "unet" and sidecar["step"] == 5
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), clone.state_dict().values(), strict=True)
    )
    assert load_train_state(tmp_path / "last.pt", expected_step=5)["optimizer"] == {"lr": 0.1}
    with pytest.raises(ValueError, match="step"):
        load_train_state(tmp_path / "last.pt", expected_step=6)
    side = json.loads((tmp_path / "last.json").read_text())
    side["step"] = 6
    (tmp_path / "last.json").write_text(json.dumps(side))
    with pytest.raises(ValueError, match="disagree"):
        load_checkpoint(weights)


def test_metrics_lines_and_truncated_tail(tmp_path):
    w = MetricsWriter(tmp_path / "metrics.jsonl")
    w.write({"kind": "step", "step": 1, "loss": 0.5})
    w.write({"kind": "step", "step": 2, "loss": math.nan})
    w.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "step", "st')
    records = list(read_metrics(tmp_path / "metrics.jsonl"))
    assert [r["step"] for r in records] == [1, 2] and records[1]["loss"] == "nan"


def test_tracker_without_optional_packages(tmp_path):
    t = Tracker(tmp_path, tensorboard=True, mlflow=True)  # neither installed here: skipped, no error
    t.write({"kind": "validation", "step": 3, "loss": 1.0, "rollout": {"10": 0.2}})
    t.close()
    assert next(read_metrics(tmp_path / "metrics.jsonl"))["rollout"] == {"10": 0.2}
