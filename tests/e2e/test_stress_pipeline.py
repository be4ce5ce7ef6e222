"""The stress system through the command line, tiny: generate -> train -> export -> eval -> Play route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldcast.app.cli import main as cli

pytestmark = pytest.mark.slow


def test_generate_train_export_eval_reports_mae_in_mpa(tmp_path: Path, capsys):
    data = tmp_path / "stress.h5"
    generate = ["generate", "stress", "--microstructures", "5", "--increments", "24", "--grains", "5"]
    assert cli([*generate, "--size", "16", "--seed", "3", "--out", str(data)]) == 0
    runs = tmp_path / "runs"
    assert cli(["train", "stress_tiny", "--data", str(data), "--runs-dir", str(runs)]) == 0
    run = runs / "stress_tiny"
    assert cli(["export", str(run)]) == 0
    model = run / "model.onnx"
    capsys.readouterr()
    # the test split holds the loads beyond F11 = 1.004 (extrapolation), from held-out microstructures
    assert cli(["eval", str(model), str(data), "--horizons", "1,4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test split" in out and "mae/sigma_vM [MPa]" in out
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["units"] == {"sigma_vM": "MPa"}
    mae = result["horizons"]["1"]["mae/sigma_vM"]
    persistence = result["baselines"]["persistence"]["1"]["mae/sigma_vM"]
    assert 0 < mae < 1e4 and persistence > 0

    from fieldcast.app.play.routing import route_file

    assert route_file(model).page == "stress"
