"""Stress microstructures and dataset generation: exact grain counts, determinism, splits."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from fieldcast.app.cli import main as cli_main
from fieldcast.engine.data import open_dataset
from fieldcast.engine.generation import generate_dataset
from fieldcast.engine.systems.stress import (
    RANGES,
    circular_inclusion,
    sample_microstructure,
    simulate_trajectory,
    split_recipe,
    square_inclusion,
    voronoi,
)


def _fields_digest(path) -> str:
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for group in ("t0_fields",):
            for name in sorted(f[group]):
                h.update(name.encode())
                h.update(np.ascontiguousarray(f[group][name][()]).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("grains", [5, 10, 20])
def test_voronoi_has_exactly_the_asked_number_of_grains(grains):
    for seed in range(20):
        labels = voronoi((32, 32), grains, np.random.default_rng(seed))
        assert np.array_equal(np.unique(labels), np.arange(grains))


def test_voronoi_is_periodic_and_grains_are_drawn_in_range():
    labels = voronoi((32, 32), 10, np.random.default_rng(1))
    # the same map shifted across the boundary is still a Voronoi map of the same seeds: grains that touch the
    # left edge continue at the right edge
    rolled = np.roll(labels, 16, axis=0)
    assert set(np.unique(rolled)) == set(range(10))
    assert np.intersect1d(labels[0], labels[-1]).size > 0
    micro = sample_microstructure(np.random.default_rng(2), (32, 32), grains=[5, 20])
    assert 5 <= micro.n_grains <= 20
    for j, name in enumerate(("E", "nu", "xi0", "h0")):
        lo, hi = RANGES[name]
        assert np.all((micro.properties[:, j] >= lo) & (micro.properties[:, j] <= hi))
    narrow = sample_microstructure(np.random.default_rng(2), (32, 32), contrast=1.5)
    assert narrow.properties[:, 0].max() / narrow.properties[:, 0].min() <= 1.5 + 1e-9


def test_inclusions_cover_the_asked_fraction():
    for make in (circular_inclusion, square_inclusion):
        labels = make((64, 64), 0.2)
        assert labels.mean() == pytest.approx(0.2, abs=0.02)
        assert labels[32, 32] == 1 and labels[0, 0] == 0


def test_trajectory_fields_units_and_load():
    fields = simulate_trajectory(np.random.SeedSequence(4), 4, 16)
    assert fields["sigma_vM"].shape == (4, 16, 16)
    assert not fields["sigma_vM"][0].any()  # frame 0 is the unloaded cell
    assert np.all(np.diff(fields["sigma_xx"].mean(axis=(1, 2))) > 0)  # pulled along x
    assert 50 <= fields["E"].min() and fields["E"].max() <= 300  # GPa
    assert np.ptp(fields["E"], axis=0).max() == 0  # material maps constant in time


def test_split_is_by_microstructure_with_an_extrapolation_range():
    recipe = split_recipe(10, 31)
    seg = recipe["segments"]
    train = {t for t, _, _ in seg["train"]}
    valid = {t for t, _, _ in seg["valid"]}
    assert len(train) == 8 and len(valid) == 2 and not train & valid
    assert all(stop == 21 for _, _, stop in seg["train"] + seg["valid"])  # up to F11 = 1.004
    assert {t for t, _, _ in seg["test"]} == valid
    assert all((start, stop) == (20, 31) for _, start, stop in seg["test"])  # from 1.004 to 1.006


def test_generation_is_deterministic_and_independent_of_workers(tmp_path):
    kw = {"trajectories": 3, "frames": 4, "size": 16, "seed": 5}
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    list(generate_dataset("stress", a, **kw))
    list(generate_dataset("stress", b, **kw))
    list(generate_dataset("stress", c, workers=2, **kw))
    assert _fields_digest(a) == _fields_digest(b) == _fields_digest(c)
    other = tmp_path / "d.h5"
    list(generate_dataset("stress", other, **{**kw, "seed": 6}))
    assert _fields_digest(other) != _fields_digest(a)
    with open_dataset(a) as ds:
        assert ds.spec.name == "stress" and ds.grid == (16, 16)
        assert ds.split_segments("train") and ds.split_segments("valid")


def test_cli_generates_microstructures_with_increments_and_grains(tmp_path, capsys):
    out = tmp_path / "s.h5"
    args = ["generate", "stress", "--microstructures", "3", "--increments", "3", "--grains", "5"]
    assert cli_main([*args, "--size", "16", "--seed", "2", "--out", str(out)]) == 0
    with open_dataset(out) as ds:
        assert ds.n_trajectories == 3 and ds.n_frames == 4
        grains = ds.read_window(0, 0, 1)[0, ds.channel_names.index("E")]
        assert np.unique(grains).size == 5
    assert cli_main([*args[:-1], "0:x", "--out", str(out)]) == 2
    assert "--grains expects" in capsys.readouterr().err
