"""Melt end to end on tiny sizes: generate with the CLI, train both surrogates, export, play them."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from fieldcast.app.cli import main as cli
from fieldcast.engine.melt_session import MeltPlay, open_melt_model
from fieldcast.engine.systems.melt import IPF_CHANNELS

pytestmark = pytest.mark.slow


def _recipe(path, body: dict) -> str:
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


def test_generate_train_export_and_play_both_melt_surrogates(tmp_path, capsys):
    data = tmp_path / "melt.h5"
    assert (
        cli(["generate", "melt", "--size", "32", "--frames", "14", "--trajectories", "3", "--out", str(data)])
        == 0
    )
    runs = tmp_path / "runs"
    temperature = _recipe(
        tmp_path / "melt_t.yaml",
        {
            "system": "melt",
            "data": {"batch_size": 4, "state_channels": ["temperature"], "history_channels": []},
            "model": {"name": "unet", "args": {"depth": 2, "base_width": 4, "residual": True}},
            "rollout": {"steps": 1, "residual": True},
            "train": {"epochs": 1, "rollout_test_every": 0},
        },
    )
    grains = _recipe(
        tmp_path / "melt_g.yaml",
        {
            "system": "melt",
            "task": "recurrent_field",
            "data": {"split": [12, 6, 6], "state_channels": list(IPF_CHANNELS), "batch_size": 4},
            "recurrent": {"condition_channels": ["temperature"], "context": 3},
            "model": {
                "name": "convlstm",
                "args": {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4], "residual": True},
            },
            "train": {"epochs": 1, "seed": 0},
        },
    )
    for recipe in (temperature, grains):
        assert cli(["train", recipe, "--data", str(data), "--runs-dir", str(runs)]) == 0
    exported = {}
    for run in ("melt_t", "melt_g"):
        assert cli(["export", str(runs / run)]) == 0
        kind, session = open_melt_model(runs / run / "model.onnx")
        exported[kind] = session
    assert set(exported) == {"temperature", "microstructure"}
    play = MeltPlay(32, 16)
    play.set_temperature_session(exported["temperature"])
    play.set_microstructure_session(exported["microstructure"])
    play.set_compare(True)
    play.beam.start_path(6 * play.dx)
    play.beam.add_point(26 * play.dx)
    frames = [play.advance() for _ in range(10)]
    assert all(f.finite for f in frames)
    assert frames[-1].ms_temperature > 0 and frames[-1].ms_microstructure > 0
    assert frames[-1].reference_temperature is not None and np.isfinite(frames[-1].error_ipf)
    assert (frames[-1].temperature >= 300.0).all() and (frames[-1].ipf <= 1.0).all()
