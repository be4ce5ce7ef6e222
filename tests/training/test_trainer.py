import json

import pytest
import torch

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.training import events as ev
from fieldcast.training.checkpoint import load_checkpoint
from fieldcast.training.config import load_recipe
from fieldcast.training.runs import Curriculum, read_status
from fieldcast.training.tracking import read_metrics
from fieldcast.training.trainer import Trainer, TrainerControl


def weights(path):
    return load_checkpoint(path)[0]


def test_a_run_yields_every_event_and_fills_its_folder(write_recipe, smoke_ds, tmp_path):
    recipe = load_recipe(write_recipe(changes={"train": {"epochs": 2}}))
    events = list(Trainer(recipe, smoke_ds, tmp_path / "run").run())
    kinds = {type(e) for e in events}
    assert {
        Progress,
        ev.StepEvent,
        ev.EpochEvent,
        ev.ValidationEvent,
        ev.SamplesEvent,
        ev.CheckpointEvent,
        ev.FinishedEvent,
    } <= kinds
    fin = events[-1]
    assert isinstance(fin, ev.FinishedEvent) and fin.status == "completed" and fin.step == 8
    val = next(e for e in events if isinstance(e, ev.ValidationEvent))
    assert {"loss", "mse/density", "divergence_norm", "collider_violation", "kinetic_energy"} <= set(
        val.metrics
    )
    assert sorted(val.rollout) == [3, 6]
    samples = next(e for e in events if isinstance(e, ev.SamplesEvent))
    assert samples.truth.shape == samples.prediction.shape == (1, 3, 16, 16) and samples.path.exists()
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {
        "config.yaml",
        "metrics.jsonl",
        "checkpoints",
        "samples",
        "run.json",
    }
    assert {p.name for p in (run / "checkpoints").iterdir()} == {
        f"{t}.{x}" for t in ("best", "last") for x in ("safetensors", "json")
    } | {"last.pt"}
    assert read_status(run)["status"] == "completed"
    kinds = [r["kind"] for r in read_metrics(run / "metrics.jsonl")]
    assert kinds[0] == "start" and kinds[-1] == "finished" and kinds.count("step") == 8


def _cancel_at(trainer, step):
    for event in trainer.run():
        if isinstance(event, ev.StepEvent) and event.step == step:
            trainer.token.cancel()
        last = event
    return last


@pytest.mark.parametrize(
    "changes,cancel_step",
    [
        ({}, 3),  # mid-epoch
        ({"optim": {"accumulate": 2}, "train": {"epochs": 3}}, 2),  # at an epoch boundary, with accumulation
    ],
)
def test_resume_equals_an_uninterrupted_run_bit_for_bit(
    write_recipe, smoke_ds, tmp_path, changes, cancel_step
):
    base = {
        "data": {"flip_x": True},
        "model": {"args": {"dropout": 0.2}},
        "train": {"epochs": 2, "seed": 3},
        "scheduler": {"name": "cosine_restarts", "restart_period": 3, "warmup_steps": 2},
    }
    recipe = load_recipe(
        write_recipe(changes={**base, **changes, "train": {**base["train"], **changes.get("train", {})}})
    )
    list(Trainer(recipe, smoke_ds, tmp_path / "a").run())
    fin = _cancel_at(Trainer(recipe, smoke_ds, tmp_path / "b", token=CancelToken()), cancel_step)
    assert fin.status == "cancelled" and fin.step == cancel_step
    assert read_status(tmp_path / "b")["status"] == "cancelled"
    last = tmp_path / "b" / "checkpoints" / "last.safetensors"
    resumed = list(Trainer(recipe, smoke_ds, tmp_path / "b", resume_from=last).run())
    assert resumed[-1].status == "completed"
    a, b = weights(tmp_path / "a/checkpoints/last.safetensors"), weights(last)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    opt_a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)["optimizer"]["state"]
    opt_b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)["optimizer"]["state"]
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(write_recipe, smoke_ds, tmp_path):
    recipe = load_recipe(write_recipe(changes={"train": {"epochs": 2, "checkpoint_every": 2}}))
    trainer = Trainer(recipe, smoke_ds, tmp_path / "run")
    forward = trainer.model.forward
    poisoned = {"on": False}
    trainer.model.forward = lambda x: forward(x) * (torch.nan if poisoned["on"] else 1.0)
    snapshot = None
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, ev.StepEvent) and event.step == 4:
            snapshot = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        if isinstance(event, ev.CheckpointEvent) and event.step == 4:
            poisoned["on"] = True  # the NaN arrives at step 5
    fin = events[-1]
    assert fin.status == "diverged" and fin.step == 4 and "step 5" in fin.message
    saved, sidecar = load_checkpoint(tmp_path / "run/checkpoints/last.safetensors")
    assert sidecar["step"] == 4 and all(torch.isfinite(v).all() for v in saved.values())
    assert all(torch.equal(saved[k], snapshot[k]) for k in saved)
    assert read_status(tmp_path / "run")["status"] == "diverged"


def test_k2_stage_starts_from_parent_best_and_parents_are_reused(write_recipe, tmp_path):
    write_recipe("tiny_k1", changes={"rollout": {"steps": 1}})
    k2 = write_recipe("tiny_k2", base={"parent": "tiny_k1", "rollout": {"steps": 2}})
    runs = tmp_path / "runs"
    events = list(Curriculum(k2, runs_dir=runs).run())
    stages = [(e.name, e.status) for e in events if isinstance(e, ev.StageEvent)]
    assert stages == [("tiny_k1", "start"), ("tiny_k1", "done"), ("tiny_k2", "start"), ("tiny_k2", "done")]
    parent_best = runs / "tiny_k1" / "checkpoints" / "best.safetensors"
    k2_start = next(e for e in events if isinstance(e, ev.StageEvent) and e.name == "tiny_k2")
    assert k2_start.init_from == parent_best
    start = next(read_metrics(runs / "tiny_k2" / "metrics.jsonl"))
    assert start["init_from"] == str(parent_best)
    recipe = load_recipe(k2)
    from fieldcast.engine.data import open_dataset

    trainer = Trainer(recipe, open_dataset(recipe.data.path), None, init_weights=parent_best)
    best = weights(parent_best)
    assert all(torch.equal(v, best[k]) for k, v in trainer.model.state_dict().items())
    again = [(e.name, e.status) for e in Curriculum(k2, runs_dir=runs).run() if isinstance(e, ev.StageEvent)]
    assert again[0] == ("tiny_k1", "reused") and (runs / "tiny_k2-2").is_dir()


def test_init_from_fine_tunes_a_finished_run_without_its_parents(write_recipe, tmp_path):
    from fieldcast.training.config import RecipeError

    write_recipe("tiny_k1", changes={"rollout": {"steps": 1}})
    k2 = write_recipe("tiny_k2", base={"parent": "tiny_k1", "rollout": {"steps": 2}})
    runs = tmp_path / "runs"
    list(Curriculum(write_recipe("tiny_k1", changes={"rollout": {"steps": 1}}), runs_dir=runs).run())
    other = tmp_path / "elsewhere"
    events = list(Curriculum(k2, runs_dir=other, init_from=runs / "tiny_k1").run())
    stages = [(e.name, e.status) for e in events if isinstance(e, ev.StageEvent)]
    assert stages == [("tiny_k2", "start"), ("tiny_k2", "done")]  # the parent is neither trained nor reused
    assert events[0].init_from == runs / "tiny_k1" / "checkpoints" / "best.safetensors"
    assert next(read_metrics(other / "tiny_k2" / "metrics.jsonl"))["init_from"] == str(events[0].init_from)
    with pytest.raises(RecipeError, match="not a run folder"):
        Curriculum(k2, runs_dir=other, init_from=tmp_path / "missing")
    with pytest.raises(RecipeError, match="one of them"):
        Curriculum(k2, runs_dir=other, init_from=runs / "tiny_k1", resume=other / "tiny_k2")


def test_live_lr_change_is_applied_and_recorded(write_recipe, smoke_ds, tmp_path):
    control = TrainerControl()
    trainer = Trainer(load_recipe(write_recipe()), smoke_ds, tmp_path / "run", control=control)
    lrs = []
    for event in trainer.run():
        if isinstance(event, ev.StepEvent):
            lrs.append(event.lr)
            if event.step == 1:
                control.set_lr(0.01)
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(0.01)
    changes = [r for r in read_metrics(tmp_path / "run/metrics.jsonl") if r["kind"] == "lr_change"]
    assert changes == [{**changes[0], "base_lr": 0.01, "step": 1}]
    with pytest.raises(ValueError):
        control.set_lr(-1.0)


def test_early_stopping_on_a_flat_validation_loss(write_recipe, smoke_ds):
    recipe = load_recipe(
        write_recipe(
            changes={
                "optim": {"lr": 0.0},
                "model": {"args": {"norm": "none"}},
                "train": {"epochs": 5, "early_stopping_patience": 1, "rollout_test_every": 0},
            }
        )
    )
    events = list(Trainer(recipe, smoke_ds, None).run())
    assert events[-1].status == "early_stopped" and events[-1].epoch == 2
    assert not any(isinstance(e, (ev.CheckpointEvent, ev.SamplesEvent)) for e in events)  # nothing written


def test_sidecar_carries_what_rebuilds_the_model(write_recipe, smoke_ds, tmp_path):
    list(Trainer(load_recipe(write_recipe()), smoke_ds, tmp_path / "run").run())
    side = json.loads((tmp_path / "run/checkpoints/best.json").read_text())
    assert side["model"]["name"] == "unet" and side["model"]["args"]["in_channels"] == 6
    assert side["normalisation"]["input_names"][3] == "density@t-1" and side["system"] == "smoke"
    assert side["data"]["hash"].startswith("sha256") and side["config"]["rollout"]["steps"] == 2
