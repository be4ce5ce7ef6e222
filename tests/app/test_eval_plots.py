"""``fieldcast eval MODEL DATA --plots DIR`` on models trained and exported for real: a sequence model
(trajectory), a field model (smoke) and a recurrent field model (melt) each write ``metrics.json`` and their
pictures as valid PNG files, and the numbers in ``metrics.json`` are the ones the pictures are drawn from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fieldcast.app.cli import main as cli_main
from fieldcast.engine.evaluate import iter_evaluate_model
from fieldcast.engine.generation import generate_dataset
from fieldcast.training.events import FinishedEvent, StageEvent
from fieldcast.training.export import export_run
from fieldcast.training.runs import Curriculum

TINY_CONVLSTM = {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4]}
KINDS = {
    "sequence": (
        "trajectory",
        (3, 300, 8),
        "trajectory_lstm",
        ["train.epochs=1", "model.args.hidden_size=8", "model.args.encoder_size=8"],
    ),
    "field": (
        "smoke",
        (3, 6, 16),
        None,
        ["train.epochs=1", "train.rollout_horizons=[2]", "model.args.base_width=4", "data.batch_size=4"],
    ),
    "recurrent": (
        "melt",
        (2, 16, 16),
        "melt_convlstm",
        [
            "train.epochs=1",
            "data.batch_size=2",
            "recurrent.context=2",
            *(f"model.args.{k}={json.dumps(v)}" for k, v in TINY_CONVLSTM.items()),
        ],
    ),
}
PICTURES = {
    "sequence": ["error_over_time.png", "scatter.png", "error_histogram.png", "axis_metrics.png"],
    "field": ["rollout_error.png", "rollout_case.png"],
    "recurrent": ["rollout_error.png", "rollout_case.png"],
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


@pytest.fixture(scope="module", params=list(KINDS))
def exported(request, tmp_path_factory):
    """``(kind, model.onnx, dataset)``: a tiny run of a kind, trained through the curriculum, exported."""
    kind = request.param
    system, (trajectories, frames, size), recipe, overrides = KINDS[kind]
    folder = tmp_path_factory.mktemp(kind)
    data = folder / f"{system}.h5"
    _drain(generate_dataset(system, data, trajectories, frames, size, seed=0))
    run, status = None, None
    curriculum = Curriculum(recipe, overrides, runs_dir=folder / "runs", data=str(data))
    for event in curriculum.run(device="cpu"):
        if isinstance(event, StageEvent) and event.status == "done":
            run = event.run_dir
        elif isinstance(event, FinishedEvent):
            status = event.status
    assert status == "completed" and run is not None
    _drain(export_run(run))
    return kind, run / "model.onnx", data


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert width >= 600 and height >= 400, (path, image.size)
        colours = image.convert("L").getextrema()
        assert colours[0] < colours[1], f"{path.name} is blank"


def test_eval_writes_metrics_json_and_pictures_for_every_kind(exported, tmp_path, capsys):
    kind, model, data = exported
    plots = tmp_path / "plots"
    args = ["eval", str(model), str(data), "--horizons", "1,2", "--plots", str(plots)]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    metrics = model.parent / "metrics.json"  # beside the model when no --out is given
    assert f"wrote {metrics}" in out
    for name in PICTURES[kind]:
        assert f"wrote {plots / name}" in out
        _check_png(plots / name)
    assert sorted(p.name for p in plots.iterdir()) == sorted(PICTURES[kind])  # no temp files left

    saved = json.loads(metrics.read_text())
    assert saved["split"] == "test" and saved["finite"] and saved["model"] == str(model)
    assert "arrays" not in saved
    if kind == "sequence":
        assert set(saved["baselines"]) == {"persistence", "physics"}
        for predictor in [saved["metrics"], *saved["baselines"].values()]:
            for axis in ("error_x", "error_y"):
                for key in ("mae", "rmse", "r2", "corr", "p50", "p90", "p99"):
                    assert f"{key}/{axis}" in predictor
        assert saved["baselines"]["persistence"]["corr/error_x"] is None  # a constant has no correlation
        assert "linear filter (physics)" in out and "zero predictor (persistence)" in out
    else:
        assert saved["task"] == ("field_rollout" if kind == "field" else "recurrent_field")
        assert set(saved["curve"]) == {"model", "persistence"}
        assert len(saved["curve"]["model"]) == saved["steps"]
        for h, record in saved["horizons"].items():  # the curve is drawn from the numbers in the table
            assert saved["curve"]["model"][int(h) - 1] == pytest.approx(record["nmse"])
            assert saved["curve"]["persistence"][int(h) - 1] == pytest.approx(
                saved["baselines"]["persistence"][h]["nmse"]
            )


def test_eval_out_folder_and_the_arrays_behind_the_pictures(exported, tmp_path, capsys):
    kind, model, data = exported
    out = tmp_path / "report"
    assert cli_main(["eval", str(model), str(data), "--horizons", "2", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)  # stdout stays pure JSON; the written paths go to stderr
    assert f"wrote {out / 'metrics.json'}" in captured.err
    assert json.loads((out / "metrics.json").read_text()) == printed

    result = _drain(iter_evaluate_model(model, data, horizons=(2,), keep_arrays=True))
    arrays = result["arrays"]
    if kind == "sequence":
        truth, pred = np.concatenate(arrays["truth"]), np.concatenate(arrays["model"])
        assert truth.shape == (result["samples"], 2)
        assert np.mean(np.abs(pred[:, 0] - truth[:, 0])) == pytest.approx(printed["metrics"]["mae/error_x"])
        linear = np.concatenate(arrays["physics"])
        assert np.sqrt(np.mean((linear - truth) ** 2)) == pytest.approx(
            printed["baselines"]["physics"]["rmse"]
        )
    else:
        case = arrays["case"]["horizons"][2]
        assert case["truth"].shape == case["model"].shape and case["truth"].ndim == 3
        assert np.isfinite(case["model"]).all() and not np.array_equal(case["model"], case["truth"])
