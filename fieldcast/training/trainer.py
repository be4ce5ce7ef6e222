"""The trainer: one generator that trains a stage, yielding events and honouring a cancel token.

It is the one loop of Fieldcast (the only ``optimizer.step()``): devices, mixed precision, DDP, checkpoints,
exact resume, schedules, early stopping, live learning rate, non-finite stop and out-of-memory back-off are
here, for every model kind. What differs between kinds (batches, loss, validation, what a checkpoint must
carry) is a task (:mod:`fieldcast.training.tasks`), chosen by the recipe's ``task``.

The CLI drives :meth:`Trainer.run` with a progress bar, the GUI runs it in a worker thread, tests iterate it.
Under ``torchrun`` the same loop runs on every rank with DistributedDataParallel; only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.training import state as tstate
from fieldcast.training.checkpoint import load_checkpoint
from fieldcast.training.config import Recipe, RecipeError
from fieldcast.training.datasets import epoch_plan
from fieldcast.training.devices import amp_settings, select_device
from fieldcast.training.distributed import DistContext
from fieldcast.training.events import DataEvent, EpochEvent, StepEvent
from fieldcast.training.schedule import LRSchedule, build_optimizer
from fieldcast.training.tasks import get_task

__all__ = ["Trainer", "TrainerControl"]


def _resolved_split(recipe: dict) -> str | list[float]:
    """The recipe value that reproduces a split in use: its time ratios, or the file's stored split."""
    return [float(x) for x in recipe["ratios"]] if recipe.get("method") == "time" else "stored"


def _is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError other backends (MPS, older CUDA) raise for it."""
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class TrainerControl:
    """Thread-safe requests to a running trainer, applied at its next optimizer step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lr: float | None = None

    def set_lr(self, lr: float) -> None:
        """Set a new base learning rate (the schedule keeps shaping it); recorded in metrics.jsonl."""
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        with self._lock:
            self._lr = float(lr)

    def take_lr(self) -> float | None:
        with self._lock:
            lr, self._lr = self._lr, None
        return lr


class Trainer(tstate.RunMixin):
    """Train one recipe stage on one dataset.

    Parameters
    ----------
    recipe : the resolved recipe of this stage.
    dataset : an engine dataset (``fieldcast.engine.data.open_dataset``).
    run_dir : the run folder rank 0 writes; None trains without writing anything.
    device : overrides ``train.device``.
    init_weights : a ``.safetensors`` checkpoint to start from (a curriculum parent's best).
    resume_from : a ``last.safetensors`` whose ``.pt`` state the run continues exactly.
    token, control : cancellation and live learning-rate changes.
    dist : this process's place under torchrun.
    """

    def __init__(
        self,
        recipe: Recipe,
        dataset: Any,
        run_dir: Path | None = None,
        *,
        device: str | None = None,
        init_weights: Path | None = None,
        resume_from: Path | None = None,
        token: CancelToken | None = None,
        control: TrainerControl | None = None,
        dist: DistContext | None = None,
    ) -> None:
        self.recipe, self.dataset = recipe, dataset
        self.dist = dist or DistContext()
        self.run_dir = Path(run_dir) if run_dir is not None and self.dist.is_main else None
        self.token, self.control = token or CancelToken(), control or TrainerControl()
        cfg = recipe.train
        self.device = select_device(device or cfg.device, self.dist.local_rank if self.dist.enabled else None)
        tstate.seed_everything(cfg.seed, cfg.deterministic)
        self._build_model(init_weights)
        self._build_data()
        self.optimizer = build_optimizer(self.module.parameters(), recipe.optim)
        self.schedule = LRSchedule(recipe.scheduler, recipe.optim.lr, self.total_steps)
        self.amp, self.amp_dtype, scaled = amp_settings(cfg.amp, cfg.amp_dtype, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=scaled)
        self.loop = tstate.LoopState()
        if resume_from is not None:
            self._restore(Path(resume_from))

    # ------------------------------------------------------------ setup

    def _build_model(self, init_weights: Path | None) -> None:
        r, ds = self.recipe, self.dataset
        if r.system not in (None, "auto", ds.spec.name):
            where = getattr(ds, "path", "the data")
            raise RecipeError(f"recipe {r.source}: system {r.system!r} but {where} is {ds.spec.name!r} data")
        if hasattr(ds, "use_split"):
            try:
                ds.use_split(r.data.split)
            except ValueError as exc:
                raise RecipeError(f"recipe {r.source}: key 'data.split': {exc}") from exc
        self.resolved_split = _resolved_split(ds.split_recipe) if hasattr(ds, "split_recipe") else None
        self.split_note = getattr(ds, "split_note", "")
        self.task = get_task(r.task)(r, ds)
        try:
            self.model = self.task.build_model()
        except (TypeError, ValueError) as exc:  # a model family this task cannot drive, e.g. an LSTM
            raise self.task.fail(f"model {r.model.name!r} does not fit task {r.task!r} ({exc})") from exc
        self.init_weights = init_weights
        if init_weights is not None:
            self.model.load_state_dict(load_checkpoint(init_weights)[0])
        self.module = self.task.wrap(self.model).to(self.device)
        self.train_module = self.module
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = DistributedDataParallel(self.module, device_ids=ids)

    def _build_data(self) -> None:
        self.train_set = self.task.train_set
        self._plan_steps()

    def _plan_steps(self) -> None:
        """Optimizer steps per epoch and in the stage, from the batch size and accumulation."""
        r = self.recipe
        per_rank = math.ceil(len(self.train_set) / self.dist.world_size)
        groups = math.ceil(math.ceil(per_rank / r.data.batch_size) / r.optim.accumulate)
        self.steps_per_epoch = groups
        total = groups * r.train.epochs
        self.total_steps = min(total, r.train.max_steps) if r.train.max_steps else total

    # ------------------------------------------------------------ the loop

    def run(self) -> Iterator[Any]:
        """Train to the end of the stage, yielding events; ends with one :class:`FinishedEvent`."""
        self._open_run()
        yield DataEvent(self.task.name, self.task.describe(), self.split_note)
        finished = None
        try:
            finished = yield from self._loop()
        finally:
            self._close_run(finished)

    def _loop(self) -> Iterator[Any]:
        cfg, lp = self.recipe.train, self.loop
        while lp.epoch < cfg.epochs:
            t0 = time.monotonic()
            batches = self._batches(lp.epoch, lp.group)
            while lp.group < self.steps_per_epoch:
                if self.dist.any(self.token.cancelled):
                    return (yield from self._finish("cancelled", "cancelled by the user"))
                try:
                    loss, parts = self._optimizer_step(batches)
                except (torch.OutOfMemoryError, RuntimeError) as exc:
                    if not _is_out_of_memory(exc):
                        raise
                    if self.recipe.data.batch_size <= 1:
                        return (yield from self._finish("failed", "out of memory even at batch size 1"))
                    yield from self._back_off(exc)
                    batches = self._batches(lp.epoch, lp.group)
                    continue
                if loss is None:
                    return (yield from self._finish("diverged", f"non-finite loss at step {lp.step + 1}"))
                lp.group, lp.step = lp.group + 1, lp.step + 1
                lp.epoch_loss += loss
                lp.epoch_steps += 1
                yield from self._after_step(loss, parts)
                if cfg.max_steps and lp.step >= cfg.max_steps:
                    return (yield from self._finish("completed", f"reached max_steps={cfg.max_steps}"))
            lp.epoch, lp.group = lp.epoch + 1, 0
            mean_loss = lp.epoch_loss / max(lp.epoch_steps, 1)
            lp.epoch_loss, lp.epoch_steps = 0.0, 0
            ev = EpochEvent(lp.epoch - 1, lp.step, mean_loss, self._lr(), time.monotonic() - t0)
            self._record(
                {"kind": "epoch", "epoch": ev.epoch, "step": ev.step, "train_loss": mean_loss, "lr": ev.lr}
            )
            yield ev
            stop = False
            if cfg.validate_every and lp.epoch % cfg.validate_every == 0:
                stop = yield from self._validate_epoch()
            yield from self._save("last")
            if stop:
                return (yield from self._finish("early_stopped", "validation stopped improving"))
        return (yield from self._finish("completed", ""))

    def _back_off(self, exc: BaseException) -> Iterator[Any]:
        """After an out-of-memory error: halve the batch, accumulate more to keep the effective batch.

        The failed step is retried from the same windows; the change is recorded in ``metrics.jsonl`` and
        in the sidecar's config (so a resume keeps the smaller batch) and told to the user.
        """
        r, lp = self.recipe, self.loop
        old_bs, old_acc = r.data.batch_size, r.optim.accumulate
        new_bs = max(1, old_bs // 2)
        r.data.batch_size, r.optim.accumulate = new_bs, old_acc * math.ceil(old_bs / new_bs)
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self._plan_steps()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = (
            f"out of memory at batch size {old_bs}: continuing with batch size {new_bs} "
            f"x {r.optim.accumulate} accumulated steps"
        )
        self._record(
            {
                "kind": "oom_backoff",
                "epoch": lp.epoch,
                "step": lp.step,
                "batch_size": new_bs,
                "accumulate": r.optim.accumulate,
                "previous_batch_size": old_bs,
                "error": first[:200],
            }
        )
        yield Progress("train", lp.step, self.total_steps, message)

    def _after_step(self, loss: float, parts: dict[str, float]) -> Iterator[Any]:
        lp, cfg = self.loop, self.recipe.train
        lr = self._lr()
        yield StepEvent(lp.epoch, lp.step, loss, lr, parts)
        yield Progress(
            "train", lp.step, self.total_steps, f"epoch {lp.epoch + 1}/{cfg.epochs} loss {loss:.4g}"
        )
        if cfg.log_every and lp.step % cfg.log_every == 0:
            self._record(
                {"kind": "step", "epoch": lp.epoch, "step": lp.step, "loss": loss, "lr": lr, **parts}
            )
        if cfg.checkpoint_every and lp.step % cfg.checkpoint_every == 0:
            yield from self._save("last")

    def _batches(self, epoch: int, start_group: int) -> Iterator[Any]:
        r = self.recipe
        plan = epoch_plan(
            len(self.train_set),
            r.data.batch_size,
            epoch,
            r.train.seed,
            self.dist.rank,
            self.dist.world_size,
            r.data.flip_x,
        )
        plan = plan[start_group * r.optim.accumulate :]
        collate = torch.utils.data.default_collate
        if r.data.num_workers > 0:
            loader = torch.utils.data.DataLoader(
                self.train_set, batch_sampler=[idx for idx, _ in plan], num_workers=r.data.num_workers
            )
            for batch, (_, flips) in zip(loader, plan, strict=True):
                yield self.task.prepare(batch, flips)
        else:
            for idx, flips in plan:
                yield self.task.prepare(collate([self.train_set[i] for i in idx]), flips)

    def _lr(self) -> float:
        return self.schedule.lr(self.loop.step)

    def _optimizer_step(self, batches: Iterator) -> tuple[float | None, dict[str, float]]:
        """One optimizer update over ``optim.accumulate`` micro-batches; (None, {}) on a non-finite loss."""
        r, lp = self.recipe, self.loop
        new_lr = self.control.take_lr()
        if new_lr is not None:
            self.schedule.base_lr = new_lr
            self._record({"kind": "lr_change", "epoch": lp.epoch, "step": lp.step, "base_lr": new_lr})
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr()
        self.optimizer.zero_grad(set_to_none=True)
        micro = [b for _, b in zip(range(r.optim.accumulate), batches, strict=False)]
        total, parts = 0.0, {}
        for i, batch in enumerate(micro):
            batch = self.task.to_device(batch, self.device)
            sync = self.dist.enabled and i < len(micro) - 1
            with self.train_module.no_sync() if sync else contextlib.nullcontext():
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                    loss, terms = self.task.loss(self.train_module, batch)
                value = self.dist.mean(loss.detach().float()).item()
                if not math.isfinite(value):
                    return None, {}
                self.scaler.scale(loss / len(micro)).backward()
            total += value / len(micro)
            for name, t in terms.items():
                parts[name] = parts.get(name, 0.0) + float(t) / len(micro)
        if r.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), r.optim.grad_clip)
            if not self.scaler.is_enabled() and self.dist.any(not math.isfinite(float(norm))):
                return None, {}
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return total, parts
