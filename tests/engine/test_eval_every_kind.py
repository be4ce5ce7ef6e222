"""``fieldcast eval`` and ``fieldcast bench`` take every kind of exported model (field, recurrent field,
sequence) beside its baselines, and refuse what they cannot use with one line and exit 2.

The models here are built without torch (ONNX helpers, analytic weights), so the numbers are known exactly.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx_models import make_conv_model, make_model
from sequence_model_files import write_tiny_lstm_model

from fieldcast.app.cli import main as cli_main
from fieldcast.engine import evaluate as ev
from fieldcast.engine.data import DatasetWriter, open_dataset
from fieldcast.engine.evaluate_sequence import read_split, sequence_metrics
from fieldcast.engine.generation import generate_dataset
from fieldcast.engine.model_format import ModelInfo, RecurrentState, build_metadata
from fieldcast.engine.runtime import load_checked
from fieldcast.engine.systems.base import FieldSpec, SystemSpec, spec_to_dict
from fieldcast.engine.systems.trajectory import TRAJECTORY_SPEC
from fieldcast.engine.systems.trajectory.baseline import fit_baseline


def _drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


# A recurrent field model of a system from elsewhere: next level = level + inflow(t+1) -----------------------

TANK = SystemSpec(
    name="generic:tank",
    fields=(FieldSpec("level", role="state", units="m"), FieldSpec("inflow", role="control", units="m")),
    dt=1.0,
)


def _tank_info(context: int) -> ModelInfo:
    return ModelInfo(
        system=TANK.name,
        input_channels=("level", "inflow", "inflow@t+1"),
        output_channels=("level",),
        history=1,
        layout={"state": ["level"], "history_state": [], "controls": ["inflow", "inflow@t+1"]},
        input_units=("m", "m", "m"),
        output_units=("m",),
        grid_multiple=2,
        recurrent=(RecurrentState("recurrent_in_0", "recurrent_out_0", 1, 2),),
        spec=spec_to_dict(TANK),
        task="recurrent_field",
        context=context,
    )


def _tank_model(path, context: int = 2):
    weight = np.array([1.0, 0.0, 1.0], np.float32).reshape(1, 3, 1, 1)
    return make_conv_model(path, _tank_info(context), weight, np.zeros(1, np.float32))


def _tank_data(path, n_traj: int = 4, n_frames: int = 10, grid=(4, 4)):
    rng = np.random.default_rng(0)
    with DatasetWriter(path, TANK, n_frames=n_frames, grid=grid) as w:
        for _ in range(n_traj):
            inflow = rng.random((n_frames, *grid)).astype(np.float32)
            level = np.cumsum(inflow, axis=0).astype(np.float32)  # level(t+1) = level(t) + inflow(t+1)
            w.append({"level": level, "inflow": inflow})
    return path


@pytest.fixture(scope="module")
def tank(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tank")
    return _tank_model(folder / "tank.onnx"), _tank_data(folder / "tank.h5")


def test_recurrent_eval_teacher_forces_the_conditions_and_rolls_the_state(tank, capsys):
    model, data = tank
    assert cli_main(["eval", str(model), str(data), "--horizons", "1,4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "recurrent_field" and result["given"] == 2 and result["system"] == "generic:tank"
    for h in ("1", "4"):
        assert result["horizons"][h]["nmse"] < 1e-10  # the conditions at t+1 come from the right frame
        assert result["baselines"]["persistence"][h]["nmse"] > 0.01
    assert result["baselines"]["persistence"]["4"]["nmse"] > result["baselines"]["persistence"]["1"]["nmse"]
    assert cli_main(["eval", str(model), str(data), "--horizons", "1,4"]) == 0
    table = capsys.readouterr().out
    assert "model" in table and "persistence" in table and "physics baseline: none" in table
    assert cli_main(["bench", str(model), "--size", "8", "--steps", "6", "--warmup", "1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("finite=1")


@pytest.mark.parametrize(("context", "expected"), [(0, [0, 1, 2, 3]), (2, [0, 1, 0, 1, 0, 1, 0, 1])])
def test_recurrent_state_is_streamed_or_restarted_over_the_context(tank, context, expected):
    _, data = tank
    info = _tank_info(context)
    seen = []

    def run_step(feeds):
        state = feeds["recurrent_in_0"]
        seen.append(float(state.mean()))
        return {"next_fields": feeds["fields"][:, :1] + feeds["fields"][:, 2:3], "recurrent_out_0": state + 1}

    dataset = open_dataset(data)
    result = _drain(ev.iter_evaluate(run_step, info, dataset, "train", horizons=(4,), n_trajectories=1))
    assert seen == expected and result["steps"] == 4 and result["horizons"][4]["nmse"] < 1e-10


# Field and sequence models, and what they refuse ------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    smoke = folder / "smoke.h5"
    _drain(generate_dataset("smoke", smoke, 3, 6, 16, seed=0))
    odd = folder / "smoke18.h5"
    _drain(generate_dataset("smoke", odd, 3, 4, 18, seed=0))
    traj = folder / "traj.h5"
    _drain(generate_dataset("trajectory", traj, 3, 120, 8, seed=0))
    gridded = folder / "traj_grid.h5"
    with DatasetWriter(gridded, TRAJECTORY_SPEC, n_frames=5, grid=(2, 2)) as w:
        for _ in range(3):
            w.append({f.name: np.zeros((5, 2, 2), np.float32) for f in TRAJECTORY_SPEC.fields})
    field = make_model(folder / "field.onnx")  # the smoke layout, grid multiple 4
    write_tiny_lstm_model(folder / "lstm.onnx", hidden=8, layers=1)
    (folder / "text.onnx").write_text("not a model")
    (folder / "cut.onnx").write_bytes(field.read_bytes()[:300])
    plain = onnx.load(str(field))
    del plain.metadata_props[:]
    onnx.save(plain, str(folder / "plain.onnx"))
    return folder


def test_eval_falls_back_to_valid_when_test_is_empty_and_says_so(files, capsys):
    dataset = open_dataset(files / "smoke.h5")
    dataset.use_split([3, 3, 0])  # no test frames at all; 3 valid frames per trajectory
    note = "the test split is empty; evaluated on the valid split"
    assert ev.pick_split(dataset, "test", 3) == ("valid", note)
    assert ev.pick_split(dataset, "test", 4) == ("test", None)  # valid too short as well: test's error stands
    assert ev.pick_split(dataset, "valid", 3) == ("valid", None)
    # A model trained with that split is evaluated with it (history 2: 2 given frames, 1 predicted).
    info = ModelInfo(**{**vars(_field_info(files)), "provenance": {"split": [3, 3, 0]}})
    result = _drain(ev.iter_evaluate_model(_with_info(files, info), files / "smoke.h5", horizons=(1,)))
    assert result["split"] == "valid" and result["notes"] == [note] and result["steps"] == 1


def _field_info(files):
    return load_checked(files / "field.onnx")[1]


def _with_info(files, info):
    """field.onnx with ``info`` as its metadata (a model trained with another split)."""
    model = onnx.load(str(files / "field.onnx"))
    del model.metadata_props[:]
    for key, value in build_metadata(info).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = files / "field_split.onnx"
    onnx.save(model, str(path))
    return path


def test_sequence_model_evaluates_beside_zero_and_linear_filter(files, capsys):
    assert cli_main(["eval", str(files / "lstm.onnx"), str(files / "traj.h5")]) == 0
    out = capsys.readouterr().out
    for row in ("model", "zero predictor (persistence)", "linear filter (physics)"):
        assert any(line.startswith(row) for line in out.splitlines()), out
    assert cli_main(["eval", str(files / "lstm.onnx"), str(files / "traj.h5"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "sequence" and result["samples"] == 120 and result["units"]["error_x"] == "um"
    # The baselines are computed on the same test samples: the zero predictor, and the linear filter
    # fitted on the train split.
    dataset = open_dataset(files / "traj.h5")
    inputs, targets = ["x_ref", "y_ref", "vx_ref", "vy_ref"], ["error_x", "error_y"]
    (x,), (y,) = read_split(dataset, "test", inputs, targets)
    predict = fit_baseline(*read_split(dataset, "train", inputs, targets), inputs, targets)
    assert result["baselines"]["physics"]["rmse"] == pytest.approx(np.sqrt(np.mean((predict(x) - y) ** 2)))
    assert result["baselines"]["persistence"]["rmse"] == pytest.approx(np.sqrt(np.mean(y**2)))
    assert cli_main(["bench", str(files / "lstm.onnx"), "--steps", "50", "--warmup", "2"]) == 0
    out = capsys.readouterr().out
    assert "one sample per call" in out and out.strip().splitlines()[-1].endswith("finite=1")


def test_field_model_evaluates_and_benches(files, capsys):
    assert cli_main(["eval", str(files / "field.onnx"), str(files / "smoke.h5"), "--horizons", "1,3"]) == 0
    out = capsys.readouterr().out
    assert "persistence" in out and "physics metrics" in out
    assert (
        cli_main(["bench", str(files / "field.onnx"), "--size", "16", "--steps", "5", "--warmup", "1"]) == 0
    )


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["eval", "missing.onnx", "smoke.h5"], "missing.onnx: file not found"),
        (["eval", "field.onnx", "missing.h5"], "missing.h5: file not found"),
        (["eval", "text.onnx", "smoke.h5"], "text.onnx: not a readable ONNX file"),
        (["eval", "cut.onnx", "smoke.h5"], "cut.onnx: "),
        (["eval", "plain.onnx", "smoke.h5"], "plain.onnx: not a Fieldcast model"),
        (["eval", "field.onnx", "field.onnx"], "field.onnx: not an HDF5 file"),
        (["eval", "field.onnx", "traj.h5"], "traj.h5: the data has no channel(s) density"),
        (["eval", "field.onnx", "smoke18.h5"], "smoke18.h5: grid 18×18: both sizes must be multiples of 4"),
        (["eval", "lstm.onnx", "smoke.h5"], "smoke.h5: the data has no channel(s) x_ref"),
        (["eval", "lstm.onnx", "traj_grid.h5"], "traj_grid.h5: a sequence model reads one sample per frame"),
        (["bench", "missing.onnx"], "missing.onnx: file not found"),
        (["bench", "text.onnx"], "text.onnx: not a readable ONNX file"),
        (["bench", "cut.onnx"], "cut.onnx: "),
        (["bench", "plain.onnx"], "plain.onnx: not a Fieldcast model"),
        (["bench", "field.onnx", "--size", "18"], "field.onnx: --size 18: both sizes must be multiples of 4"),
    ],
)
def test_eval_and_bench_refuse_with_one_line(files, capsys, args, problem):
    command, *rest = args
    paths = [str(files / a) if a.endswith((".onnx", ".h5")) else a for a in rest]
    assert cli_main([command, *paths]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1 and err.startswith(f"fieldcast {command}: {files}") and problem in err
    ), err


@pytest.mark.parametrize("name", ["smoke_default", "melt_temperature", "melt_microstructure"])
def test_shipped_models_still_load_and_bench(name, capsys):
    from fieldcast.resources import resource_path

    path = resource_path("models", f"{name}.onnx")
    info = load_checked(path)[1]
    assert info.kind == ("recurrent_field" if name == "melt_microstructure" else "field_rollout")
    assert cli_main(["bench", str(path), "--size", "16", "--steps", "3", "--warmup", "1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("finite=1")


def test_shipped_microstructure_model_evaluates_on_melt_data(tmp_path, capsys):
    from fieldcast.resources import resource_path

    data = tmp_path / "melt.h5"
    _drain(generate_dataset("melt", data, 2, 40, 16, seed=0))  # a test part of 4+ frames
    path = resource_path("models", "melt_microstructure.onnx")
    out = tmp_path / "report"  # not beside the shipped model
    assert cli_main(["eval", str(path), str(data), "--horizons", "1,2", "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads((out / "metrics.json").read_text()) == result
    # "given" is the model's context: the three transitions it was trained on
    assert result["task"] == "recurrent_field" and result["finite"] and result["given"] == 3
    assert set(result["baselines"]["persistence"]) == {"1", "2"}


# What a user reads: per-channel errors, metrics.json, and refusals of folders that cannot be used -----------


def test_sequence_metrics_per_channel_match_their_definitions():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(400, 2)) * [10.0, 2.0]
    pred = truth * [0.5, 1.0] + rng.normal(size=(400, 2)) * [1.0, 1.0]
    got = sequence_metrics(pred, truth, ["a", "b"], np.array([10.0, 2.0]))
    for j, name in enumerate("ab"):
        res = pred[:, j] - truth[:, j]
        assert got[f"mae/{name}"] == pytest.approx(np.mean(np.abs(res)))
        assert got[f"rmse/{name}"] == pytest.approx(np.sqrt(np.mean(res**2)))
        r2 = 1 - np.sum(res**2) / np.sum((truth[:, j] - truth[:, j].mean()) ** 2)
        assert got[f"r2/{name}"] == pytest.approx(r2)
        assert got[f"corr/{name}"] == pytest.approx(np.corrcoef(pred[:, j], truth[:, j])[0, 1])
        assert got[f"p90/{name}"] == pytest.approx(np.percentile(np.abs(res), 90))
        assert got[f"nmse/{name}"] == pytest.approx(np.mean((res / [10.0, 2.0][j]) ** 2))
    assert got["corr/a"] > 0.95 and got["r2/a"] < 0.8  # correlated, but shrunk: corr is not R²
    zero = sequence_metrics(np.zeros_like(truth), truth, ["a", "b"], np.ones(2))
    assert np.isnan(zero["corr/a"]) and zero["p50"] == pytest.approx(np.median(np.abs(truth)))


def test_sequence_eval_prints_every_axis_and_writes_metrics_beside_the_model(files, capsys):
    metrics = files / "metrics.json"
    metrics.unlink(missing_ok=True)
    assert cli_main(["eval", str(files / "lstm.onnx"), str(files / "traj.h5")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("predictor"))
    assert header.split()[3:] == ["MAE", "RMSE", "R²", "corr", "p50", "p90", "p99", "nmse"]
    rows = [line.split() for line in out.splitlines()]
    for label in ("model", "linear filter (physics)", "zero predictor (persistence)"):
        start = next(i for i, line in enumerate(out.splitlines()) if line.startswith(label))
        channels = [rows[start][len(label.split())]] + [rows[start + k][0] for k in (1, 2)]
        assert channels == ["error_x", "error_y", "all"]
    saved = json.loads(metrics.read_text())
    assert f"wrote {metrics}" in out and saved["task"] == "sequence"
    assert saved["metrics"]["corr/error_y"] is not None and saved["baselines"]["persistence"]["corr"] is None
    zero_row = next(line for line in out.splitlines() if line.startswith("zero predictor"))
    assert zero_row.split()[-5] == "-"  # its correlation: none, not a number


def test_field_eval_curve_holds_every_predicted_frame(files):
    dataset = open_dataset(files / "smoke.h5")
    session_info = _field_info(files)

    def persist(x):
        return x[:, :3]  # the state in, the state out: the model is persistence itself

    result = _drain(ev.iter_evaluate(persist, session_info, dataset, "train", (1, 3), 2, keep_arrays=True))
    assert len(result["curve"]["model"]) == result["steps"] == 3
    assert result["curve"]["model"] == pytest.approx(result["curve"]["persistence"])
    assert result["curve"]["model"][2] == pytest.approx(result["horizons"][3]["nmse"])
    case = result["arrays"]["case"]
    assert set(case["horizons"]) == {1, 3} and case["horizons"][3]["truth"].shape == (3, 16, 16)


@pytest.mark.parametrize("flag", ["--out", "--plots"])
def test_eval_refuses_a_file_where_a_folder_is_asked(files, capsys, flag):
    target = files / "text.onnx"
    assert cli_main(["eval", str(files / "lstm.onnx"), str(files / "traj.h5"), flag, str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"fieldcast eval: {flag} {target}: not a folder"


def test_eval_plots_without_matplotlib_says_so_before_evaluating(files, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as in an installation without it
    args = ["eval", str(files / "lstm.onnx"), str(files / "traj.h5"), "--plots", str(tmp_path / "p")]
    assert cli_main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "fieldcast eval: pictures need matplotlib, which is not installed (pip install 'fieldcast[plots]')"
    ]
    assert captured.out == "" and not (tmp_path / "p").exists()


def test_eval_names_a_folder_it_cannot_write(files, tmp_path, monkeypatch, capsys):
    from fieldcast.engine import report_plots

    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report_plots, "atomic_write", refuse)
    out = tmp_path / "locked"
    assert cli_main(["eval", str(files / "lstm.onnx"), str(files / "traj.h5"), "--out", str(out)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last == f"fieldcast eval: cannot write into {out}: Permission denied; choose a folder with --out"


def test_pictures_name_the_split_they_were_drawn_on(files, tmp_path, monkeypatch):
    from fieldcast.engine import report_plots

    info = ModelInfo(**{**vars(_field_info(files)), "provenance": {"split": [3, 3, 0]}})
    model = _with_info(files, info)
    result = _drain(ev.iter_evaluate_model(model, files / "smoke.h5", horizons=(1,), keep_arrays=True))
    titles = {}
    save = report_plots._save

    def keep_title(figure, path):
        titles[path.name] = figure.get_suptitle()
        return save(figure, path)

    monkeypatch.setattr(report_plots, "_save", keep_title)
    written = report_plots.write_plots(result, tmp_path)
    assert [p.name for p in written] == ["rollout_error.png", "rollout_case.png"]
    for name, title in titles.items():
        assert "valid split (the test split is empty)" in title and "field_split.onnx (fp32)" in title, name
    assert (
        "trajectory" in titles["rollout_case.png"]
        and "1 predicted after 2 given" in titles["rollout_case.png"]
    )
