"""From data to Play for every kind of model, through the command line, on tiny sizes.

Each case goes generate (or import, or a file written as another tool would) -> train -> resume -> export ->
eval -> open in Play: smoke (field rollout), melt (recurrent field), trajectory (sequence), and two datasets
from elsewhere (an NPZ import and a Well-layout file with a system name Fieldcast does not know), which
train with no hand-written recipe.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from foreign_data import write_heat_npz, write_heat_well
from PySide6.QtCore import Qt

from fieldcast.app.cli import main as cli

pytestmark = pytest.mark.slow

_TINY_CONVLSTM = [
    "model.args.widths=[8,8,8]",
    "model.args.hidden=8",
    "model.args.decoder_widths=[8,8,8]",
]


def _smoke(tmp: Path) -> tuple[Path, str | None, list[str]]:
    data = tmp / "smoke.h5"
    assert (
        cli(["generate", "smoke", "--trajectories", "3", "--frames", "8", "--size", "16", "--out", str(data)])
        == 0
    )
    return data, "smoke_tiny", ["train.rollout_horizons=[3]"]


def _melt(tmp: Path) -> tuple[Path, str | None, list[str]]:
    data = tmp / "melt.h5"
    assert (
        cli(["generate", "melt", "--trajectories", "2", "--frames", "24", "--size", "16", "--out", str(data)])
        == 0
    )
    return data, "melt_convlstm", [*_TINY_CONVLSTM, "data.batch_size=4"]


def _trajectory(tmp: Path) -> tuple[Path, str | None, list[str]]:
    data = tmp / "traj.h5"
    assert cli(["generate", "trajectory", "--trajectories", "3", "--frames", "300", "--out", str(data)]) == 0
    return data, "trajectory_lstm", ["model.args.hidden_size=8", "model.args.encoder_size=8"]


def _foreign_npz(tmp: Path) -> tuple[Path, str | None, list[str]]:
    src = write_heat_npz(tmp / "npz", n_traj=3, n_frames=10, grid=(16, 16))
    data = tmp / "imported.h5"
    assert cli(["import", str(src), "--out", str(data)]) == 0
    return data, None, ["model.args.base_width=8", "train.rollout_horizons=[3]"]


def _foreign_well(tmp: Path) -> tuple[Path, str | None, list[str]]:
    data = write_heat_well(tmp / "lab.h5", n_traj=1, n_frames=16, grid=(16, 16), name="lab_heatflow")
    return data, None, ["model.args.base_width=8", "train.rollout_horizons=[2]"]


CASES = {
    "smoke": _smoke,
    "melt": _melt,
    "trajectory": _trajectory,
    "foreign-npz": _foreign_npz,
    "foreign-well": _foreign_well,
}
# The Play page each exported model opens in (attribute of the Play panel).
PAGES = {
    "smoke": "smoke_page",
    "melt": "melt",
    "trajectory": "trajectory",
    "foreign-npz": "field",
    "foreign-well": "field",
}


def _only_run(runs: Path) -> Path:
    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def _open_in_play(qtbot, model: Path, kind: str) -> None:
    """Open the exported model as ``fieldcast play MODEL`` does; it must land on its page, unrefused."""
    from fieldcast.app.main_window import MainWindow
    from fieldcast.app.paths import app_paths
    from fieldcast.app.settings import Settings

    paths = app_paths()
    window = MainWindow(paths, Settings(paths.settings_file))
    qtbot.addWidget(window)
    window.show()
    window.show_panel("play")
    assert window.open_paths([model]) == []  # nothing refused
    play = window.panels["play"]
    page = getattr(play, PAGES[kind])
    qtbot.waitUntil(lambda: play.pages.currentWidget() is page, timeout=5000)
    assert not play.message.isVisible(), play.message.text()
    if kind.startswith("foreign"):  # the generic page steps the model from its training data
        qtbot.waitUntil(lambda: page.frame is not None, timeout=10000)
        before = page.frame.index
        qtbot.mouseClick(page.transport.step_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.frame.index > before, timeout=10000)
        assert all(np.isfinite(v).all() for v in page.frame.state.values())
    window.close()


@pytest.mark.gui
@pytest.mark.parametrize("kind", list(CASES))
def test_data_to_model_in_play_through_the_cli(kind, tmp_path, capsys, qtbot):
    data, recipe, sets = CASES[kind](tmp_path)
    runs = tmp_path / "runs"
    common = ["--data", str(data), "--runs-dir", str(runs), "--device", "cpu"]
    overrides = [a for s in [*sets, "train.epochs=1"] for a in ("--set", s)]
    train = ["train", *([recipe] if recipe else []), *common, *overrides]
    assert cli(train) == 0
    run = _only_run(runs)
    status = json.loads((run / "run.json").read_text())
    assert status["status"] == "completed" and status["split"]
    first_step = status["step"]

    resume = ["train", "--resume", str(run), "--runs-dir", str(runs), "--set", "train.epochs=2"]
    assert cli(resume) == 0
    status = json.loads((run / "run.json").read_text())
    assert status["status"] == "completed" and status["step"] == 2 * first_step
    assert _only_run(runs) == run  # resumed in place, no new folder

    assert cli(["export", str(run), "--fp16"]) == 0
    model = run / "model.onnx"
    assert model.is_file() and (run / "export_report.json").is_file()

    capsys.readouterr()
    assert cli(["eval", str(model), str(data)]) == 0
    table = capsys.readouterr().out
    assert "persistence" in table or "zero" in table

    _open_in_play(qtbot, model, kind)
