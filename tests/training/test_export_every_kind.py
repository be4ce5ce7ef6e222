"""One export, eval and bench for every run kind: field rollout (smoke), recurrent field (melt), sequence
(trajectory), and a field model of a system no installation knows (``generic:elsewhere``).

Each kind is trained for a few steps through the one curriculum on a tiny generated dataset, exported with
its variants and parity table, then evaluated and benchmarked through the command line beside its baselines.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from fieldcast.app.cli import main as cli_main
from fieldcast.engine.data import DatasetWriter
from fieldcast.engine.generation import generate_dataset
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.sequence_runtime import SequenceSession
from fieldcast.engine.systems import base
from fieldcast.engine.systems.base import FieldSpec, SystemSpec
from fieldcast.training.events import FinishedEvent, StageEvent
from fieldcast.training.export import FP32_TOLERANCE, export_run
from fieldcast.training.runs import Curriculum

TINY_CONVLSTM = {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4]}
KINDS = {
    "field": {
        "system": "smoke",
        "data": {"trajectories": 3, "frames": 6, "size": 16},
        "recipe": None,  # the default recipe of the dataset
        "set": [
            "train.epochs=2",
            "train.rollout_horizons=[2]",
            "model.args.base_width=4",
            "data.batch_size=4",
        ],
    },
    "recurrent": {
        "system": "melt",
        "data": {"trajectories": 2, "frames": 16, "size": 16},
        "recipe": "melt_convlstm",
        "set": [
            "train.epochs=1",
            "data.batch_size=2",
            "recurrent.context=2",
            *(f"model.args.{k}={json.dumps(v)}" for k, v in TINY_CONVLSTM.items()),
        ],
    },
    "sequence": {
        "system": "trajectory",
        "data": {"trajectories": 3, "frames": 300, "size": 8},  # size: unused by sequences
        "recipe": "trajectory_lstm",
        "set": ["train.epochs=1", "model.args.hidden_size=8", "model.args.encoder_size=8"],
    },
}


def _drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def _train(recipe, data, overrides, runs_dir):
    """Train through the curriculum; the finished run folder."""
    run, status = None, None
    for event in Curriculum(recipe, overrides, runs_dir=runs_dir, data=str(data)).run(device="cpu"):
        if isinstance(event, StageEvent) and event.status == "done":
            run = event.run_dir
        elif isinstance(event, FinishedEvent):
            status = event.status
    assert status == "completed" and run is not None
    return run


@pytest.fixture(scope="module")
def train_kind(tmp_path_factory):
    """``train_kind(name) -> (run folder, dataset)``, trained once per module."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            kind = KINDS[name]
            folder = tmp_path_factory.mktemp(name)
            data = folder / f"{kind['system']}.h5"
            d = kind["data"]
            _drain(generate_dataset(kind["system"], data, d["trajectories"], d["frames"], d["size"], seed=0))
            cache[name] = (_train(kind["recipe"], data, kind["set"], folder / "runs"), data)
        return cache[name]

    return get


@pytest.fixture(params=list(KINDS))
def trained(request, train_kind):
    return (request.param, *train_kind(request.param))


def _rows(text: str) -> list[str]:
    return [line.split() for line in text.strip().splitlines()]


def test_export_eval_bench_every_kind(trained, capsys):
    kind, run, data = trained
    assert cli_main(["export", str(run), "--fp16", "--int8"]) == 0
    table = capsys.readouterr().out
    assert {"fp32", "fp16", "int8"} <= {row[0] for row in _rows(table)} and "max rel" in table
    report = json.loads((run / "export_report.json").read_text())
    assert (
        report["task"]
        == {"field": "field_rollout", "recurrent": "recurrent_field", "sequence": "sequence"}[kind]
    )
    fp32, fp16, int8 = (report["variants"][v] for v in ("fp32", "fp16", "int8"))
    assert fp32["parity"]["ok"] and fp32["parity"]["max_rel"] <= FP32_TOLERANCE
    assert fp16["parity"]["max_rel"] < 1e-2
    assert int8["parity"]["max_rel"] < 0.5 and int8["method"] in table
    if kind != "field":  # parity over several streamed steps, the state fed back on each side
        assert fp32["parity"]["streamed_steps"] >= 3 and "steps streamed with the state fed back" in table
    if kind == "sequence":
        assert int8["method"].startswith("dynamic") and "no LSTM operator" in int8["method"]
    for variant in ("fp32", "fp16", "int8"):
        path = run / report["variants"][variant]["path"]
        info = (SequenceSession(path) if kind == "sequence" else ModelSession(path)).info
        assert info.variant == variant and info.spec is not None and info.kind == report["task"]

    # eval: the model, the persistence baseline and (trajectory) the physics baseline in one table.
    model = run / "model.onnx"
    assert cli_main(["eval", str(model), str(data), "--horizons", "1,2"]) == 0
    out = capsys.readouterr().out
    labels = [row[1] if row[0].isdigit() else row[0] for row in _rows(out) if row]
    assert "model" in labels and ("persistence" in labels or "zero" in labels)
    if kind == "sequence":
        assert "linear filter (physics)" in out and "zero predictor (persistence)" in out
    else:
        assert "physics baseline: none for system" in out
    assert cli_main(["eval", str(model), str(data), "--horizons", "1,2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["finite"] and result["split"] in ("test", "valid") and "persistence" in result["baselines"]

    # bench: one RESULT line for every kind, variants included.
    for variant in ("fp32", "int8"):
        path = run / report["variants"][variant]["path"]
        assert cli_main(["bench", str(path), "--size", "16", "--steps", "8", "--warmup", "1"]) == 0
        last = capsys.readouterr().out.strip().splitlines()[-1]
        assert last.startswith("RESULT steps_per_s=") and last.endswith("finite=1")


def test_recurrent_export_takes_names_from_the_run(train_kind):
    run, _ = train_kind("recurrent")
    _drain(export_run(run))
    info = ModelSession(run / "model.onnx").info
    assert info.context == 2 and info.layout["controls"] == ["temperature", "temperature@t+1"]
    assert info.output_channels == tuple(f"ipf_{a}_{c}" for a in "xyz" for c in "rgb")
    assert info.input_units[-2:] == ("K", "K") and info.output_units[0] == "1"
    assert info.provenance["split"] == [12.0, 6.0, 6.0]  # the run's split travels, for eval to reuse


# A system from elsewhere: its spec travels with the data, the run and the model -----------------------------

ELSEWHERE = SystemSpec(
    name="generic:elsewhere",
    fields=(
        FieldSpec("height", role="state", units="m"),
        FieldSpec("flow", role="state", order=1, units="m/s"),
        FieldSpec("source", role="control", units="1"),
    ),
    dt=0.25,
)


def _elsewhere_data(path, n_traj=4, n_frames=8, grid=(8, 8)):
    rng = np.random.default_rng(0)
    with DatasetWriter(path, ELSEWHERE, n_frames=n_frames, grid=grid) as w:
        for _ in range(n_traj):
            height = np.empty((n_frames, *grid), np.float32)
            height[0] = rng.random(grid)
            source = np.full((n_frames, *grid), 0.05, np.float32)
            for t in range(1, n_frames):
                height[t] = 0.9 * height[t - 1] + source[t - 1]
            flow = np.zeros((n_frames, *grid, 2), np.float32)
            flow[..., 0] = height[..., None][..., 0] * 0.1
            w.append({"height": height, "flow": flow, "source": source})
    return path


def test_a_system_from_elsewhere_exports_evals_and_benches(tmp_path, monkeypatch, capsys):
    data = _elsewhere_data(tmp_path / "elsewhere.h5")
    run = _train(None, data, ["train.epochs=1", "model.args.base_width=4"], tmp_path / "runs")
    monkeypatch.setattr(base, "_REGISTRY", {})  # from here on no built-in system is known
    monkeypatch.setattr(base, "_KNOWN_MODULES", {})
    assert cli_main(["export", str(run), "--fp16"]) == 0
    assert "fp16" in capsys.readouterr().out
    info = ModelSession(run / "model.onnx").info
    assert info.system == "generic:elsewhere" and info.system_spec() == ELSEWHERE
    assert info.input_units[:3] == ("m", "m/s", "m/s")
    assert cli_main(["eval", str(run / "model.onnx"), str(data), "--horizons", "1,3"]) == 0
    out = capsys.readouterr().out
    assert "persistence" in out and "generic:elsewhere" in out
    assert (
        cli_main(["bench", str(run / "model.fp16.onnx"), "--size", "8", "--steps", "4", "--warmup", "1"]) == 0
    )
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("finite=1")


# One line and exit 2 for what cannot be exported ------------------------------------------------------------


def _damaged(tmp_path, trained_run):
    folder = tmp_path / "damaged" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "best.json").write_text((trained_run / "checkpoints" / "last.json").read_text())
    (folder / "best.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    return folder.parent


def test_export_refuses_with_one_line(train_kind, tmp_path, capsys):
    run, data = train_kind("field")
    (tmp_path / "plain").mkdir()
    (tmp_path / "no_sidecar" / "checkpoints").mkdir(parents=True)
    (tmp_path / "no_sidecar" / "checkpoints" / "best.safetensors").write_bytes(b"")
    melt = tmp_path / "melt.h5"
    _drain(generate_dataset("melt", melt, 1, 3, 16, seed=0))
    cases = [
        ([str(tmp_path / "missing")], "no such run folder"),
        ([str(tmp_path / "plain")], "not a run folder"),
        ([str(data)], "not a run folder"),
        ([str(tmp_path / "no_sidecar")], "checkpoint sidecar missing"),
        ([str(_damaged(tmp_path, run))], "not a readable safetensors file"),
        ([str(run), "--data", str(tmp_path / "nope.h5")], "nope.h5: file not found"),
        ([str(run), "--data", str(melt)], "the data has no channel(s) density"),
    ]
    for args, problem in cases:
        assert cli_main(["export", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("fieldcast export: ") and problem in err, err


def test_export_of_a_non_run_in_a_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fieldcast.app.cli", "export", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"fieldcast export: {tmp_path}: not a run folder (it has no checkpoints/)"


def test_a_sidecar_without_what_export_needs_is_named(train_kind, tmp_path):
    """A run whose sidecar lacks what the exporter needs is refused naming the sidecar."""
    run, _ = train_kind("field")
    folder = tmp_path / "old" / "checkpoints"
    folder.mkdir(parents=True)
    side = json.loads((run / "checkpoints" / "last.json").read_text())
    del side["normalisation"]
    (folder / "last.json").write_text(json.dumps(side))
    (folder / "last.safetensors").write_bytes((run / "checkpoints" / "last.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"last\.json: the checkpoint sidecar has no 'normalisation'"):
        _drain(export_run(folder.parent, checkpoint="last"))


def test_a_variant_that_cannot_exist_says_why(train_kind, tmp_path, monkeypatch, capsys):
    from fieldcast.training import export

    run, _ = train_kind("sequence")
    out = tmp_path / "m.onnx"
    (tmp_path / "m.fp16.onnx").write_bytes(b"left by an earlier export")
    reason = "fp16 conversion does not support control-flow subgraphs"

    def refuse(model):
        raise ValueError(reason)

    monkeypatch.setattr(export, "to_float16", refuse)
    assert cli_main(["export", str(run), "--fp16", "--out", str(out)]) == 0
    assert f"fp16    not applicable: {reason}" in capsys.readouterr().out.splitlines()
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert report["variants"]["fp16"] == {"path": None, "not_applicable": reason}
    assert out.is_file() and not (tmp_path / "m.fp16.onnx").exists()


def test_a_recurrent_run_of_another_system_exports_with_its_own_names(tmp_path, monkeypatch, capsys):
    import yaml

    data = _elsewhere_data(tmp_path / "elsewhere.h5", n_frames=10)
    recipe = tmp_path / "tank_convlstm.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "description": "a ConvLSTM driven by the source of another lab's system",
                "system": "auto",
                "task": "recurrent_field",
                "data": {"batch_size": 2, "state_channels": ["height", "flow_x", "flow_y"]},
                "recurrent": {"condition_channels": ["source"], "context": 2, "unroll": 1},
                "model": {"name": "convlstm", "args": TINY_CONVLSTM},
                "train": {"epochs": 1},
            }
        )
    )
    run = _train(recipe, data, [], tmp_path / "runs")
    monkeypatch.setattr(base, "_REGISTRY", {})
    monkeypatch.setattr(base, "_KNOWN_MODULES", {})
    assert cli_main(["export", str(run), "--fp16"]) == 0
    assert "steps streamed with the state fed back" in capsys.readouterr().out
    info = ModelSession(run / "model.onnx").info
    assert info.input_channels == ("height", "flow_x", "flow_y", "source", "source@t+1")
    assert info.input_units == ("m", "m/s", "m/s", "1", "1") and info.layout["vectors"] == [
        ["flow_x", "flow_y"]
    ]
    assert info.kind == "recurrent_field" and info.system == "generic:elsewhere"
    graph = onnx.load(str(run / "model.onnx")).graph
    assert not any(n.op_type == "Where" for n in graph.node)  # no liquidus, no liquid mask
    assert cli_main(["eval", str(run / "model.onnx"), str(data), "--horizons", "1"]) == 0
    assert "persistence" in capsys.readouterr().out
