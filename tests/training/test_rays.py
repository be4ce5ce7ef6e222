"""Straight-ray features: they count what the radio propagation model counts, and travel through ONNX."""

import json

import numpy as np
import pytest
import torch
from generative_data import recipe as tiny_recipe
from generative_data import write as write_tiny

from fieldcast.engine.data import open_dataset
from fieldcast.engine.generative import GenerativeSession
from fieldcast.engine.systems.thermal_imaging.city import place_transmitters, sample_city, transmitter_map
from fieldcast.engine.systems.thermal_imaging.radio import mask_rectangles, penetration
from fieldcast.training.checkpoint import load_model
from fieldcast.training.config import config_hash, recipe_from_dict
from fieldcast.training.export import export_run
from fieldcast.training.models.rays import ray_features, source_position
from fieldcast.training.tasks.generative import GenerativeStep
from fieldcast.training.trainer import Trainer


def _features(buildings: np.ndarray, tx: tuple[float, float]) -> np.ndarray:
    mask = torch.from_numpy(buildings.astype(np.float32))[None, None]
    source = torch.from_numpy(transmitter_map(buildings.shape, tx))[None, None]
    return ray_features(mask, source)[0].numpy()


def test_source_position_is_the_peak_cell_centre():
    source = torch.zeros(2, 1, 12, 9)
    source[0, 0, 3, 7] = 1.0
    source[1, 0, 11, 0] = 0.5
    assert source_position(source).tolist() == [[3.5, 7.5], [11.5, 0.5]]


def test_walls_and_length_inside_match_the_propagation_model():
    rng = np.random.default_rng(5)
    for _ in range(4):
        buildings = sample_city(rng, 64)
        tx = place_transmitters(rng, buildings, 1)[0]
        feats = _features(buildings, tx)
        ix, iy = np.meshgrid(np.arange(64) + 0.5, np.arange(64) + 0.5, indexing="ij")
        rx = np.stack([ix.ravel(), iy.ravel()], axis=1)
        mask = buildings > 0.5
        walls, inside = penetration(np.asarray(tx)[None], rx, mask_rectangles(mask), mask)
        counted = np.rint(feats[1] * 4).ravel()
        assert walls.max() >= 4  # the city really hides cells behind several walls
        assert np.mean(counted == walls) > 0.93  # the rest are rays grazing a corner
        assert np.abs(feats[2].ravel() * 64 - inside).mean() < 0.3  # cells
        dist = np.hypot(ix - tx[0], iy - tx[1])
        expect = np.log(np.maximum(dist, 1.0)) / np.log(np.hypot(64, 64))
        assert np.allclose(feats[0], expect, atol=1e-5)


def test_open_ground_has_no_walls_and_a_wall_counts_twice_through():
    buildings = np.zeros((16, 16))
    buildings[8:10, :] = 1.0  # a slab across the map
    feats = _features(buildings, (3.5, 8.5))
    walls = np.rint(feats[1] * 4)
    assert (walls[:8] == 0).all()  # in front of the slab
    assert (walls[8:10] == 1).all()  # inside it: one wall entered
    assert (walls[10:] == 2).all()  # behind it: in and out
    assert np.allclose(feats[2][12] * 16, np.hypot(9.0, np.arange(16) - 8.0) * 2 / 9, atol=0.2)


def test_the_rays_option_leaves_older_hashes_alone():
    base = {"task": "generative", "generative": {"objective": "regression"}}
    with_none = {"task": "generative", "generative": {"objective": "regression", "rays": None}}
    with_rays = {"task": "generative", "generative": {"objective": "regression", "rays": ["a", "b"]}}
    h = [config_hash(recipe_from_dict(r)) for r in (base, with_none, with_rays)]
    assert h[0] == h[1] != h[2]


@pytest.fixture(scope="module")
def rays_run(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("rays")
    data = write_tiny(root / "tiny.h5")
    recipe = tiny_recipe(data, "regression", 3)
    recipe["generative"]["rays"] = ["buildings", "transmitter"]
    run = root / "run"
    list(Trainer(recipe_from_dict(recipe), open_dataset(data), run).run())
    job = export_run(run)
    for _ in job:
        pass
    return data, run


def test_a_regression_with_rays_learns_and_its_onnx_matches_torch(rays_run):
    data, run = rays_run
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["kind"] == "validation"][-1]
    assert last["nmse"] < 0.5 * last["mean_nmse"]
    model, sidecar = load_model(run / "checkpoints" / "best.safetensors")
    assert sidecar["generative"]["rays"] == [0, 1]
    step = GenerativeStep(model, sidecar["normalisation"], sidecar["generative"]).eval()
    cond = open_dataset(data).read_window(0, 0, 2)[:, :2]
    with torch.no_grad():
        ref = step(torch.from_numpy(cond)).numpy()
    got = GenerativeSession(run / "model.onnx").predict(cond)
    assert np.abs(got - ref).max() < 1e-3 * np.ptp(ref)


def test_rays_must_name_two_condition_channels(tmp_path):
    data = write_tiny(tmp_path / "tiny.h5", trajectories=3)
    recipe = tiny_recipe(data, "regression", 1)
    recipe["generative"]["rays"] = ["buildings", "power_db"]
    with pytest.raises(Exception, match="generative.rays"):
        Trainer(recipe_from_dict(recipe), open_dataset(data), tmp_path / "run")
