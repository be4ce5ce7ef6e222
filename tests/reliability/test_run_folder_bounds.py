"""Run folders read with bounds: a deeply nested or oversized run.json, metrics line, checkpoint sidecar or
config.yaml gives one line naming the file (or is skipped where the window only follows a run), never a
RecursionError, a MemoryError or gigabytes of parsing."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from fieldcast.engine.limits import MAX_JSON_LINE_BYTES
from fieldcast.engine.run_folder import RunFolderError, read_run

DEEP = "[" * 200_000 + "]" * 200_000  # 400 kB that a plain json.loads meets with RecursionError
BOMB = "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
)


def _run_folder(root: Path) -> Path:
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: toy\nsystem: smoke\n")
    (run / "run.json").write_text(json.dumps({"name": "toy", "status": "done"}))
    records = [{"kind": "step", "step": s, "loss": 1.0 / (s + 1)} for s in range(3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "checkpoints" / "best.json").write_text(json.dumps({"system": "smoke", "step": 2}))
    return run


def _oversized(path: Path, nbytes: int) -> None:
    """A file of valid JSON larger than ``nbytes`` (one long string: cheap to write, costly to trust)."""
    path.write_text('{"pad": "' + "x" * nbytes + '"}')


def test_the_engine_reader_refuses_deep_and_oversized_files_naming_them(tmp_path):
    run = _run_folder(tmp_path)
    assert read_run(run).name == "toy"

    (run / "run.json").write_text(DEEP)
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'run.json'}: nested 200000 levels deep")):
        read_run(run)
    _oversized(run / "run.json", 17 << 20)
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'run.json'}: larger than the 16.0 MiB")):
        read_run(run)
    (run / "run.json").write_text("{}")

    (run / "checkpoints" / "best.json").write_text(DEEP)
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'checkpoints' / 'best.json'}: nested")):
        read_run(run)
    (run / "checkpoints" / "best.json").write_text("{}")

    (run / "config.yaml").write_text(BOMB)
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'config.yaml'}: expands to more than")):
        read_run(run)
    (run / "config.yaml").write_text("[" * 100 + "]" * 100)
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'config.yaml'}: nested more than 64")):
        read_run(run)
    (run / "config.yaml").write_text("name: toy\n")

    with open(run / "metrics.jsonl", "a") as f:
        f.write(DEEP + "\n" + json.dumps({"kind": "step", "step": 9}) + "\n")
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'metrics.jsonl'}: line 4 is nested")):
        read_run(run)
    records = (run / "metrics.jsonl").read_text().splitlines()[:3]
    records.insert(1, '{"pad": "' + "x" * MAX_JSON_LINE_BYTES + '"}')
    (run / "metrics.jsonl").write_text("\n".join(records) + "\n")
    with pytest.raises(RunFolderError, match=re.escape(f"{run / 'metrics.jsonl'}: line 2 is 1.0 MiB")):
        read_run(run)


def test_training_reads_status_metrics_and_sidecars_within_bounds(tmp_path):
    from fieldcast.training.checkpoint import CheckpointError, load_checkpoint
    from fieldcast.training.runs import read_status
    from fieldcast.training.tracking import read_metrics

    run = _run_folder(tmp_path)
    assert read_status(run)["status"] == "done"
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [0, 1, 2]

    (run / "run.json").write_text(DEEP)
    with pytest.raises(ValueError, match=re.escape(f"{run / 'run.json'}: run.json is nested 200000")):
        read_status(run)
    _oversized(run / "run.json", 17 << 20)
    with pytest.raises(ValueError, match=re.escape(f"{run / 'run.json'}: run.json is larger than")):
        read_status(run)

    with open(run / "metrics.jsonl", "a") as f:
        f.write(DEEP + "\n{}\n")
    with pytest.raises(ValueError, match=re.escape(f"{run / 'metrics.jsonl'}: line 4 is nested")):
        list(read_metrics(run / "metrics.jsonl"))

    weights = run / "checkpoints" / "last.safetensors"
    weights.write_bytes(b"\0" * 16)
    (run / "checkpoints" / "last.json").write_text(DEEP)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(weights)
    assert str(err.value).startswith(f"{run / 'checkpoints' / 'last.json'}: the checkpoint sidecar is nested")
    _oversized(run / "checkpoints" / "last.json", 17 << 20)
    with pytest.raises(CheckpointError, match="the checkpoint sidecar is larger than the 16.0 MiB read"):
        load_checkpoint(weights)


def test_the_window_s_run_watcher_skips_what_it_cannot_trust(tmp_path, qtbot):
    from fieldcast.app.runs.run_watcher import RunWatcher, count_parameters, read_records
    from fieldcast.app.train.recipes import run_task

    run = _run_folder(tmp_path)
    with open(run / "metrics.jsonl", "a") as f:
        f.write(DEEP + "\n" + '{"pad": "' + "x" * (3 * MAX_JSON_LINE_BYTES) + '"}\n')
        f.write('[1]\n{"kind": "step", "step": null}\n{"kind": "step", "step": "x"}\n')
        f.write(json.dumps({"kind": "step", "step": 3, "loss": 0.25}) + "\n")
    assert [r["step"] for r in read_records(run / "metrics.jsonl") if r != [1]] == [0, 1, 2, None, "x", 3]

    (run / "run.json").write_text(DEEP)
    (run / "config.yaml").write_text(BOMB)
    (run / "checkpoints" / "best.json").write_text(DEEP)
    assert run_task(run) == "field_rollout"
    weights = run / "checkpoints" / "best.safetensors"
    weights.write_bytes(struct.pack("<Q", 1 << 62) + b"{}")  # declares a 4 EiB header
    assert count_parameters(weights) is None
    weights.write_bytes(struct.pack("<Q", len(DEEP)) + DEEP.encode())
    assert count_parameters(weights) is None

    watcher = RunWatcher(tmp_path)
    watcher.scan()
    (info,) = watcher.runs()
    assert info.status == "" and info.parameters is None
    assert [p for _, p in info.train_curve] == [1.0, 0.5, 1 / 3, 0.25]  # the hostile lines skipped
    (run / "run.json").write_text(json.dumps({"name": "toy", "status": "done"}))
    watcher.scan()
    assert info.status == "done" and info.config == {}  # the alias bomb was not expanded
