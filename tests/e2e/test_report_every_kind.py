"""``fieldcast report`` end to end on tiny runs of every kind and on an exported model on its own.

Each case trains through the command line (two epochs, so two validations), exports, and writes the report;
the page must hold every section, embed its pictures and reference nothing outside itself.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_every_kind import CASES

from fieldcast.app.cli import main as cli
from fieldcast.engine.report import SECTIONS

pytestmark = pytest.mark.slow

#: text each system's own pictures put on the page (the report itself names no system)
SYSTEM_PICTURES = {
    "melt": "Error at the solidification front",
    "trajectory": "Toolpath coloured by error",
}
_EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["'](?!data:|#)|https?://|url\(|@import|<script""", re.IGNORECASE
)


def check_page(html: str, images: int = 3) -> None:
    """Every section present, pictures embedded, nothing fetched from outside the file."""
    assert html.startswith("<!DOCTYPE html>")
    found = re.findall(r'<section id="([a-z]+)"', html)
    assert found == list(SECTIONS)
    assert html.count('src="data:image/png;base64,') >= images
    assert _EXTERNAL.search(html) is None, _EXTERNAL.search(html)


def _train_and_export(kind: str, tmp: Path) -> tuple[Path, Path]:
    data, recipe, sets = CASES[kind](tmp)
    runs = tmp / "runs"
    overrides = [a for s in [*sets, "train.epochs=2"] for a in ("--set", s)]
    common = ["--data", str(data), "--runs-dir", str(runs), "--device", "cpu"]
    assert cli(["train", *([recipe] if recipe else []), *common, *overrides]) == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    assert cli(["export", str(run)]) == 0
    return run, data


@pytest.mark.parametrize("kind", ["smoke", "melt", "trajectory", "foreign-well"])
def test_report_of_a_run_of_every_kind(kind, tmp_path, capsys):
    run, data = _train_and_export(kind, tmp_path)
    out = tmp_path / "report"
    capsys.readouterr()
    assert cli(["report", str(run), "--out", str(out)]) == 0
    assert f"wrote {out / 'report.html'}" in capsys.readouterr().out
    html = (out / "report.html").read_text(encoding="utf-8")
    check_page(html)
    assert "Loss and learning rate" in html and "persistence" in html
    if kind in SYSTEM_PICTURES:
        assert SYSTEM_PICTURES[kind] in html
    summary = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert summary["run"]["validations"] == 2 and summary["run"]["status"] == "completed"
    assert summary["evaluation"]["finite"] is True
    assert summary["data"] == str(data.resolve()) or Path(summary["data"]).samefile(data)
    saved = len(list((run / "samples").glob("epoch_*.npz")))
    assert len(summary["samples_shown"]) == saved  # two validations: every file is shown, none twice
    if saved:
        assert 'alt="First 2 validations"' in html and 'alt="Per-sample loss distribution"' in html

    # The exported model on its own, away from its run: provenance and evaluation, no curves.
    alone = tmp_path / "alone"
    alone.mkdir()
    model = shutil.copy(run / "model.onnx", alone / "model.onnx")
    assert cli(["report", str(model), str(data)]) == 0
    html = (alone / "report.html").read_text(encoding="utf-8")
    check_page(html, images=2)  # the rollout error and the test cases at least
    assert "an exported model keeps no training curves" in html
    assert f"trained from</td><td>run {run.name}" in html.replace('<td class="l">', "<td>")
    assert json.loads((alone / "metrics.json").read_text())["evaluation"]["finite"] is True


def test_report_compares_runs_and_refuses_what_it_cannot_read(tmp_path, capsys):
    data, recipe, sets = CASES["smoke"](tmp_path)
    runs = tmp_path / "runs"
    for lr in ("1e-3", "3e-3"):
        overrides = [a for s in [*sets, "train.epochs=1", f"optim.lr={lr}"] for a in ("--set", s)]
        assert cli(["train", recipe, "--data", str(data), "--runs-dir", str(runs), *overrides]) == 0
    first, second = sorted(p for p in runs.iterdir() if p.is_dir())
    out = tmp_path / "cmp"
    assert cli(["report", str(first), str(second), "--out", str(out)]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert re.findall(r'<section id="([a-z]+)"', html) == ["runs", "curves", "metrics", "recipe"]
    assert "optim.lr" in html and 'class="best"' in html and _EXTERNAL.search(html) is None
    assert json.loads((out / "metrics.json").read_text())["recipe_differences"]["optim.lr"] == [0.001, 0.003]

    capsys.readouterr()
    assert cli(["report", str(tmp_path)]) == 2  # a folder that is no run
    assert capsys.readouterr().err.strip() == (
        f"fieldcast report: {tmp_path}: not a run folder (it has no config.yaml or run.json)"
    )
    (first / "metrics.jsonl").write_text('{"kind": "step", "step": 1}\nnot json\n{"kind": "step"}\n')
    assert cli(["report", str(first), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"fieldcast report: {first / 'metrics.jsonl'}: line 2 is not valid JSON"
    )
    assert cli(["report", str(first), str(second)]) == 2
    assert "a comparison needs --out DIR" in capsys.readouterr().err
