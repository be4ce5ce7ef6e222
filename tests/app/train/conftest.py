"""Fixtures for the Train panel tests: one torch thread, a generated 16×16 smoke dataset, tiny recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

torch.set_num_threads(1)

#: a recipe small enough to train a few steps per second on one core
TINY_RECIPE = {
    "name": "tiny",
    "system": "smoke",
    "data": {
        "batch_size": 2,
        "history_channels": ["density"],
        "max_train_windows": 6,
        "max_valid_windows": 2,
    },
    "model": {"name": "unet", "args": {"depth": 1, "base_width": 4, "norm": "group", "groups": 2}},
    "loss": {"mse": 1.0},
    "rollout": {"steps": 1, "gamma": 1.0, "solid_mask": "collider", "nonnegative": ["density"]},
    "optim": {"lr": 1e-3, "grad_clip": 1.0},
    "train": {
        "epochs": 400,
        "device": "cpu",
        "log_every": 1,
        "rollout_horizons": [2, 4],
        "rollout_test_trajectories": 1,
        "n_samples": 1,
    },
}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """Three simulated smoke trajectories of eight 16×16 frames."""
    from fieldcast.engine.generation import generate_dataset

    path = tmp_path_factory.mktemp("train-data") / "smoke16.h5"
    for _ in generate_dataset("smoke", path, trajectories=3, frames=8, size=16, seed=0):
        pass
    return path


@pytest.fixture
def recipe_file(tmp_path):
    """Write TINY_RECIPE with top-level sections replaced by ``changes``; returns the file."""

    def write(changes: dict | None = None, name: str = "tiny") -> Path:
        data = {**TINY_RECIPE, "name": name}
        for section, values in (changes or {}).items():
            data[section] = {**data[section], **values} if isinstance(values, dict) else values
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
def train_panel(qtbot, tmp_path):
    """A Train panel on its own runs folder, shown, shut down after the test."""
    from fieldcast.app.train.panel import TrainPanel

    panel = TrainPanel(runs_dir=tmp_path / "runs", data_dir=tmp_path / "datasets")
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.shutdown()


@pytest.fixture
def ready_panel(train_panel, qtbot, tiny_dataset, recipe_file):
    """The Train panel with the tiny dataset and a tiny recipe loaded (``changes`` via the recipe file)."""

    def prepare(changes: dict | None = None):
        train_panel.set_dataset(tiny_dataset)
        with qtbot.waitSignal(train_panel.controller.sig_recipe_loaded, timeout=60_000):
            train_panel.open_path(recipe_file(changes))
        qtbot.waitUntil(train_panel.start_button.isEnabled, timeout=5_000)
        return train_panel

    return prepare


@pytest.fixture(scope="session")
def melt_dataset(tmp_path_factory) -> Path:
    """Two simulated melt trajectories of sixteen 16×8 frames: with the recipes' 12:6:6 time split and
    windows of four frames, each trajectory gives five training windows and one validation window."""
    from melt_data import write_melt_dataset

    return write_melt_dataset(tmp_path_factory.mktemp("melt-data") / "melt16.h5", 2, 16, 16)


@pytest.fixture(scope="session")
def trajectory_dataset(tmp_path_factory) -> Path:
    from train_gui import write_trajectory_file

    return write_trajectory_file(tmp_path_factory.mktemp("traj-data") / "traj.h5")
