"""The shipped trajectory model: physics filter plus learned correction, conditioned on the printer profile.

Held-out printers (seeds no training file used) and held-out toolpaths; the linear filter it must beat is
fitted per printer on the very trajectory it is scored on (the best a linear filter can do with that
printer's own error). The training path is checked end to end on tiny data: the ``trajectory_default``
recipe through the one trainer, then ``fieldcast export``'s exporter, then the engine session.
"""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.sequence_runtime import SequenceSession
from fieldcast.engine.systems.trajectory import (
    PROFILE,
    TARGETS,
    iter_write_dataset,
    sample_machine,
    simulate_toolpath,
)
from fieldcast.engine.systems.trajectory.baseline import LinearBaseline, error_metrics
from fieldcast.engine.systems.trajectory.features import FEATURES_NAME
from fieldcast.engine.systems.trajectory.paths import random_toolpath
from fieldcast.resources import resource_path

SHIPPED = resource_path("models", "trajectory_default.onnx")
MOTION = ("x_ref", "y_ref", "vx_ref", "vy_ref")


def _heldout(n: int, seconds: float = 6.0):
    for i in range(n):
        rng = np.random.default_rng([4242, i])
        machine = sample_machine(rng)
        yield simulate_toolpath(random_toolpath(rng, seconds), machine, rng=rng)


@pytest.fixture(scope="module")
def shipped() -> SequenceSession:
    return SequenceSession(SHIPPED, providers=["CPUExecutionProvider"])


def test_shipped_model_reads_the_printer_profile(shipped):
    info = shipped.info
    assert info.system == "trajectory" and info.features == FEATURES_NAME
    assert list(info.input_channels) == [*MOTION, *PROFILE]
    assert list(info.output_channels) == list(TARGETS) and shipped.latency == 3
    assert len(info.normalisation["in_mean"]) == len(info.input_channels)


def test_shipped_model_beats_the_per_printer_linear_filter_on_held_out_printers(shipped):
    truths, preds, linear = [], [], []
    for sim in _heldout(3):
        motion = np.column_stack([sim[c] for c in MOTION])
        truth = np.column_stack([sim[c] for c in TARGETS])
        preds.append(shipped.predict(np.column_stack([sim[c] for c in shipped.info.input_channels])))
        linear.append(LinearBaseline.fit([motion], [truth]).predict(motion))
        truths.append(truth)
    truth = np.concatenate(truths)
    model, lin = error_metrics(np.concatenate(preds), truth), error_metrics(np.concatenate(linear), truth)
    assert min(model["r2_x"], model["r2_y"]) > 0.9
    assert model["mae_um"] < 0.5 * lin["mae_um"]


def test_shifting_the_part_on_the_bed_does_not_change_the_prediction(shipped):
    sim = next(_heldout(1, 4.0))
    raw = np.column_stack([sim[c] for c in shipped.info.input_channels])
    moved = raw.copy()
    moved[:, :2] += (-35.0, 48.0)
    a, b = shipped.predict(raw), shipped.predict(moved)
    assert np.abs(a).max() > 10.0  # a real error signal, not a constant
    assert np.abs(a - b).max() < 0.05  # µm: float32 rounding of the positions only
    short = shipped.predict(raw[:2])  # shorter than the latency: padded, still one answer per sample
    assert short.shape == (2, 2) and np.isfinite(short).all()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("traj") / "traj.h5"
    list(iter_write_dataset(data, 4, 300, seed=3))
    return data


def test_unknown_feature_pipeline_or_missing_profile_is_a_one_line_recipe_error(tiny_data):
    from fieldcast.engine.data import open_dataset
    from fieldcast.training.config import RecipeError, load_recipe
    from fieldcast.training.tasks.sequence import SequenceTask

    bad = load_recipe("trajectory_default", ["model.args.features=trajectory-magic/9"])
    with pytest.raises(RecipeError, match=r"traj\.h5: model.args.features 'trajectory-magic/9': unknown"):
        SequenceTask(bad, open_dataset(tiny_data))
    motion_only = load_recipe("trajectory_default", ["sequence.inputs=[x_ref, y_ref, vx_ref, vy_ref]"])
    with pytest.raises(RecipeError, match="physics features need the channels mass_x"):
        SequenceTask(motion_only, open_dataset(tiny_data))


def test_recipe_trains_exports_and_streams_the_same_numbers(tmp_path, tiny_data):
    from fieldcast.training.checkpoint import load_model
    from fieldcast.training.events import FinishedEvent, ValidationEvent
    from fieldcast.training.export import export_run
    from fieldcast.training.runs import Curriculum
    from fieldcast.training.tasks.sequence import model_features, predict_stream

    data = tiny_data
    overrides = [
        "train.epochs=1",
        "train.max_steps=4",
        "data.max_train_windows=32",
        "data.batch_size=8",
        "sequence.seq_len=60",
        "sequence.stride=30",
        "model.args.hidden_size=8",
        "model.args.encoder_size=8",
    ]
    events = list(
        Curriculum("trajectory_default", overrides, tmp_path / "runs", data=str(data)).run(device="cpu")
    )
    fin = next(e for e in events if isinstance(e, FinishedEvent))
    val = [e for e in events if isinstance(e, ValidationEvent)][-1].metrics
    assert val["physics_r2"] > 0.8 and val["rmse_um"] < val["linear_rmse_um"]
    net, side = load_model(fin.best)
    assert side["features"] == FEATURES_NAME and side["inputs"][4:] == list(PROFILE)
    for _ in export_run(fin.run_dir):
        pass
    session = SequenceSession(fin.run_dir / "model.onnx", providers=["CPUExecutionProvider"])
    assert session.info.features == FEATURES_NAME
    sim = next(_heldout(1, 3.0))
    raw = np.column_stack([sim[c] for c in side["inputs"]])
    torch_pred = predict_stream(
        net, raw.astype(np.float32), side["normalisation"], model_features(net, side["inputs"], 0.01)
    )
    assert np.allclose(session.predict(raw), torch_pred, atol=1e-2)
    # The physics filter carries the prediction from the first step: far better than predicting no error.
    truth = np.column_stack([sim[c] for c in TARGETS])
    assert error_metrics(torch_pred, truth)["mae_um"] < 0.5 * float(np.abs(truth).mean())
