"""generative.weighting: map weighs each pair by the inverse of its NMSE denominator, and it learns."""

import json

import numpy as np
import torch
from generative_data import recipe as tiny_recipe
from generative_data import write as write_tiny

from fieldcast.engine.data import open_dataset
from fieldcast.training.config import config_hash, recipe_from_dict
from fieldcast.training.tasks.base import get_task
from fieldcast.training.tasks.generative import MAX_MAP_WEIGHT
from fieldcast.training.trainer import Trainer


def _sub(tmp_path):
    sub = tmp_path / "pixel"
    sub.mkdir()
    return sub


def _task(tmp_path, weighting):
    data = write_tiny(tmp_path / "tiny.h5", trajectories=4)
    recipe = tiny_recipe(data, "regression", 1)
    recipe["generative"]["weighting"] = weighting
    return get_task("generative")(recipe_from_dict(recipe), open_dataset(data))


def test_map_weights_are_the_inverse_nmse_denominators(tmp_path):
    task = _task(tmp_path, "map")
    lo, hi = task.norm["target_range"]
    y = task.train_y
    energy = (((y.double() - lo) / (hi - lo)) ** 2).mean(dim=(1, 2, 3))
    w = task._weights(y).double()
    expect = energy.mean() / energy.clamp_min(energy.mean() / MAX_MAP_WEIGHT)
    assert torch.allclose(w, expect, rtol=1e-5)
    assert w.max() <= MAX_MAP_WEIGHT + 1e-6
    # a map with half the signal weighs twice as much
    quiet = torch.full_like(y[:1], lo) + (y[:1] - lo) / np.sqrt(2.0)
    assert torch.allclose(task._weights(quiet), 2 * task._weights(y[:1]), rtol=1e-4)
    assert _task(_sub(tmp_path), "pixel")._weights(y) is None


def test_pixel_weighting_is_the_old_recipe():
    base = {"task": "generative", "generative": {"objective": "regression"}}
    same = {"task": "generative", "generative": {"objective": "regression", "weighting": "pixel"}}
    other = {"task": "generative", "generative": {"objective": "regression", "weighting": "map"}}
    h = [config_hash(recipe_from_dict(r)) for r in (base, same, other)]
    assert h[0] == h[1] != h[2]


def test_a_map_weighted_regression_learns(tmp_path):
    torch.set_num_threads(1)
    data = write_tiny(tmp_path / "tiny.h5")
    recipe = tiny_recipe(data, "regression", 3)
    recipe["generative"]["weighting"] = "map"
    run = tmp_path / "run"
    list(Trainer(recipe_from_dict(recipe), open_dataset(data), run).run())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["kind"] == "validation"][-1]
    assert last["nmse"] < 0.5 * last["mean_nmse"]


def test_the_eight_turns_are_a_group_and_undo_themselves():
    from fieldcast.training.tasks.generative import dihedral

    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    images = {tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}
    assert len(images) == 8  # all different
    for k in range(8):
        assert torch.equal(dihedral(dihedral(x, k), k, inverse=True), x)


def test_a_symmetric_regression_answers_alike_to_turned_conditions(tmp_path):
    """Trained with random turns and answering with the mean over all 8: the answer to a turned condition is
    the turned answer, in torch and in the exported network."""
    from fieldcast.engine.generative import GenerativeSession
    from fieldcast.training.checkpoint import load_model
    from fieldcast.training.export import export_run
    from fieldcast.training.tasks.generative import GenerativeStep, dihedral

    torch.set_num_threads(1)
    data = write_tiny(tmp_path / "tiny.h5")
    recipe = tiny_recipe(data, "regression", 2)
    recipe["generative"]["symmetry"] = "d4"
    recipe["generative"]["rays"] = ["buildings", "transmitter"]
    run = tmp_path / "run"
    list(Trainer(recipe_from_dict(recipe), open_dataset(data), run).run())
    for _ in export_run(run):
        pass
    model, sidecar = load_model(run / "checkpoints" / "best.safetensors")
    step = GenerativeStep(model, sidecar["normalisation"], sidecar["generative"]).eval()
    cond = torch.from_numpy(open_dataset(data).read_window(0, 0, 2)[:, :2])
    session = GenerativeSession(run / "model.onnx")
    with torch.no_grad():
        ref = step(cond)
        for k in (1, 5, 6):
            turned = step(dihedral(cond, k).contiguous())
            assert torch.allclose(turned, dihedral(ref, k), atol=1e-4 * float(ref.abs().max()))
    got = session.predict(cond.numpy())
    assert np.abs(got - ref.numpy()).max() < 1e-3 * np.ptp(ref.numpy())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["kind"] == "validation"][-1]
    assert last["nmse"] < 0.5 * last["mean_nmse"]
