"""Field rollout: the next state from the last ``history`` states and the controls, K-step curriculum.

A training item is a window of ``history + steps`` frames ``(L, C, nx, ny)`` in physical units. The model
(UNet family) is wrapped in :class:`~fieldcast.training.rollout.RolloutModule`, which rolls ``steps``
frames forward re-imposing the controls after each step; the loss weighs step ``k`` by ``gamma**k``.
Validation scores the same K-step loss, the per-channel error of the first step, the system's physics
metrics and, beside them, persistence (the last state copied forward) on the same frames.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fieldcast.training.datasets import WindowDataset, flip_x, normalisation
from fieldcast.training.losses import LossComposer
from fieldcast.training.models import build_model
from fieldcast.training.rollout import RolloutModule, SurrogateStep, build_layout, rollout_weights
from fieldcast.training.tasks.base import Samples, Task, batches_of, register_task
from fieldcast.training.validation import rollout_loss, rollout_test, validate

__all__ = ["FieldRolloutTask"]


@register_task
class FieldRolloutTask(Task):
    name = "field_rollout"

    def __init__(self, recipe, dataset) -> None:
        super().__init__(recipe, dataset)
        r = recipe
        try:
            self.layout = build_layout(
                self.spec,
                dataset.channel_names,
                r.data.history_channels,
                r.rollout.solid_mask,
                r.rollout.nonnegative,
                r.data.state_channels,
            )
        except ValueError as exc:
            raise self.fail(str(exc)) from exc
        if self.layout.history > dataset.n_frames - 1:
            raise self.fail(f"history {self.layout.history} needs more frames than the {dataset.n_frames}")
        self._check_frames(dataset)
        self.norm = normalisation(dataset.stats, self.layout)
        length = self.layout.history + r.rollout.steps
        self.train_set = WindowDataset(
            dataset, "train", length + r.rollout.warmup, r.data.max_train_windows, r.data.oversample_start
        )
        self.valid_set = WindowDataset(dataset, "valid", length, r.data.max_valid_windows)
        if len(self.train_set) == 0:
            raise self.fail(f"no training windows of {length} frames ({dataset.split_note})")
        self.weights = rollout_weights(r.rollout.steps, r.rollout.gamma)
        self.composer = LossComposer(r.loss, self.layout, torch.tensor(self.norm["out_std"]))

    def _check_frames(self, dataset) -> None:
        """A model that advances several solver frames per call needs data stored that many frames apart."""
        frames = self.recipe.model.args.get("frames")
        data_dt = getattr(dataset, "dt", None)
        if frames is None or not data_dt or self.spec.time_units != "frame":
            return
        if abs(data_dt - float(frames)) > 1e-6:
            raise self.fail(
                f"the model advances {frames} frames per step but the data's frames are {data_dt:g} "
                f"frames apart (generate it with --set stride={frames})"
            )

    def build_model(self) -> nn.Module:
        args = {
            **self.recipe.model.args,
            "in_channels": self.layout.in_channels,
            "out_channels": self.layout.out_channels,
        }
        return build_model(self.recipe.model.name, args)

    def wrap(self, model: nn.Module) -> nn.Module:
        n, r = self.norm, self.recipe
        step = SurrogateStep(
            model, n["in_mean"], n["in_std"], n["out_mean"], n["out_std"], residual=r.rollout.residual
        )
        return RolloutModule(step, self.layout, r.rollout.input_noise)

    def _on(self, device: torch.device) -> None:
        if self.weights.device != device:
            self.weights = self.weights.to(device)
            self.composer = self.composer.to(device)

    def prepare(self, batch: torch.Tensor, flips: list[bool]) -> torch.Tensor:
        return flip_x(batch, flips, self.layout) if self.recipe.data.flip_x else batch

    def loss(self, module, batch):
        self._on(batch.device)
        r = self.recipe
        if r.rollout.warmup:
            batch = self._pushed_forward(module, batch, int(torch.randint(0, r.rollout.warmup + 1, ())))
        total, terms, _ = rollout_loss(
            module, batch, self.composer, r.rollout.steps, self.weights, r.rollout.truncate
        )
        return total, terms

    def _pushed_forward(self, module, batch: torch.Tensor, warmup: int) -> torch.Tensor:
        """``batch`` from frame ``warmup`` on, its starting states replaced by the model's own prediction
        of them from the batch's first frames (no gradient); controls and scored targets stay the data's."""
        length = self.layout.history + self.recipe.rollout.steps
        if warmup == 0:
            return batch[:, :length]
        h, state = self.layout.history, list(self.layout.state)
        with torch.no_grad():
            preds = module(batch[:, : h + warmup], warmup, True)  # (B, warmup, Cs, nx, ny)
        starts = torch.cat([batch[:, :h, state], preds], dim=1)[:, -h:]  # the last h states before scoring
        out = batch[:, warmup : warmup + length].clone()
        out[:, :h, state] = starts
        return out

    def has_validation(self) -> bool:
        return len(self.valid_set) > 0

    def _valid_batches(self):
        items = list(range(len(self.valid_set)))
        for idx in batches_of(items, self.recipe.data.batch_size, self.recipe.train.val_max_batches):
            yield torch.stack([self.valid_set[i] for i in idx])

    @torch.no_grad()
    def validate(self, module, device) -> dict[str, float]:
        self._on(device)
        r = self.recipe
        metrics = validate(
            module,
            self._valid_batches(),
            self.composer,
            r.rollout.steps,
            self.weights,
            self.spec.metrics,
            device,
        )
        metrics["persistence_loss"] = self._persistence(device)
        return metrics

    def _persistence(self, device) -> float:
        """The same K-step loss when every predicted frame is the last known state."""
        lay, r = self.layout, self.recipe
        total, n = 0.0, 0
        for window in self._valid_batches():
            window = window.to(device)
            last = window[:, lay.history - 1, list(lay.state)]
            loss = window.new_zeros(())
            for k in range(r.rollout.steps):
                t = lay.history + k
                loss_k, _ = self.composer(
                    last, window[:, t, list(lay.state)], last, window[:, t, list(lay.controls)]
                )
                loss = loss + self.weights[k] * loss_k
            total, n = total + float(loss), n + 1
        return total / max(n, 1)

    def samples(self, module, device) -> Samples | None:
        r = self.recipe
        if not r.train.rollout_test_every:
            return None
        result, truth, pred = rollout_test(
            module,
            self.dataset,
            r.train.rollout_horizons,
            r.train.rollout_test_trajectories,
            self.composer.inv_std,
            device,
        )
        return result, truth, pred, tuple(self.layout.output_names())

    def sidecar(self) -> dict[str, Any]:
        ds = self.dataset
        return {
            "history": self.layout.history,
            "grid": list(getattr(ds, "grid", ())),
            "dt": getattr(ds, "dt", None),
            "normalisation": self.norm,
        }

    def describe(self) -> str:
        n = self.layout.history + self.recipe.rollout.steps + self.recipe.rollout.warmup
        return f"{len(self.train_set)} training and {len(self.valid_set)} validation windows of {n} frames"
