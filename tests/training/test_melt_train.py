"""Microstructure training loop, losses and melt metrics on a tiny generated dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from melt_data import write_melt_dataset

from fieldcast.engine.data import open_dataset
from fieldcast.training.events import CheckpointEvent, FinishedEvent, StepEvent, ValidationEvent
from fieldcast.training.melt_eval import FrontScore, front_mask, pool_errors
from fieldcast.training.melt_train import MeltRecipe, solidification_weights, train_melt

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def melt_file(tmp_path_factory):
    return write_melt_dataset(tmp_path_factory.mktemp("melt") / "melt.h5", trajectories=3, frames=16, size=32)


def test_training_yields_events_and_checkpoints(melt_file, tmp_path):
    recipe = MeltRecipe(
        data={"split": [12, 6, 6], "batch_size": 4},
        model={"name": "convlstm", "args": {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4]}},
        train={"epochs": 2, "seed": 0},
    )
    events = list(train_melt(recipe, open_dataset(melt_file), tmp_path))
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert steps and all(np.isfinite(e.loss) for e in steps)
    val = [e for e in events if isinstance(e, ValidationEvent)]
    assert len(val) == 2
    assert {"mse", "front_mse", "persistence_mse", "persistence_front_mse"} <= set(val[0].metrics)
    assert any(isinstance(e, CheckpointEvent) and e.tag == "best" for e in events)
    assert isinstance(events[-1], FinishedEvent) and events[-1].status == "completed"
    assert (tmp_path / "checkpoints" / "best.safetensors").is_file()


def test_solidification_weights_peak_between_solidus_and_liquidus():
    t = torch.tensor([1500.0, 1658.0, 1690.5, 1723.0, 1900.0])
    w = solidification_weights(t, 1658.0, 1723.0)
    assert int(w.argmax()) == 2 and w[2] == pytest.approx(1.0)
    assert w[0] < w[1] < w[2] and w[4] < w[3] < w[2]


def test_front_and_persistence_scores():
    ipf_now = torch.rand(1, 9, 6, 6)
    ipf_now[:, :, :, 3:] = 0.0  # the top half is liquid at t
    t_next = torch.full((1, 6, 6), 1000.0)
    t_next[:, :, 4:] = 1800.0  # ... and the top two rows stay liquid at t+1
    front = front_mask(t_next, ipf_now, 1658.0, 1723.0)
    assert front[0, :, 3].all() and not front[0, :, :3].any() and not front[0, :, 4:].any()
    target = ipf_now.clone()
    target[:, :, :, 3] = 0.5  # the newly solid row gets an orientation
    score = FrontScore()
    score.add(target, target, ipf_now, t_next, 1658.0, 1723.0)
    r = score.result()
    assert r["mse"] == 0.0 and r["front_mse"] == 0.0
    assert r["persistence_front_mse"] == pytest.approx(0.25)
    assert r["persistence_mse"] == pytest.approx(0.25 * 6 / 24)


def test_pool_errors():
    temp = np.full((3, 20, 10), 300.0)
    temp[:, 5:12, 7:] = 2000.0
    assert pool_errors(temp, temp, 5e-6, 1723.0)["pool_depth_error"] == 0.0
    shallow = temp.copy()
    shallow[:, :, 7] = 300.0
    err = pool_errors(shallow, temp, 5e-6, 1723.0)
    assert err["pool_depth_error"] == pytest.approx(5e-6, rel=0.2)
