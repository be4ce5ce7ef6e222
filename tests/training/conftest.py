"""Shared fixtures for the training tests: one thread, tiny synthetic smoke datasets, tiny recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

torch.set_num_threads(1)


def write_smoke_dataset(path: Path, n_traj: int = 6, n_frames: int = 12, size: int = 16) -> Path:
    """A blob advected to +x by a uniform flow, with an emitter and a collider; the real engine writer."""
    from fieldcast.engine.data import DatasetWriter
    from fieldcast.engine.systems import get_spec

    spec = get_spec("smoke")
    x = np.arange(size)[:, None]
    y = np.arange(size)[None, :]
    with DatasetWriter(
        path, spec, n_frames=n_frames, grid=(size, size), dt=spec.dt, simulation_parameters={}
    ) as w:
        for k in range(n_traj):
            cx = [3 + 0.5 * t for t in range(n_frames)]
            dens = np.stack([np.exp(-((x - c) ** 2 + (y - 5 - 0.4 * k) ** 2) / 5.0) for c in cx]).astype(
                np.float32
            )
            vel = np.zeros((n_frames, size, size, 2), np.float32)
            vel[..., 0] = 0.5
            vel[..., 1] = 0.05 * k
            emitter = np.zeros((n_frames, size, size), np.float32)
            emitter[:, 2:4, 4:6] = 1.0
            collider = np.zeros((n_frames, size, size), np.float32)
            collider[:, 11:13, 1 + k % 3 : 4 + k % 3] = 1.0
            vel[collider > 0.5] = 0.0
            w.append({"density": dens, "velocity": vel, "emitter": emitter, "collider": collider})
    return path


@pytest.fixture(scope="session")
def smoke_file(tmp_path_factory) -> Path:
    return write_smoke_dataset(tmp_path_factory.mktemp("data") / "smoke.h5")


@pytest.fixture(scope="session")
def smoke_ds(smoke_file):
    from fieldcast.engine.data import open_dataset

    return open_dataset(smoke_file)


@pytest.fixture(scope="session")
def tiny_melt_file(tmp_path_factory) -> Path:
    """3 melt runs of 16 frames on a 32 x 16 plate (the recurrent-field task's smallest real data)."""
    from melt_data import write_melt_dataset

    return write_melt_dataset(tmp_path_factory.mktemp("melt") / "melt.h5", 3, 16, 32)


@pytest.fixture(scope="session")
def tiny_traj_file(tmp_path_factory) -> Path:
    """4 printer trajectories of 200 samples (the sequence task's smallest real data)."""
    from fieldcast.engine.systems.trajectory import iter_write_dataset

    path = tmp_path_factory.mktemp("traj") / "traj.h5"
    list(iter_write_dataset(path, 4, 200, seed=3))
    return path


@pytest.fixture(scope="session")
def tiny_generative_file(tmp_path_factory) -> Path:
    """10 trajectories of 4 (condition, target) pairs on 16 x 16 (the generative task's smallest data)."""
    from generative_data import write

    return write(tmp_path_factory.mktemp("generative") / "generative.h5")


TINY = {
    "system": "smoke",
    "data": {
        "batch_size": 2,
        "history_channels": ["density"],
        "max_train_windows": 8,
        "max_valid_windows": 4,
    },
    "model": {
        "name": "unet",
        "args": {"depth": 1, "base_width": 4, "norm": "group", "groups": 2, "bottleneck_blocks": 0},
    },
    "loss": {"mse": 1.0, "divergence": 0.001},
    "rollout": {"steps": 2, "gamma": 1.1, "solid_mask": "collider", "nonnegative": ["density"]},
    "optim": {"lr": 1e-3, "grad_clip": 1.0},
    "train": {"epochs": 1, "log_every": 1, "rollout_horizons": [3, 6], "rollout_test_trajectories": 1},
}


def deep_update(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture
def write_recipe(tmp_path, smoke_file):
    """Write a tiny recipe (TINY updated with ``changes``) to tmp_path/NAME.yaml and return its path."""

    def write(name: str = "tiny", changes: dict | None = None, base: dict | None = None) -> Path:
        data = deep_update(TINY if base is None else base, changes or {})
        data.setdefault("data", {})
        if "parent" not in data:
            data["data"] = {**data["data"], "path": str(smoke_file)}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def task_recipe(tmp_path, smoke_file, tiny_melt_file, tiny_traj_file, tiny_generative_file):
    """``task_recipe(task, changes=None) -> (recipe path, data path)``: a tiny recipe of each task.

    field_rollout trains the smoke UNet of TINY, recurrent_field a small melt ConvLSTM, sequence a small
    trajectory LSTM, generative a tiny diffusion UNet; each recipe names no data file (pass ``--data``) and
    fits a few seconds on one core.
    """
    from generative_data import recipe as generative_recipe

    ipf = [f"ipf_{a}_{c}" for a in "xyz" for c in "rgb"]
    recipes = {
        "field_rollout": (deep_update(TINY, {"task": "field_rollout"}), smoke_file),
        "recurrent_field": (
            {
                "system": "melt",
                "task": "recurrent_field",
                "data": {"batch_size": 2, "state_channels": ipf, "max_train_windows": 8},
                "recurrent": {"context": 3, "unroll": 1},
                "model": {
                    "name": "convlstm",
                    "args": {"widths": [4, 8], "hidden": 8, "decoder_widths": [8, 4], "residual": True},
                },
                "optim": {"lr": 1e-3, "grad_clip": 1.0},
                "train": {"epochs": 1, "log_every": 1},
            },
            tiny_melt_file,
        ),
        "sequence": (
            {
                "system": "trajectory",
                "task": "sequence",
                "data": {"batch_size": 4, "max_train_windows": 16},
                "sequence": {"seq_len": 30, "stride": 10, "warmup": 5},
                "model": {"name": "lstm", "args": {"encoder_size": 8, "hidden_size": 16, "num_layers": 1}},
                "loss": {"mse": 0.0, "hybrid": 1.0},
                "optim": {"name": "adamw", "lr": 1e-3, "grad_clip": 1.0},
                "train": {"epochs": 1, "log_every": 1, "amp": False},
            },
            tiny_traj_file,
        ),
        "generative": (
            {
                k: v
                for k, v in generative_recipe(tiny_generative_file, epochs=1, lr=1e-3).items()
                if k != "data"
            }
            | {"data": {"batch_size": 4, "max_train_windows": 16, "max_valid_windows": 4}},
            tiny_generative_file,
        ),
    }

    def make(task: str, changes: dict | None = None, name: str | None = None) -> tuple[Path, Path]:
        data, data_file = recipes[task]
        data = deep_update(data, changes or {})
        data.setdefault("data", {}).pop("path", None)
        path = tmp_path / f"{name or task}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path, data_file

    return make
