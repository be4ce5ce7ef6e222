"""The melt front and its fair baselines: the front is the cells that solidify in the step, persistence
keeps each cell's orientation from before it melted, and frozen grains keep the first microstructure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.training.melt_eval import FrontScore, front_mask, last_orientation

LIQUIDUS = 1723.0


def test_front_is_the_cells_that_solidify_in_the_step():
    ipf_now = torch.rand(1, 9, 4, 4) + 0.1
    ipf_now[:, :, :, 2:] = 0.0  # the top two rows are liquid at t
    t_next = torch.full((1, 4, 4), 1000.0)
    t_next[:, :, 3] = 1800.0  # the top row stays liquid
    t_next[:, 0, 0] = 1800.0  # a solid cell melts: not part of the front
    front = front_mask(t_next, ipf_now, LIQUIDUS)
    expected = torch.zeros(1, 4, 4)
    expected[:, :, 2] = 1.0
    assert torch.equal(front, expected)


def test_last_orientation_remembers_the_grain_a_cell_had_before_it_melted():
    ipf = np.zeros((4, 9, 2, 1), np.float32)
    ipf[0, :, 0, 0], ipf[0, :, 1, 0] = 0.2, 0.7
    ipf[1, :, 1, 0] = 0.7  # cell 0 melts at frame 1 ...
    ipf[3, :, 0, 0] = 0.4  # ... and solidifies into another grain at frame 3; cell 1 melts at frame 2
    last = last_orientation(ipf)
    np.testing.assert_allclose(last[:, 0, 0, 0], [0.2, 0.2, 0.2, 0.4])
    np.testing.assert_allclose(last[:, 0, 1, 0], [0.7, 0.7, 0.7, 0.7])


def test_baselines_are_scored_on_the_same_cells():
    ipf_now = torch.full((1, 9, 2, 2), 0.5)
    ipf_now[:, :, 1, :] = 0.0  # two liquid cells at t
    t_next = torch.full((1, 2, 2), 1000.0)  # everything solid at t+1
    target = torch.full((1, 9, 2, 2), 0.5)
    target[:, :, 1, 1] = 0.9  # one front cell regrows the grain it had, the other a new one
    before = torch.full((1, 9, 2, 2), 0.5)  # the orientation each cell had before it melted
    score = FrontScore()
    score.add(target, target, ipf_now, t_next, LIQUIDUS, {"persistence": before, "naive": ipf_now})
    r = score.result()
    assert r["front_cells"] == 2 and r["front_mse"] == 0.0
    assert r["persistence_front_mse"] == pytest.approx(0.4**2 / 2)
    assert r["naive_front_mse"] == pytest.approx((0.5**2 + 0.9**2) / 2)
    assert r["persistence_mse"] == pytest.approx(0.4**2 / 4)
