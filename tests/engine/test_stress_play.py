"""Stepping the stress solver and a network side by side (no Qt)."""

import numpy as np
import pytest

from fieldcast.engine.systems.stress import sample_microstructure
from fieldcast.engine.systems.stress.play import StressPlay, grain_error

LAYOUT = {"state": ["sigma_vM"], "controls": ["E", "nu", "xi0", "h0"]}


def _micro():
    return sample_microstructure(np.random.default_rng(1), (16, 16), grains=5)


def test_network_rollout_and_one_step_feeds():
    seen = []

    def run(x):
        seen.append(x.copy())
        return x[:, :1] + 1.0  # one MPa more per increment

    rollout = StressPlay(_micro(), run, LAYOUT, feed="network", max_increments=3)
    frames = [rollout.advance() for _ in range(4)]
    assert [f.increment for f in frames] == [1, 2, 3, 3]  # stops at the last increment
    assert np.allclose(frames[-1].network, 3.0)  # fed its own prediction
    assert seen[0].shape == (1, 5, 16, 16)
    np.testing.assert_allclose(seen[0][0, 1], rollout.controls["E"])  # controls in the model's order
    assert frames[-1].mae == pytest.approx(np.abs(frames[-1].network - frames[-1].solver).mean())
    one_step = StressPlay(_micro(), run, LAYOUT, feed="solver")
    one_step.advance()
    second = one_step.advance()
    np.testing.assert_allclose(second.network, one_step.history[1].solver + 1.0, rtol=1e-6)
    assert second.solver_seconds > 0 and second.network_seconds > 0


def test_a_model_of_another_state_is_refused():
    play = StressPlay(_micro(), lambda x: x[:, :1], {"state": ["density"], "controls": []})
    with pytest.raises(ValueError, match="sigma_vM alone"):
        play.advance()


def test_grain_boundary_error_split():
    grains = np.zeros((8, 8), int)
    grains[:, 4:] = 1
    error = np.zeros((8, 8))
    error[:, [3, 4, 7, 0]] = 2.0  # the cells along both (periodic) boundaries
    boundary, inside = grain_error(grains, error)
    assert boundary == pytest.approx(2.0) and inside == pytest.approx(0.0)
