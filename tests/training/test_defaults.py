"""A default recipe for any dataset, and splits that never validate on training frames.

``fieldcast train --data FILE`` with no recipe builds one from the file's own fields: the UNet rollout
family for field data, the streaming LSTM for per-sample data. A file with fewer than three trajectories is
cut along time (70:15:15), and the run says so in ``config.yaml``, ``run.json`` and its first event.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import yaml
from conftest import write_smoke_dataset
from melt_data import write_melt_dataset

from fieldcast.app.commands import train
from fieldcast.engine.data import open_dataset
from fieldcast.engine.systems import get_spec
from fieldcast.training import events as ev
from fieldcast.training.config import recipe_from_dict
from fieldcast.training.defaults import default_recipe
from fieldcast.training.runs import Curriculum, read_status
from fieldcast.training.trainer import Trainer

QUICK_FIELD = ["model.args.base_width=4", "train.epochs=1", "train.rollout_test_every=0"]
QUICK_SEQUENCE = ["model.args.hidden_size=8", "sequence.seq_len=20", "sequence.warmup=5", "train.epochs=1"]


def frames(segments) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for traj, start, stop in segments:
        out.setdefault(traj, set()).update(range(start, stop))
    return out


def window_frames(index, length) -> dict[int, set[int]]:
    return frames((traj, start, start + length) for traj, start in index)


def disjoint(a: dict[int, set[int]], b: dict[int, set[int]]) -> bool:
    return all(not (a[t] & b.get(t, set())) for t in a)


# ---------------------------------------------------------------- the recipe itself


def test_default_recipe_for_a_field_file(smoke_file):
    with open_dataset(smoke_file) as ds:
        plain = default_recipe(ds)
    assert plain["task"] == "field_rollout" and plain["system"] == "auto"
    assert plain["data"]["split"] == "auto" and plain["name"] == "default-smoke"
    assert plain["model"]["name"] == "unet" and plain["rollout"]["residual"] is True
    recipe = recipe_from_dict(plain, source="default")  # a complete, valid recipe as it stands
    assert recipe.task == "field_rollout" and recipe.system == "auto"


@pytest.mark.parametrize("size", [8, 16, 48, 128, 500])
def test_the_unet_is_sized_to_the_grid(size):
    fake = SimpleNamespace(spec=get_spec("smoke"), grid=(size, size), path=None)
    args = default_recipe(fake)["model"]["args"]
    assert 1 <= args["depth"] <= 4 and size / 2 ** args["depth"] >= 4  # the coarsest level keeps 4 cells
    if size >= 128:
        assert args["depth"] == 4


def test_default_recipe_for_a_per_sample_file(tiny_traj_file):
    with open_dataset(tiny_traj_file) as ds:
        assert tuple(ds.grid) == (1, 1)
        plain = default_recipe(ds)
    assert plain["task"] == "sequence" and plain["model"]["name"] == "lstm" and plain["system"] == "auto"
    recipe = recipe_from_dict(plain, source="default")
    assert recipe.sequence.warmup < recipe.sequence.seq_len


def test_default_recipe_trains_any_file_through_the_cli(smoke_file, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--data", str(smoke_file), "--runs-dir", str(runs), "--device", "cpu"]
    assert train.main([*args, *(f"--set={o}" for o in QUICK_FIELD), "--set", "train.max_steps=2"]) == 0
    run = runs / "default-smoke"
    assert read_status(run)["status"] == "completed" and read_status(run)["task"] == "field_rollout"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["system"] == "auto" and config["data"]["split"] == "stored"  # 6 trajectories: by trajectory
    assert "field_rollout:" in capsys.readouterr().err


# ---------------------------------------------------------------- time splits for few trajectories


def test_one_trajectory_field_file_trains_with_a_time_split(tmp_path):
    data = write_smoke_dataset(tmp_path / "one.h5", n_traj=1, n_frames=20)
    events = list(Curriculum(None, QUICK_FIELD, tmp_path / "runs", data=str(data)).run())
    assert events[-2].status == "completed"
    note = next(e for e in events if isinstance(e, ev.DataEvent)).split
    assert note.startswith("along time 70:15:15") and "only 1 trajectory" in note
    run = tmp_path / "runs" / "default-one"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["split"] == [70.0, 15.0, 15.0]  # what reproduces the run, not "auto"
    assert read_status(run)["split"] == note
    sidecar = json.loads((run / "checkpoints" / "best.json").read_text())
    assert sidecar["split"] == note and sidecar["config"]["data"]["split"] == "auto"
    assert any(isinstance(e, ev.ValidationEvent) for e in events)  # a validation split exists


def test_two_trajectory_sequence_file_trains_with_a_time_split(tmp_path, capsys):
    from fieldcast.engine.systems.trajectory import iter_write_dataset

    data = tmp_path / "two.h5"
    list(iter_write_dataset(data, 2, 300, seed=1))
    runs = tmp_path / "runs"
    args = ["--data", str(data), "--runs-dir", str(runs), "--device", "cpu"]
    assert train.main([*args, *(f"--set={o}" for o in QUICK_SEQUENCE)]) == 0
    run = runs / "default-two"
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["split"] == [70.0, 15.0, 15.0]
    status = read_status(run)
    assert status["task"] == "sequence" and "along time 70:15:15" in status["split"]
    assert "2 trajectories" in status["split"]
    err = capsys.readouterr().err
    assert "split along time 70:15:15" in err and "validation:" in err


def test_stated_time_ratios_are_written_as_given(smoke_file, write_recipe, tmp_path):
    recipe = write_recipe(changes={"data": {"split": [12, 6, 6]}, "train": {"max_steps": 1}})
    list(Curriculum(recipe, runs_dir=tmp_path / "runs").run())
    config = yaml.safe_load((tmp_path / "runs" / "tiny" / "config.yaml").read_text())
    assert config["data"]["split"] == [12.0, 6.0, 6.0]
    assert read_status(tmp_path / "runs" / "tiny")["split"].startswith("along time 12:6:6")


# ---------------------------------------------------------------- validation never sees training frames


def build(task: str, data, changes: dict):
    base = {
        "field_rollout": {"data": {"batch_size": 2}, "model": {"name": "unet", "args": {"depth": 1}}},
        "recurrent_field": {
            "data": {"state_channels": [f"ipf_{a}_{c}" for a in "xyz" for c in "rgb"]},
            "model": {"name": "convlstm", "args": {"widths": [4], "hidden": 4, "decoder_widths": [4]}},
        },
        "sequence": {"sequence": {"seq_len": 20, "warmup": 5, "stride": 1}, "model": {"name": "lstm"}},
    }[task]
    recipe = recipe_from_dict({"task": task, **base, **changes}, source="split-test")
    return Trainer(recipe, open_dataset(data), None, device="cpu")


@pytest.mark.parametrize("task,n", [("field_rollout", 1), ("field_rollout", 2), ("recurrent_field", 2)])
def test_field_windows_of_validation_and_training_share_no_frame(task, n, tmp_path):
    path = tmp_path / "d.h5"
    if task == "field_rollout":
        write_smoke_dataset(path, n_traj=n, n_frames=30)
    else:
        write_melt_dataset(path, n, 30, 16)
    trainer = build(task, path, {})
    ds, t = trainer.dataset, trainer.task
    assert ds.split_recipe == {"method": "time", "ratios": [70.0, 15.0, 15.0]}
    train_seg, valid_seg = frames(ds.split_segments("train")), frames(ds.split_segments("valid"))
    assert disjoint(train_seg, valid_seg) and len(valid_seg) == n
    length = t.train_set.length
    tw, vw = window_frames(t.train_set.index, length), window_frames(t.valid_set.index, length)
    assert t.valid_set.index and t.train_set.index
    assert (
        disjoint(tw, vw) and all(tw[k] <= train_seg[k] for k in tw) and all(vw[k] <= valid_seg[k] for k in vw)
    )


def test_sequence_validation_streams_only_validation_frames(tmp_path):
    from fieldcast.engine.systems.trajectory import iter_write_dataset

    path = tmp_path / "one.h5"
    list(iter_write_dataset(path, 1, 200, seed=2))
    trainer = build("sequence", path, {})
    ds, t = trainer.dataset, trainer.task
    (_, a, b), (_, c, d) = ds.split_segments("train")[0], ds.split_segments("valid")[0]
    assert b <= c and (a, b, c, d) == (0, 140, 140, 170)
    assert [len(x) for x in t.train_x] == [b - a] and [len(x) for x in t.valid_x] == [d - c]
    whole = ds.read_window(0, 0, 200)[:, :, 0, 0]
    assert (t.valid_x[0] == whole[c:d, :4]).all()  # the validation inputs are frames c..d, nothing earlier


def test_a_dataset_too_short_for_any_window_is_refused_by_name(tmp_path):
    from fieldcast.training.config import RecipeError

    path = write_smoke_dataset(tmp_path / "short.h5", n_traj=1, n_frames=4)
    with pytest.raises(RecipeError, match=r"short\.h5.*no training windows"):
        build("field_rollout", path, {"rollout": {"steps": 3}})


def test_normalisation_comes_from_the_training_frames_of_a_time_split(tmp_path):
    from fieldcast.engine.data.stats import iter_compute_stats

    path = write_smoke_dataset(tmp_path / "one.h5", n_traj=1, n_frames=20)
    trainer = build("field_rollout", path, {})
    job = iter_compute_stats(trainer.dataset, trainer.dataset.split_segments("train"))
    try:
        while True:
            next(job)
    except StopIteration as stop:
        expected = stop.value
    assert math.isclose(trainer.dataset.stats["mean"][0], expected["mean"][0], rel_tol=1e-5)
