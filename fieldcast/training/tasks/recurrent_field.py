"""Recurrent field: a ConvLSTM that streams its state and is told the next frame of a driving field.

The melt microstructure surrogate is the model case: the 9 IPF channels of ``t+1`` from the IPF channels
and temperature of ``t`` and the temperature of ``t+1`` (which the thermal solver or surrogate supplies).
Generally: ``state`` channels (predicted) and ``condition`` channels (given at ``t`` and ``t+1``). The input
of one step is ``[state(t), condition(t), condition(t+1)]``.

A training item is a window of ``context + unroll`` frames, ``(L, Cc + Cs, nx, ny)`` with the condition
channels first. The ConvLSTM starts from zero and steps through the true frames (teacher forcing); the
last ``unroll`` predictions are scored. Where the system states a ``solidus`` and ``liquidus`` (in the
spec's ``extra``), the first condition channel is a temperature: the loss is the MSE on cells solid at
``t+1`` plus an MSE weighted towards the mushy range, and validation reports the error inside the
solidification front; persistence (state ``t+1`` = state ``t``) is scored on the same cells in the same pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fieldcast.training.melt_eval import FrontScore, solid_mask
from fieldcast.training.models import build_model, get_family
from fieldcast.training.tasks.base import Samples, Task, batches_of, register_task

__all__ = ["RecurrentFieldTask", "RecurrentStep", "RecurrentWindow", "run_window", "solidification_weights"]

_LOSS_WINDOWS = 16  # validation windows whose loss the saved samples of a validation record


def solidification_weights(t_next: torch.Tensor, solidus: float, liquidus: float, width: float = 0.1):
    """exp(-((T* - 0.5)**2) / width) with T* = (T - solidus) / (liquidus - solidus): peaks mid mushy range."""
    t_star = (t_next - solidus) / (liquidus - solidus)
    return torch.exp(-((t_star - 0.5) ** 2) / width)


class RecurrentStep(nn.Module):
    """The recurrent model with its normalisation: physical units in and out, state passed through."""

    def __init__(self, model: nn.Module, norm: dict[str, list[float]]) -> None:
        super().__init__()
        self.model = model
        for key in ("in_mean", "in_std", "out_mean", "out_std"):
            self.register_buffer(key, torch.tensor(norm[key], dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z, *new = self.model((x - self.in_mean) / self.in_std, *states)
        return (z * self.out_std + self.out_mean, *new)


class RecurrentWindow(nn.Module):
    """A whole teacher-forced window as one forward, so DistributedDataParallel sees one per backward."""

    def __init__(self, step: RecurrentStep, n_cond: int, first: int) -> None:
        super().__init__()
        self.step, self.n_cond, self.first = step, n_cond, first

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        """``window`` (B, L, Cc + Cs, H, W) -> predictions of frames ``first ..`` (B, L - first, Cs, H, W)."""
        return torch.stack(run_window(self.step, window, self.n_cond, self.first), dim=1)


class _Windows(torch.utils.data.Dataset):
    """Windows ``(L, Cc + Cs, nx, ny')`` of one split, read lazily (condition channels first)."""

    def __init__(self, dataset: Any, split: str, length: int, channels: list[int], crop, limit) -> None:
        self.dataset, self.length, self.channels, self.crop = dataset, length, channels, crop
        self.index = list(dataset.windows(split, length))[:limit]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        traj, start = self.index[i]
        w = self.dataset.read_window(traj, start, self.length)[:, self.channels]
        if self.crop:
            w = w[..., -self.crop :]  # the top rows: y points up
        return torch.from_numpy(np.ascontiguousarray(w))


def run_window(step: nn.Module, window: torch.Tensor, n_cond: int, first: int) -> list[torch.Tensor]:
    """Step ``step`` through ``window`` (B, L, Cc + Cs, H, W) from a zero state (teacher forcing).

    Returns the physical state predictions for frames ``first .. L-1``, each (B, Cs, H, W).
    """
    states: list[torch.Tensor] = []
    preds = []
    for s in range(window.shape[1] - 1):
        now, nxt = window[:, s], window[:, s + 1]
        x = torch.cat([now[:, n_cond:], now[:, :n_cond], nxt[:, :n_cond]], dim=1)  # (B, Cs + 2 Cc, H, W)
        y, *states = step(x, *states)
        if s + 1 >= first:
            preds.append(y)
    return preds


@register_task
class RecurrentFieldTask(Task):
    name = "recurrent_field"

    def __init__(self, recipe, dataset) -> None:
        super().__init__(recipe, dataset)
        rc, names = recipe.recurrent, list(dataset.channel_names)
        self.cond_names = list(rc.condition_channels)
        wanted = recipe.data.state_channels or self.spec.channel_names("state")
        self.state_names = [n for n in wanted if n not in self.cond_names]
        for n in self.cond_names + self.state_names:
            if n not in names:
                raise self.fail(f"channel {n!r} is not one of {', '.join(names)}")
        if not self.state_names or not self.cond_names:
            raise self.fail("a recurrent field model needs state channels and condition channels")
        self.n_cond = len(self.cond_names)
        self.index = [names.index(n) for n in self.cond_names + self.state_names]
        extra = self.spec.extra or {}
        self.solidus, self.liquidus = extra.get("solidus"), extra.get("liquidus")
        self.monitor = "front_mse" if self.liquidus is not None else "mse"
        length = rc.context + rc.unroll
        d = recipe.data
        self.train_set = _Windows(dataset, "train", length, self.index, rc.crop_rows, d.max_train_windows)
        self.valid_set = _Windows(dataset, "valid", length, self.index, rc.crop_rows, d.max_valid_windows)
        if len(self.train_set) == 0:
            raise self.fail(f"no training windows of {length} frames ({dataset.split_note})")
        stats = dataset.stats
        mean = np.asarray(stats["mean"], np.float64)[self.index]
        std = np.maximum(np.asarray(stats["std"], np.float64)[self.index], 1e-6)
        m, s, c = mean.tolist(), std.tolist(), self.n_cond
        self.norm = {
            "in_mean": m[c:] + m[:c] + m[:c],
            "in_std": s[c:] + s[:c] + s[:c],
            "out_mean": m[c:],
            "out_std": s[c:],
            "input_names": self.state_names + self.cond_names + [f"{n}@t+1" for n in self.cond_names],
            "output_names": list(self.state_names),
        }

    def build_model(self) -> nn.Module:
        args = {
            **self.recipe.model.args,
            "in_channels": len(self.norm["input_names"]),
            "out_channels": len(self.state_names),
        }
        fields = {
            f for f in getattr(get_family(self.recipe.model.name).config_cls, "__dataclass_fields__", {})
        }
        if "temperature_channels" in fields:
            args["temperature_channels"] = self.n_cond
        return build_model(self.recipe.model.name, args)

    def wrap(self, model: nn.Module) -> nn.Module:
        return RecurrentWindow(RecurrentStep(model, self.norm), self.n_cond, self.recipe.recurrent.context)

    def loss(self, module, batch):
        rc, first = self.recipe.recurrent, self.recipe.recurrent.context
        preds = module(batch).unbind(1)
        total = batch.new_zeros(())
        terms = {"mse": batch.new_zeros(())}
        inv = 1.0 / torch.tensor(self.norm["out_std"], device=batch.device).view(1, -1, 1, 1)
        for k, pred in enumerate(preds):
            target = batch[:, first + k]  # (B, Cc + Cs, H, W)
            if self.liquidus is None:
                mse = (((pred - target[:, self.n_cond :]) * inv) ** 2).mean()  # normalised units
                total = total + self.recipe.loss.mse * mse
            else:
                err = (pred - target[:, self.n_cond :]) ** 2  # IPF-like channels, unitless in [0, 1]
                t_next = target[:, 0]
                solid = solid_mask(t_next, self.liquidus).unsqueeze(1)  # (B, 1, H, W)
                mse = (err * solid).sum() / (solid.sum() * err.shape[1]).clamp_min(1.0)
                w = solidification_weights(t_next, self.solidus, self.liquidus, rc.width).unsqueeze(1) * solid
                weighted = (err * w).sum() / (w.sum() * err.shape[1]).clamp_min(1e-6)
                total = total + self.recipe.loss.mse * mse + rc.solidification * weighted
            terms["mse"] = terms["mse"] + mse.detach() / len(preds)
        return total / len(preds), terms

    def has_validation(self) -> bool:
        return len(self.valid_set) > 0

    @torch.no_grad()
    def validate(self, module, device) -> dict[str, float]:
        first, c = self.recipe.recurrent.context, self.n_cond
        score, sums = FrontScore(), {"mse": 0.0, "persistence_mse": 0.0, "n": 0.0}
        items = list(range(len(self.valid_set)))
        for idx in batches_of(items, self.recipe.data.batch_size, self.recipe.train.val_max_batches):
            w = torch.stack([self.valid_set[i] for i in idx]).to(device)
            for k, pred in enumerate(module(w).unbind(1)):
                t = first + k
                if self.liquidus is not None:
                    pred = pred * solid_mask(w[:, t, 0], self.liquidus).unsqueeze(1)  # liquid: no orientation
                    # Persistence keeps each cell's last orientation in the window (before it melted).
                    last = w[:, 0, c:]
                    for j in range(1, t):
                        last = torch.where((w[:, j, c:] != 0).any(dim=1, keepdim=True), w[:, j, c:], last)
                    score.add(
                        pred, w[:, t, c:], w[:, t - 1, c:], w[:, t, 0], self.liquidus, {"persistence": last}
                    )
                else:
                    sums["mse"] += float(((pred - w[:, t, c:]) ** 2).mean())
                    sums["persistence_mse"] += float(((w[:, t - 1, c:] - w[:, t, c:]) ** 2).mean())
                    sums["n"] += 1
        if self.liquidus is not None:
            out = score.result()
        else:
            n = max(sums.pop("n"), 1.0)
            out = {k: v / n for k, v in sums.items()}
        out["loss"] = out[self.monitor]
        return out

    @torch.no_grad()
    def samples(self, module, device) -> Samples | None:
        if len(self.valid_set) == 0:
            return None
        # more windows than are shown, so the saved samples carry a per-sample loss distribution
        n = min(max(self.recipe.train.n_samples, _LOSS_WINDOWS), len(self.valid_set))
        truth, pred = [], []
        for batch in batches_of(list(range(n)), max(1, self.recipe.data.batch_size)):
            w = torch.stack([self.valid_set[i] for i in batch]).to(device)
            truth.append(w[:, -1, self.n_cond :].cpu().numpy())
            pred.append(module(w)[:, -1].cpu().numpy())  # (B, unroll, Cs, H, W) -> last step
        return {}, np.concatenate(truth), np.concatenate(pred), tuple(self.state_names)

    def sidecar(self) -> dict[str, Any]:
        rc, grid = self.recipe.recurrent, list(self.dataset.grid)
        if rc.crop_rows:
            grid[-1] = min(grid[-1], rc.crop_rows)
        return {
            "kind": "recurrent-field",
            "history": 1,
            "grid": grid,
            "dt": self.dataset.dt,
            "normalisation": self.norm,
            "state_channels": self.state_names,
            "condition_channels": self.cond_names,
            "context": rc.context,
            "solidus": self.solidus,
            "liquidus": self.liquidus,
        }

    def describe(self) -> str:
        n = self.recipe.recurrent.context + self.recipe.recurrent.unroll
        return f"{len(self.train_set)} training and {len(self.valid_set)} validation windows of {n} frames"
