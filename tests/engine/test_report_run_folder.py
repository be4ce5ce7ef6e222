"""Reading run folders for reports without torch, and the report of a run that was never exported."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import yaml

from fieldcast.engine.report import SECTIONS, iter_report
from fieldcast.engine.report_systems import Picture, ReportInputs, register_pictures, system_pictures
from fieldcast.engine.run_folder import RunFolderError, SampleFile, list_samples, load_samples, read_run


def _samples_bytes(epoch: int, n: int = 2, losses: int = 6) -> bytes:
    x = np.linspace(0, 1, 8, dtype=np.float32)
    truth = np.broadcast_to(np.sin(x[:, None] * (epoch + 1)) * x[None, :], (n, 2, 8, 8)).astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        truth=truth,
        prediction=truth + 0.1 / epoch,
        channels=np.array(["u", "v"]),
        losses=np.full(losses, 0.01 / epoch**2),
        step=np.int64(10 * epoch),
    )
    return buf.getvalue()


def write_run(folder, validations: int = 12, steps_per_epoch: int = 10):
    (folder / "samples").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    config = {"name": "toy", "system": "toy", "task": "field_rollout", "optim": {"lr": 0.001}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    status = {"name": "toy", "status": "completed", "task": "field_rollout", "step": validations * 10}
    (folder / "run.json").write_text(json.dumps(status))
    (folder / "checkpoints" / "best.json").write_text(json.dumps({"system": "toy", "monitor": "loss"}))
    lines = []
    for step in range(1, validations * steps_per_epoch + 1):
        lines.append({"kind": "step", "epoch": 0, "step": step, "loss": 1.0 / step, "lr": 1e-3})
        if step % steps_per_epoch == 0:
            epoch = step // steps_per_epoch
            lines.append({"kind": "validation", "step": step, "epoch": epoch - 1, "loss": 0.5 / epoch})
            lines[-1].update({"mse/u": 0.4 / epoch, "mse/v": "nan", "persistence_loss": 0.3})
            (folder / "samples" / f"epoch_{epoch:04d}.npz").write_bytes(_samples_bytes(epoch))
    text = "".join(json.dumps(r) + "\n" for r in lines)
    (folder / "metrics.jsonl").write_text(text + '{"kind": "step", "step": 99999, "lo')  # a torn last line
    return folder


def test_a_run_folder_reads_without_opening_its_samples(tmp_path):
    run = read_run(write_run(tmp_path / "toy"))
    assert run.name == "toy" and run.system == "toy" and run.task == "field_rollout"
    assert list(run.steps["step"][:3]) == [1, 2, 3] and run.steps["step"][-1] == 120  # torn line skipped
    assert len(run.validations) == 12 and np.isnan(float(run.validations[0]["mse/v"]))
    assert [s.epoch for s in run.samples] == list(range(1, 13))
    samples = load_samples(run.samples[2])
    assert samples.truth.shape == (2, 2, 8, 8) and samples.channels == ("u", "v")
    assert samples.losses.shape == (6,) and samples.step == 30
    np.testing.assert_allclose(samples.prediction - samples.truth, 0.1 / 3, rtol=1e-5)


def test_damaged_or_oversized_samples_are_refused_naming_the_file(tmp_path):
    folder = write_run(tmp_path / "toy", validations=2)
    first, second = list_samples(folder)
    with pytest.raises(RunFolderError, match=re.escape(f"{first.path}: array 'truth' holds")):
        load_samples(first, budget=100)
    second.path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunFolderError, match=re.escape(f"{second.path}: not a samples file")):
        load_samples(second)
    missing = SampleFile(3, folder / "samples" / "epoch_0003.npz")
    with pytest.raises(RunFolderError, match="epoch_0003.npz"):
        load_samples(missing)
    (folder / "run.json").write_text("{")
    with pytest.raises(RunFolderError, match=re.escape(f"{folder / 'run.json'}: not valid JSON")):
        read_run(folder)
    with pytest.raises(RunFolderError, match="not a run folder"):
        read_run(tmp_path)


def test_the_report_of_a_run_never_exported_shows_only_the_samples_it_draws(tmp_path):
    folder = write_run(tmp_path / "toy")
    job = iter_report(folder, out=tmp_path / "out")
    with pytest.raises(StopIteration) as stop:
        while True:
            next(job)
    done = stop.value.value
    assert done.samples_read == 10  # the first five and the last five of twelve validations
    html = done.html.read_text(encoding="utf-8")
    assert re.findall(r'<section id="([a-z]+)"', html) == list(SECTIONS)
    assert "the run has no exported model" in html and 'alt="Last 5 validations"' in html
    assert "http" not in html and "<script" not in html
    summary = json.loads(done.metrics.read_text())
    assert summary["run"]["logged_steps"] == 120 and summary["evaluation"] is None
    assert summary["samples_shown"][0] == "epoch_0001.npz" and len(summary["samples_shown"]) == 10


def test_a_system_adds_its_pictures_through_the_registry():
    from matplotlib.figure import Figure

    seen = []

    def pictures(inputs: ReportInputs) -> list[Picture]:
        seen.append(inputs.system)
        return [Picture("Toy picture", Figure(), "drawn by the toy system")]

    register_pictures("toy-system", pictures)
    found, notes = system_pictures(ReportInputs("toy-system"))
    assert [p.title for p in found] == ["Toy picture"] and notes == [] and seen == ["toy-system"]

    def broken(inputs: ReportInputs) -> list[Picture]:
        raise ValueError("the data has no temperature channel")

    register_pictures("toy-broken", broken)
    found, notes = system_pictures(ReportInputs("toy-broken"))
    assert found == [] and notes == [
        "the toy-broken pictures could not be drawn: the data has no temperature channel"
    ]
    assert system_pictures(ReportInputs("generic:lab")) == ([], [])
