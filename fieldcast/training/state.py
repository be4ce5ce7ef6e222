"""The trainer's run-folder side: loop state, seeding, checkpoints, validation, metrics records.

Split from :mod:`fieldcast.training.trainer` so each file reads in one sitting; :class:`RunMixin` expects
the attributes :class:`~fieldcast.training.trainer.Trainer` sets up.
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fieldcast.engine.systems.base import spec_to_dict
from fieldcast.training import runs
from fieldcast.training.checkpoint import (
    atomic_write,
    data_fingerprint,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from fieldcast.training.events import CheckpointEvent, FinishedEvent, SamplesEvent, ValidationEvent
from fieldcast.training.tracking import Tracker

__all__ = ["LoopState", "RunMixin", "rng_state", "seed_everything", "set_rng_state"]


@dataclass
class LoopState:
    """Where the loop is: enough to continue exactly after a restart."""

    epoch: int = 0  # current (unfinished) epoch
    group: int = 0  # optimizer steps already done in this epoch
    step: int = 0  # optimizer steps done in the stage
    best: float | None = None  # best validation loss
    bad: int = 0  # validations since the best one
    epoch_loss: float = 0.0
    epoch_steps: int = 0
    saved_step: int = -1  # step of the last 'last' checkpoint


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, numpy and torch; in deterministic mode also forbid non-deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict[str, Any]:
    """All RNG states as types ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state(legacy=True)
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RunMixin:
    """Run folder, checkpoints, validation and records for the trainer."""

    # ------------------------------------------------------------ folder and records

    def _open_run(self) -> None:
        self.tracker = None
        if self.run_dir is None:
            return
        runs.prepare_run_dir(self.run_dir, self.recipe, split=self.resolved_split)
        runs.write_status(self.run_dir, "running", task=self.task.name, split=self.split_note)
        t = self.recipe.tracking
        self.tracker = Tracker(self.run_dir, t.tensorboard, t.mlflow, t.mlflow_experiment)
        self._record(
            {
                "kind": "start",
                "epoch": self.loop.epoch,
                "step": self.loop.step,
                "init_from": str(self.init_weights) if self.init_weights else None,
                "device": str(self.device),
                "world_size": self.dist.world_size,
            }
        )

    def _record(self, record: dict[str, Any]) -> None:
        if self.tracker is not None:
            self.tracker.write(record)

    def _close_run(self, finished: FinishedEvent | None) -> None:
        if self.run_dir is not None:
            status = finished.status if finished is not None else "failed"
            runs.write_status(self.run_dir, status, step=self.loop.step, epoch=self.loop.epoch)
        if self.tracker is not None:
            self.tracker.close()

    def _finish(self, status: str, message: str) -> Iterator[Any]:
        lp = self.loop
        if status in ("completed", "early_stopped", "cancelled") and lp.saved_step != lp.step:
            yield from self._save("last")
        if status in ("completed", "early_stopped") and self.run_dir is not None and lp.best is None:
            yield from self._save("best")  # no validation ran: the final weights are the best we know
        best = self.run_dir / "checkpoints" / "best.safetensors" if self.run_dir is not None else None
        best = best if best is not None and best.exists() else None
        self._record(
            {
                "kind": "finished",
                "epoch": lp.epoch,
                "step": lp.step,
                "status": status,
                "message": message,
                "best_metric": lp.best,
            }
        )
        ev = FinishedEvent(status, lp.epoch, lp.step, self.run_dir, best, lp.best, message)
        yield ev
        return ev

    # ------------------------------------------------------------ checkpoints

    def _sidecar(self) -> dict[str, Any]:
        ds = self.dataset
        spec = ds.spec
        return {
            "step": self.loop.step,
            "epoch": self.loop.epoch,
            "metric": self.loop.best,
            "monitor": self.task.monitor,
            "task": self.task.name,
            "system": spec.name,
            "spec": spec_to_dict(spec),
            "split": getattr(ds, "split_note", ""),
            **self.task.sidecar(),
            "config": runs.recipe_dict(self.recipe),
            "data": {"path": self.recipe.data.path, "hash": data_fingerprint(self.recipe.data.path)},
        }

    def _train_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "loop": dataclasses.asdict(self.loop),
            "rng": rng_state(),
        }

    def _save(self, tag: str) -> Iterator[Any]:
        if tag == "last":
            self.loop.saved_step = self.loop.step
        if self.run_dir is None:
            return
        folder = self.run_dir / "checkpoints"
        path = save_checkpoint(
            folder, tag, self.model, self._sidecar(), self._train_state() if tag == "last" else None
        )
        self._record({"kind": "checkpoint", "tag": tag, "epoch": self.loop.epoch, "step": self.loop.step})
        yield CheckpointEvent(tag, path, self.loop.epoch, self.loop.step)

    def _restore(self, weights: Path) -> None:
        model_state, sidecar = load_checkpoint(weights)
        state = load_train_state(weights.with_suffix(".pt"), expected_step=int(sidecar["step"]))
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.loop = LoopState(**state["loop"])
        set_rng_state(state["rng"])

    # ------------------------------------------------------------ validation

    def _validate_epoch(self) -> Iterator[Any]:
        """Validate, maybe show samples; returns True when early stopping says stop."""
        r, lp = self.recipe, self.loop
        if not self.task.has_validation():
            return False
        self.module.eval()
        try:
            metrics = self.task.validate(self.module, self.device)
            horizons = None
            if r.train.rollout_test_every and lp.epoch % r.train.rollout_test_every == 0:
                horizons = yield from self._samples()
        finally:
            self.module.train()
        value = metrics[self.task.monitor]
        improved = lp.best is None or value < lp.best - r.train.early_stopping_min_delta
        if improved:
            lp.best, lp.bad = value, 0
        else:
            lp.bad += 1
        if self.schedule.observe(value):
            self._record(
                {
                    "kind": "lr_change",
                    "epoch": lp.epoch,
                    "step": lp.step,
                    "lr": self._lr(),
                    "reason": "plateau",
                }
            )
        self._record(
            {
                "kind": "validation",
                "epoch": lp.epoch - 1,
                "step": lp.step,
                **metrics,
                "rollout": {str(k): v for k, v in (horizons or {}).items()},
            }
        )
        for record in self.task.artifacts(self.run_dir, lp.epoch - 1, lp.step):
            self._record({"epoch": lp.epoch - 1, "step": lp.step, **record})
        yield ValidationEvent(lp.epoch - 1, lp.step, metrics, horizons, improved)
        if improved:
            yield from self._save("best")
        patience = r.train.early_stopping_patience
        return bool(patience and lp.bad >= patience)

    def _samples(self) -> Iterator[Any]:
        lp = self.loop
        found = self.task.samples(self.module, self.device)
        if found is None:
            return None
        result, truth, pred, names = found
        if truth is None:
            return result
        n = self.recipe.train.n_samples
        path = None
        if self.run_dir is not None:
            path = self.run_dir / "samples" / f"epoch_{lp.epoch:04d}.npz"
            # every pair the task returned gives its loss (the distribution); the first n are kept to show
            err = (np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) ** 2
            losses = err.reshape(len(err), -1).mean(axis=1) if err.size else np.zeros(0)
            buf = io.BytesIO()
            np.savez_compressed(
                buf,
                truth=truth[:n],
                prediction=pred[:n],
                channels=np.array(names),
                losses=losses,
                step=np.int64(lp.step),
            )
            atomic_write(path, buf.getvalue())
        horizon = max(result) if result else 0
        yield SamplesEvent(lp.epoch - 1, lp.step, horizon, tuple(names), truth[:n], pred[:n], path)
        return result or None
