"""``data.state_channels``: a model that sees and predicts only some state channels (melt temperature)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from melt_data import write_melt_dataset

from fieldcast.engine.systems import get_spec
from fieldcast.training.config import RecipeError, load_recipe
from fieldcast.training.rollout import build_layout
from fieldcast.training.trainer import Trainer


def _drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def test_smoke_layout_keeps_only_the_chosen_state_channels():
    spec = get_spec("smoke")
    lay = build_layout(spec, spec.channel_names(), ["density"], "collider", ["density"], ["density"])
    assert lay.output_names() == ["density"]
    assert lay.input_names() == ["density", "density@t-1", "emitter", "collider"]
    assert lay.in_channels == 4 and lay.out_channels == 1
    assert lay.vectors == () and lay.nonnegative == (0,)
    # A whole field expands to its components, which stay a vector field.
    vel = build_layout(spec, spec.channel_names(), state_channels=["velocity"])
    assert vel.output_names() == ["velocity_x", "velocity_y"] and vel.vectors == ((0, 1),)
    # None keeps every state channel, as before.
    assert build_layout(spec, spec.channel_names()).out_channels == 3


def test_bad_state_channels_are_named():
    spec = get_spec("smoke")
    with pytest.raises(ValueError, match="pressure"):
        build_layout(spec, spec.channel_names(), state_channels=["pressure"])
    with pytest.raises(ValueError, match="empty"):
        build_layout(spec, spec.channel_names(), state_channels=[])
    with pytest.raises(ValueError, match="velocity_x"):  # history of a channel the model does not see
        build_layout(spec, spec.channel_names(), ["velocity_x"], state_channels=["density"])


def test_melt_temperature_layout_drops_the_ipf_channels():
    spec = get_spec("melt")
    lay = build_layout(spec, spec.channel_names(), ["temperature"], state_channels=["temperature"])
    assert lay.input_names() == ["temperature", "temperature@t-1", "temperature@t-2", "laser"]
    assert lay.output_names() == ["temperature"]


def test_recipe_accepts_state_channels(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"data": {"state_channels": ["temperature"]}}))
    assert load_recipe(path).data.state_channels == ["temperature"]
    path.write_text(yaml.safe_dump({"data": {"state_channels": "temperature"}}))
    with pytest.raises(RecipeError, match="state_channels"):
        load_recipe(path)


def test_packaged_melt_play_recipe_is_temperature_only():
    recipe = load_recipe("melt_play_temperature_k1")
    assert recipe.data.state_channels == ["temperature"]
    assert recipe.data.history_channels == []  # (T, laser) -> T: earlier frames made long rollouts blow up
    assert recipe.rollout.residual and recipe.rollout.input_noise > 0
    last = load_recipe("melt_play_temperature_k4")  # the shipped stage of the K1 -> K2 -> K4 curriculum
    assert last.rollout.steps == 4 and last.data.history_channels == [] and last.rollout.input_noise > 0


@pytest.fixture(scope="module")
def melt_file(tmp_path_factory):
    return write_melt_dataset(tmp_path_factory.mktemp("melt") / "melt.h5", trajectories=4, frames=10, size=16)


def test_temperature_only_model_trains_exports_and_steps(melt_file, tmp_path):
    from fieldcast.engine.data import open_dataset
    from fieldcast.engine.rollout import Rollout
    from fieldcast.engine.runtime import ModelSession

    recipe_path = tmp_path / "t.yaml"
    recipe = {
        "system": "melt",
        "data": {
            "path": str(melt_file),
            "batch_size": 2,
            "state_channels": ["temperature"],
            "history_channels": ["temperature"],
            "max_train_windows": 6,
            "max_valid_windows": 2,
        },
        "model": {"name": "unet", "args": {"depth": 1, "base_width": 4, "norm": "none"}},
        "rollout": {"steps": 2, "residual": True},
        "train": {"epochs": 1, "log_every": 1, "rollout_horizons": [2], "rollout_test_trajectories": 1},
    }
    recipe_path.write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    events = list(Trainer(load_recipe(recipe_path), open_dataset(melt_file), run).run())
    assert events[-1].status == "completed"
    report = _drain(export_run_job(run))
    assert report["variants"]["fp32"]["parity"]["ok"]
    session = ModelSession(run / "model.onnx")
    info = session.info
    assert info.input_channels == ("temperature", "temperature@t-1", "temperature@t-2", "laser")
    assert info.output_channels == ("temperature",)
    assert info.input_units == ("K", "K", "K", "W/m^2") and info.output_units == ("K",)
    assert info.layout["state"] == ["temperature"] and info.layout["controls"] == ["laser"]
    ds = open_dataset(melt_file)
    frame = ds.read_window(0, 0, 2)
    names = list(ds.channel_names)
    roll = Rollout(session)
    roll.reset({"temperature": frame[0, names.index("temperature")]})
    out = roll.step({"laser": frame[0, names.index("laser")]})
    assert set(out.fields) == {"temperature"} and np.isfinite(out.fields["temperature"]).all()


def export_run_job(run):
    from fieldcast.training.export import export_run

    return export_run(run, n_samples=2)
