import torch

from fieldcast.training.datasets import WindowDataset, epoch_plan, flip_x, normalisation
from fieldcast.training.rollout import build_layout


def test_windows_read_the_engine_dataset(smoke_ds):
    ds = WindowDataset(smoke_ds, "train", 4, max_windows=5)
    assert len(ds) == 5
    item = ds[0]
    assert item.dtype == torch.float32 and item.shape == (4, 5, 16, 16)
    traj, start = ds.index[0]
    assert torch.equal(item, torch.from_numpy(smoke_ds.read_window(traj, start, 4)))


def test_epoch_plan_is_deterministic_and_shards_evenly():
    a = epoch_plan(10, 3, epoch=2, seed=7)
    assert a == epoch_plan(10, 3, epoch=2, seed=7) and a != epoch_plan(10, 3, epoch=3, seed=7)
    assert sorted(i for idx, _ in a for i in idx) == list(range(10))
    r0, r1 = (epoch_plan(11, 2, 0, 0, rank=r, world=2) for r in (0, 1))
    assert len(r0) == len(r1) and sum(len(i) for i, _ in r0) == sum(len(i) for i, _ in r1) == 6
    assert set(i for idx, _ in r0 + r1 for i in idx) == set(range(11))


def test_flip_mirrors_x_and_negates_vx(smoke_ds):
    lay = build_layout(smoke_ds.spec, smoke_ds.channel_names, ["density"])
    batch = torch.rand(2, 3, 5, 6, 4)
    out = flip_x(batch, [True, False], lay)
    assert torch.equal(out[1], batch[1])
    assert torch.equal(out[0, :, 0], batch[0, :, 0].flip(-2))
    assert torch.equal(out[0, :, 1], -batch[0, :, 1].flip(-2)) and torch.equal(
        out[0, :, 2], batch[0, :, 2].flip(-2)
    )


def test_normalisation_follows_the_layout(smoke_ds):
    lay = build_layout(smoke_ds.spec, smoke_ds.channel_names, ["density"])
    stats = {"mean": [1.0, 2.0, 3.0, 4.0, 5.0], "std": [1.0, 0.0, 2.0, 1.0, 1.0]}
    n = normalisation(stats, lay)
    assert n["in_mean"] == [1.0, 2.0, 3.0, 1.0, 4.0, 5.0] and n["in_std"][1] == 1.0  # zero std floored
    assert n["out_mean"] == [1.0, 2.0, 3.0] and n["input_names"][3] == "density@t-1"


def test_windows_that_start_a_trajectory_can_be_repeated(smoke_ds):
    from fieldcast.training.datasets import WindowDataset

    plain = WindowDataset(smoke_ds, "train", 4)
    more = WindowDataset(smoke_ds, "train", 4, repeat_first=3)
    firsts = {}
    for traj, start in plain.index:
        firsts.setdefault(traj, start)
    assert len(more) == len(plain) + 2 * len(firsts)
    assert sorted(more.index[len(plain) :]) == sorted(list(firsts.items()) * 2)
