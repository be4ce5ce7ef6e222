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


@pytest.fixture(scope="session")
def npz_dataset(tmp_path_factory) -> Path:
    """A one-trajectory NPZ sequence of a travelling wave, imported: a generic system (``generic:npz``)."""
    import numpy as np

    from fieldcast.engine.data.importers import import_file

    folder = tmp_path_factory.mktemp("npz-source")
    t = np.arange(12, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 2 * np.pi, 16, endpoint=False, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 2 * np.pi, 16, endpoint=False, dtype=np.float32)[None, None, :]
    wave = np.sin(x - 0.3 * t) * np.cos(y)
    np.savez(folder / "sim_0.npz", smoke=wave, dt=np.float64(0.05))
    out = folder.parent / "npz16.h5"
    for _ in import_file(folder, out):
        pass
    return out


@pytest.fixture(scope="session")
def melt_file(tmp_path_factory) -> Path:
    from melt_data import write_melt_dataset

    return write_melt_dataset(tmp_path_factory.mktemp("runs-melt") / "melt16.h5", 2, 16, 16)


@pytest.fixture(scope="session")
def trajectory_file(tmp_path_factory) -> Path:
    from fieldcast.engine.systems.trajectory import iter_write_dataset

    path = tmp_path_factory.mktemp("runs-traj") / "traj.h5"
    for _ in iter_write_dataset(path, 2, 300, seed=3):
        pass
    return path


#: (recipe, overrides) of a tiny run of every task; None as recipe = the dataset's default recipe
TASK_RECIPES = {
    "field_rollout": (None, ["data.batch_size=4", "model.args.base_width=8"]),
    "recurrent_field": ("melt_convlstm", ["data.batch_size=4"]),
    "sequence": ("trajectory_lstm", ["model.args.hidden_size=8"]),
}


@pytest.fixture
def task_run(npz_dataset, melt_file, trajectory_file):
    """Train a tiny run of ``task`` into ``runs_dir`` through the one pipeline, as ``fieldcast train`` does;
    it trains two epochs, or is stopped after step ``cancel_at`` (a run to resume). Returns the run folder."""
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.training.events import StageEvent, StepEvent
    from fieldcast.training.runs import Curriculum

    data = {"field_rollout": npz_dataset, "recurrent_field": melt_file, "sequence": trajectory_file}

    def train(task: str, runs_dir: Path, cancel_at: int | None = None) -> Path:
        recipe, sets = TASK_RECIPES[task]
        token, run = CancelToken(), None
        epochs = 2 if cancel_at is None else 1000
        curriculum = Curriculum(
            recipe, [*sets, f"train.epochs={epochs}"], runs_dir=runs_dir, data=str(data[task])
        )
        for event in curriculum.run(device="cpu", token=token):
            if isinstance(event, StageEvent):
                run = event.run_dir
            if cancel_at is not None and isinstance(event, StepEvent) and event.step == cancel_at:
                token.cancel()
        return Path(run)

    return train
