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
