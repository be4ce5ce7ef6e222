"""The trainer: one generator that trains a stage, yielding events and honouring a cancel token.

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
from fieldcast.training.datasets import WindowDataset, epoch_plan, flip_x, normalisation
from fieldcast.training.devices import select_device
from fieldcast.training.distributed import DistContext
from fieldcast.training.events import EpochEvent, StepEvent
from fieldcast.training.losses import LossComposer
from fieldcast.training.models import build_model
from fieldcast.training.rollout import RolloutModule, SurrogateStep, build_layout, rollout_weights
from fieldcast.training.schedule import LRSchedule, build_optimizer
from fieldcast.training.validation import rollout_loss

__all__ = ["Trainer", "TrainerControl"]


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
        self.amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loop = tstate.LoopState()
        if resume_from is not None:
            self._restore(Path(resume_from))

    # ------------------------------------------------------------ setup

    def _build_model(self, init_weights: Path | None) -> None:
        r, spec = self.recipe, self.dataset.spec
        if r.system and r.system != spec.name:
            raise RecipeError(f"recipe {r.source}: system {r.system!r} but the data is {spec.name!r}")
        try:
            self.layout = build_layout(
                spec,
                self.dataset.channel_names,
                r.data.history_channels,
                r.rollout.solid_mask,
                r.rollout.nonnegative,
                r.data.state_channels,
            )
        except ValueError as exc:
            raise RecipeError(f"recipe {r.source}: {exc}") from exc
        self.norm = normalisation(self.dataset.stats, self.layout)
        args = {
            **r.model.args,
            "in_channels": self.layout.in_channels,
            "out_channels": self.layout.out_channels,
        }
        self.model = build_model(r.model.name, args)
        self.init_weights = init_weights
        if init_weights is not None:
            self.model.load_state_dict(load_checkpoint(init_weights)[0])
        n = self.norm
        step = SurrogateStep(
            self.model, n["in_mean"], n["in_std"], n["out_mean"], n["out_std"], residual=r.rollout.residual
        )
        self.module = RolloutModule(step, self.layout, r.rollout.input_noise).to(self.device)
        self.train_module = self.module
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = DistributedDataParallel(self.module, device_ids=ids)
        self.composer = LossComposer(r.loss, self.layout, torch.tensor(n["out_std"])).to(self.device)
        self.weights = rollout_weights(r.rollout.steps, r.rollout.gamma).to(self.device)

    def _build_data(self) -> None:
        r = self.recipe
        length = self.layout.history + r.rollout.steps
        self.train_set = WindowDataset(self.dataset, "train", length, r.data.max_train_windows)
        self.valid_set = WindowDataset(self.dataset, "valid", length, r.data.max_valid_windows)
        if len(self.train_set) == 0:
            raise RecipeError(f"recipe {r.source}: the data has no training windows of {length} frames")
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

    def _batches(self, epoch: int, start_group: int) -> Iterator[tuple[torch.Tensor, list[bool]]]:
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
        if r.data.num_workers > 0:
            loader = torch.utils.data.DataLoader(
                self.train_set, batch_sampler=[idx for idx, _ in plan], num_workers=r.data.num_workers
            )
            yield from zip(loader, (flips for _, flips in plan), strict=True)
        else:
            for idx, flips in plan:
                yield torch.stack([self.train_set[i] for i in idx]), flips

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
        for i, (window, flips) in enumerate(micro):
            if r.data.flip_x:
                window = flip_x(window, flips, self.layout)
            window = window.to(self.device, non_blocking=True)
            sync = self.dist.enabled and i < len(micro) - 1
            with self.train_module.no_sync() if sync else contextlib.nullcontext():
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                    loss, terms, _ = rollout_loss(
                        self.train_module,
                        window,
                        self.composer,
                        r.rollout.steps,
                        self.weights,
                        r.rollout.truncate,
                    )
                value = self.dist.mean(loss.detach()).item()
                if not math.isfinite(value):
                    return None, {}
                self.scaler.scale(loss / len(micro)).backward()
            total += value / len(micro)
            for name, t in terms.items():
                parts[name] = parts.get(name, 0.0) + float(t) / len(micro)
        if r.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), r.optim.grad_clip)
            if not self.amp and self.dist.any(not math.isfinite(float(norm))):
                return None, {}
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return total, parts
