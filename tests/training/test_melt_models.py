"""The shipped melt models load, describe themselves, fit the Play grid and step finitely."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS
from fieldcast.resources import resource_path

PLAY_GRID = (96, 48)
MAX_BYTES = 3_000_000


@pytest.fixture(scope="module")
def temperature():
    return ModelSession(resource_path("models", "melt_temperature.onnx"), threads=1)


@pytest.fixture(scope="module")
def microstructure():
    return ModelSession(resource_path("models", "melt_microstructure.onnx"), threads=1)


def test_shipped_files_are_small():
    for name in ("melt_temperature.onnx", "melt_microstructure.onnx"):
        assert resource_path("models", name).stat().st_size < MAX_BYTES


def test_temperature_signature(temperature):
    info = temperature.info
    assert info.system == "melt" and not info.recurrent
    assert info.input_channels == ("temperature", "laser")  # the heat equation is first order
    assert info.input_units == ("K", "W/m^2")
    assert info.output_channels == ("temperature",) and info.output_units == ("K",)
    assert info.layout["state"] == ["temperature"] and info.layout["controls"] == ["laser"]
    assert info.check_grid(*PLAY_GRID) is None


def test_temperature_steps_under_the_laser(temperature):
    from fieldcast.engine.rollout import Rollout

    roll = Rollout(temperature)
    roll.reset({"temperature": np.full(PLAY_GRID, 300.0, np.float32)})
    laser = np.zeros(PLAY_GRID, np.float32)
    laser[40:56, -1] = 8e9  # W/m^2 into the top row, y up
    for _ in range(5):
        out = roll.step({"laser": laser}).fields["temperature"]
    assert np.isfinite(out).all()
    hottest = np.unravel_index(out.argmax(), out.shape)
    assert 36 <= hottest[0] <= 60 and hottest[1] >= PLAY_GRID[1] - 4  # heated under the beam, at the top
    assert out.max() > 400.0


def test_microstructure_signature_and_stream(microstructure):
    info = microstructure.info
    assert info.system == "melt" and info.history == 1
    assert info.input_channels == (*IPF_CHANNELS, "temperature", "temperature@t+1")
    assert info.input_units == ("1",) * 9 + ("K", "K")
    assert info.output_channels == tuple(IPF_CHANNELS) and info.output_units == ("1",) * 9
    assert [r.input for r in info.recurrent] == ["recurrent_in_0", "recurrent_in_1"]
    assert info.check_grid(*PLAY_GRID) is None
    rng = np.random.default_rng(0)
    ipf = rng.random((9, *PLAY_GRID), dtype=np.float32)
    temps = np.full(PLAY_GRID, 300.0, np.float32)
    hot = temps.copy()
    hot[40:56, -6:] = 2500.0  # a melt pool at t+1: liquid cells carry no orientation
    states = {r.input: np.zeros(r.shape(1, *PLAY_GRID), np.float32) for r in info.recurrent}
    x = np.concatenate([ipf, temps[None], hot[None]])[None]
    out = microstructure.run({"fields": x, **states})
    pred = out["next_fields"][0]
    assert pred.shape == (9, *PLAY_GRID) and np.isfinite(pred).all()
    assert np.abs(pred[:, 40:56, -6:]).max() < 1e-5  # zero up to de-normalisation round-off
    assert np.abs(pred[:, :20, :20] - ipf[:, :20, :20]).mean() < 0.1  # cold solid keeps its orientation
