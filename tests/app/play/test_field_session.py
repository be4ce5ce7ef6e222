"""What the generic field page steps, without Qt: starts, painted controls, and the model's output kept as
it is except for its layout's own rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from generic_models import (
    drift_frames,
    reaction_info,
    write_drift_data,
    write_drift_model,
    write_reaction_model,
)
from onnx_models import make_conv_model

from fieldcast.engine.field_session import (
    ControlPaint,
    FieldPlay,
    dataset_start,
    first_start,
    zero_start,
)
from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.runtime import ModelSession


def test_only_the_layouts_rule_touches_the_output(tmp_path):
    # u' = u - 1 on a channel the layout calls nonnegative, v' = v - 1 on one it does not.
    info = dataclasses.replace(reaction_info(), layout={**reaction_info().layout, "nonnegative": ["u"]})
    weight = np.zeros((2, 3, 1, 1), np.float32)
    weight[0, 0] = weight[1, 1] = 1.0
    path = make_conv_model(tmp_path / "model.onnx", info, weight, np.array([-1.0, -1.0], np.float32))
    session = ModelSession(path)
    frame = FieldPlay(session, zero_start(session.info)).advance()
    assert (frame.state["u"] == 0.0).all() and (frame.state["v"] == -1.0).all()


def test_a_smoke_model_played_here_gets_no_smoke_bounds(tmp_path):
    # The smoke page holds density to [0, 1]; the generic page shows what the model says.
    info = ModelInfo(
        system="smoke",
        input_channels=("density", "emitter"),
        output_channels=("density",),
        history=1,
        layout={"state": ["density"], "history_state": [], "controls": ["emitter"]},
        grid=(8, 8),
    )
    weight = np.ones((1, 2, 1, 1), np.float32)
    session = ModelSession(make_conv_model(tmp_path / "m.onnx", info, weight, np.array([2.0], np.float32)))
    play = FieldPlay(session, zero_start(session.info))
    play.controls.paint("emitter", 4.5, 4.5, 1, 1.0)
    frame = play.advance()
    assert frame.state["density"].max() == pytest.approx(3.0) and frame.state["density"].min() == 2.0


def test_paint_has_a_soft_edge_and_erase_clears_one_channel():
    paint = ControlPaint(["a", "b"], 16, 16)
    paint.paint("a", 8.5, 8.5, 3, 5.0)
    paint.paint("b", 8.5, 8.5, 3, 1.0)
    planes = paint.take()
    assert planes["a"][8, 8] == 5.0 and planes["a"][0, 0] == 0.0
    assert planes["a"][8, 5] == pytest.approx(2.5)  # the one-cell edge blends
    version = paint.version
    paint.erase(8.5, 8.5, 1, ["a"])
    planes = paint.take()
    assert planes["a"][8, 8] == 0.0 and planes["b"][8, 8] == 1.0 and paint.version > version
    with pytest.raises(KeyError, match="no control channel 'c'"):
        paint.paint("c", 1, 1, 1, 1.0)


def test_a_dataset_start_fills_the_history_with_the_stored_frames(tmp_path):
    data = write_drift_data(tmp_path / "drift.h5")
    session = ModelSession(write_drift_model(tmp_path / "m" / "model.onnx", data))
    start, found, note = first_start(session.info, session.path)
    assert found == data and note is None and "frame 0" in start.source
    play = FieldPlay(session, dataset_start(data, session.info, trajectory=0, frame=3))
    np.testing.assert_allclose(play.advance().state["a"], drift_frames(0)[4], atol=1e-5)
    # From frame 0 there is no earlier frame: the history repeats it, so a' = a.
    play.set_start(dataset_start(data, session.info, trajectory=0, frame=0))
    np.testing.assert_allclose(play.advance().state["a"], drift_frames(0)[0], atol=1e-5)


def test_dataset_start_names_the_file_and_the_problem(tmp_path):
    data = write_drift_data(tmp_path / "drift.h5", trajectories=1)
    drift = ModelSession(write_drift_model(tmp_path / "d" / "model.onnx", data)).info
    with pytest.raises(ValueError, match=r"drift\.h5: no frame 9 \(trajectories have 6 frames\)"):
        dataset_start(data, drift, frame=9)
    with pytest.raises(ValueError, match=r"drift\.h5: no trajectory 1 \(it has 1\)"):
        dataset_start(data, drift, trajectory=1)
    reaction = ModelSession(write_reaction_model(tmp_path / "r" / "model.onnx")).info
    with pytest.raises(ValueError, match=r"drift\.h5: no channel 'u', 'v' of the model's state"):
        dataset_start(data, reaction)
    small = dataclasses.replace(drift, grid=(8, 8), grid_multiple=0)
    with pytest.raises(ValueError, match="cannot run on the file's grid"):
        dataset_start(data, small)
    start, found, note = first_start(dataclasses.replace(reaction, provenance={"data_path": str(data)}))
    assert found is None and note.startswith("Starting from zeros: ") and start.grid == (16, 16)
