"""Fixtures for the Runs panel tests: runs trained by calling the trainer directly, as the CLI would."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def runs_dataset(tmp_path_factory) -> Path:
    from fieldcast.engine.generation import generate_dataset

    path = tmp_path_factory.mktemp("runs-data") / "smoke16.h5"
    for _ in generate_dataset("smoke", path, trajectories=3, frames=8, size=16, seed=1):
        pass
    return path


@pytest.fixture
def train_run(runs_dataset):
    """Train a tiny recipe into ``run_dir`` with the trainer itself (no GUI), as the CLI would."""
    from fieldcast.engine.data import open_dataset
    from fieldcast.training.config import recipe_from_dict
    from fieldcast.training.events import StepEvent
    from fieldcast.training.trainer import Trainer

    def train(run_dir: Path, lr: float = 1e-3, cancel_at: int | None = None) -> Path:
        recipe = recipe_from_dict(
            {
                "name": run_dir.name,
                "system": "smoke",
                "data": {"path": str(runs_dataset), "batch_size": 2, "history_channels": ["density"]},
                "model": {"name": "unet", "args": {"depth": 1, "base_width": 4, "norm": "none"}},
                "optim": {"lr": lr},
                "train": {"epochs": 2, "device": "cpu", "log_every": 1, "rollout_horizons": [2]},
            }
        )
        trainer = Trainer(recipe, open_dataset(runs_dataset), run_dir)
        for event in trainer.run():
            if cancel_at is not None and isinstance(event, StepEvent) and event.step == cancel_at:
                trainer.token.cancel()
        return run_dir

    return train


@pytest.fixture
def runs_panel(qtbot, tmp_path):
    from fieldcast.app.runs.panel import RunsPanel

    panel = RunsPanel(tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.shutdown()
