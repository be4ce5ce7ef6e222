"""Writers SIGKILLed at random moments: the last complete checkpoint, dataset and metrics always read."""

from __future__ import annotations

import json
import random

import pytest
from reliability_cases import KillServer, check_checkpoint_folder, check_dataset, check_metrics

pytestmark = pytest.mark.slow

CHECKPOINT_KILLS = 60


def test_checkpoints_survive_sigkill_at_random_points(tmp_path):
    rng = random.Random(11)
    folder = tmp_path / "checkpoints"
    step = 0
    killed = 0
    with KillServer("checkpoint", folder) as server:
        for _ in range(CHECKPOINT_KILLS):
            note = json.loads(server.kill_after(rng.uniform(0.02, 0.25), start=step + 1))
            killed += note["killed"]
            if (folder / "last.json").exists() or (folder / "last.prev.json").exists():
                step = check_checkpoint_folder(folder, step)
    assert killed == CHECKPOINT_KILLS
    assert step > 0


def test_metrics_jsonl_survives_sigkill_mid_line(tmp_path):
    rng = random.Random(5)
    count = 0
    with KillServer("metrics", tmp_path) as server:
        for _ in range(12):
            assert json.loads(server.kill_after(rng.uniform(0.01, 0.08)))["killed"]
            count = check_metrics(tmp_path / "metrics.jsonl", count)
    assert count > 0


def test_truncated_last_line_of_metrics_is_tolerated(tmp_path):
    from fieldcast.training.tracking import MetricsWriter, read_metrics

    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    for step in range(3):
        writer.write({"kind": "step", "step": step, "loss": 0.5})
    writer.close()
    text = path.read_bytes()
    last_start = text.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start + 1, len(text) - 1):
        path.write_bytes(text[:cut])
        assert [r["step"] for r in read_metrics(path)] == [0, 1]


def test_generation_killed_midway_leaves_complete_trajectories(tmp_path):
    rng = random.Random(3)
    seen = []
    with KillServer("dataset", tmp_path) as server:
        for seed in range(5):
            # seconds after the dataset file appeared
            assert json.loads(server.kill_after(rng.uniform(0.05, 1.0), start=seed))["killed"]
            if (tmp_path / "gen.h5").exists():
                seen.append(check_dataset(tmp_path / "gen.h5"))
            (tmp_path / "gen.h5").unlink(missing_ok=True)
    assert len(seen) >= 3 and max(seen) > 0, seen


def test_appending_after_a_torn_line_keeps_the_file_readable(tmp_path):
    from fieldcast.training.tracking import MetricsWriter, read_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"kind": "step", "step": 0}\n{"kind": "step", "st')  # killed mid-line
    writer = MetricsWriter(path)  # a resumed run appends
    writer.write({"kind": "step", "step": 1})
    writer.close()
    assert [r["step"] for r in read_metrics(path)] == [0, 1]
