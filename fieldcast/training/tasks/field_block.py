"""Field block: the next ``K`` states from the current one and the controls, in one call.

Where the field rollout task advances one frame per model call, this task trains a model whose output holds
the state at ``t+1 ... t+K`` (``K`` = ``rollout.steps``), frame-major: output channel ``k * C + c`` is state
channel ``c`` at ``t+k+1``. One call then stands in for ``K`` solver increments, and nothing is fed back
inside the block. A training item starts at any frame ``t`` of a split segment; the targets past the
segment's end (frames the split keeps out of training) are masked out of the loss, so every start is used
and no frame beyond the split is ever seen.

With ``rollout.residual`` the model predicts the change of the state from ``t`` to each ``t+k``, scaled by
the train-split standard deviation of that change (it grows with ``k``), so each output starts from
persistence at unit scale. The loss is the recipe's MAE/MSE of those scaled errors over the unmasked
targets, each output frame weighing the same (a frame late in the block is reached from fewer starts, so a
plain mean would leave it barely trained). Validation reports it beside persistence (the current state
copied to all ``K`` frames) and the mean absolute error of the first frame and of all frames in the
state's units (``mae_first/<channel>``, ``mae_block/<channel>``).

The data are read once into memory (the state and control channels of each segment), which suits the
datasets this is meant for (tens of thousands of small frames).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fieldcast.training.datasets import normalisation
from fieldcast.training.models import build_model
from fieldcast.training.rollout import build_layout
from fieldcast.training.tasks.base import Task, batches_of, register_task

__all__ = ["BlockStep", "FieldBlockTask"]

_MAX_BYTES = 4 << 30  # in-memory copy of the training data


class BlockStep(nn.Module):
    """``K`` states at once in physical units: normalise the input, run the model, de-normalise each frame.

    ``out_mean`` / ``out_std`` hold one value per output channel (``K * C``, frame-major). With ``residual``
    the output is ``state(t) + z * out_std`` (``out_std`` the scale of the change to each frame).
    """

    def __init__(
        self, model: nn.Module, in_mean, in_std, out_mean, out_std, state_channels: int, residual: bool
    ) -> None:
        super().__init__()
        self.model = model
        self.residual = bool(residual)
        self.state_channels = int(state_channels)
        self.register_buffer("in_mean", torch.as_tensor(in_mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("in_std", torch.as_tensor(in_std, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("out_mean", torch.as_tensor(out_mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("out_std", torch.as_tensor(out_std, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def increments(self) -> int:
        return self.out_std.shape[1] // self.state_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model((x - self.in_mean) / self.in_std)  # (B, K*C, nx, ny), normalised units
        if not self.residual:
            return z * self.out_std + self.out_mean
        state = x[:, : self.state_channels].repeat(1, self.increments, 1, 1)  # (B, K*C, nx, ny)
        return state + z * self.out_std


class _Blocks(torch.utils.data.Dataset):
    """Items ``(x (C_in, nx, ny), target (K*C, nx, ny), valid (K*C,))`` from in-memory segments."""

    def __init__(self, segments: list[tuple[np.ndarray, np.ndarray]], starts: list[tuple[int, int]], k: int):
        self.segments, self.starts, self.k = segments, starts, k

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int):
        seg, t = self.starts[i]
        states, controls = self.segments[seg]  # (T, C, nx, ny), (C_ctrl, nx, ny)
        n_frames, c = states.shape[:2]
        avail = min(self.k, n_frames - 1 - t)
        target = np.zeros((self.k, *states.shape[1:]), np.float32)
        target[:avail] = states[t + 1 : t + 1 + avail]
        valid = np.zeros((self.k, c), np.float32)
        valid[:avail] = 1.0
        x = np.concatenate([states[t], controls])
        return (
            torch.from_numpy(x),
            torch.from_numpy(target.reshape(self.k * c, *states.shape[2:])),
            torch.from_numpy(valid.reshape(-1)),
        )


@register_task
class FieldBlockTask(Task):
    name = "field_block"

    def __init__(self, recipe, dataset) -> None:
        super().__init__(recipe, dataset)
        r = recipe
        try:
            self.layout = build_layout(
                self.spec, dataset.channel_names, None, None, (), r.data.state_channels
            )
        except ValueError as exc:
            raise self.fail(str(exc)) from exc
        if self.layout.history != 1:
            raise self.fail(
                f"the field block task needs a system with history 1 (this one has {self.layout.history})"
            )
        self.k = int(r.rollout.steps)
        if not 1 <= self.k <= 1000:
            raise self.fail(f"rollout.steps (frames per call) must be 1 to 1000, got {self.k}")
        train = self._load("train")
        valid = self._load("valid")
        if not train[1]:
            raise self.fail("no training segment of two frames or more")
        rng = np.random.default_rng(r.train.seed)
        train_starts = train[1][: r.data.max_train_windows]
        valid_starts = [valid[1][i] for i in rng.permutation(len(valid[1]))][: r.data.max_valid_windows]
        self.norm = self._normalisation(train[0])
        self.train_set = _Blocks(train[0], train_starts, self.k)
        self.valid_set = _Blocks(valid[0], valid_starts, self.k)
        c = len(self.layout.state)
        self.inv_scale = 1.0 / torch.tensor(self.norm["out_std"], dtype=torch.float32).view(1, -1, 1, 1)
        self._c = c

    def _load(self, split: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[int, int]]]:
        """State and control channels of each segment of ``split`` (two frames or more), and the starts."""
        ds, lay = self.dataset, self.layout
        segments = [(t, a, b) for t, a, b in ds.split_segments(split) if b - a >= 2]
        nx, ny = ds.grid
        need = sum((b - a) * len(lay.state) + len(lay.controls) for _, a, b in segments) * nx * ny * 4
        if need > _MAX_BYTES:
            raise self.fail(
                f"the {split} split needs {need / 2**30:.1f} GiB in memory, over {_MAX_BYTES >> 30} GiB"
            )
        out, starts = [], []
        for traj, a, b in segments:
            window = ds.read_window(traj, a, b - a)  # (T, C, nx, ny)
            states = np.ascontiguousarray(window[:, list(lay.state)], np.float32)
            controls = np.ascontiguousarray(window[0, list(lay.controls)], np.float32)
            starts += [(len(out), t) for t in range(b - a - 1)]
            out.append((states, controls))
        return out, starts

    def _normalisation(self, segments) -> dict[str, Any]:
        """Input stats from the train split; the spread of the change to each frame from the segments."""
        norm = normalisation(self.dataset.stats, self.layout)
        c, k = len(self.layout.state), self.k
        sums = np.zeros((k, c))
        counts = np.zeros(k)
        for states, _ in segments:
            n = states.shape[0]
            for j in range(1, min(k, n - 1) + 1):
                d = states[j:] - states[:-j]  # (n-j, C, nx, ny)
                sums[j - 1] += (d.astype(np.float64) ** 2).mean(axis=(2, 3)).sum(axis=0)
                counts[j - 1] += n - j
        rms = np.sqrt(sums / np.maximum(counts, 1)[:, None])
        state_std = np.asarray(norm["out_std"], np.float64)
        rms = np.where(counts[:, None] > 0, rms, state_std[None])  # frames no segment reaches
        rms = np.maximum(rms, 1e-6 * np.maximum(state_std[None], 1e-6))
        names = self.layout.output_names()
        residual = self.recipe.rollout.residual
        norm.update(
            out_mean=np.tile(norm["out_mean"], k).tolist() if not residual else [0.0] * (k * c),
            out_std=(rms.reshape(-1) if residual else np.tile(state_std, k)).tolist(),
            state_std=state_std.tolist(),
            output_names=[f"{n}@t+{j + 1}" for j in range(k) for n in names],
            state_names=names,
        )
        return norm

    def build_model(self) -> nn.Module:
        args = {
            **self.recipe.model.args,
            "in_channels": self.layout.in_channels,
            "out_channels": self.k * len(self.layout.state),
        }
        return build_model(self.recipe.model.name, args)

    def wrap(self, model: nn.Module) -> nn.Module:
        n = self.norm
        return BlockStep(
            model,
            n["in_mean"],
            n["in_std"],
            n["out_mean"],
            n["out_std"],
            self._c,
            self.recipe.rollout.residual,
        )

    def prepare(self, batch, flips: list[bool]):
        if not (self.recipe.data.flip_x and any(flips)):
            return batch
        x, target, valid = batch
        sel = torch.tensor(flips)
        x, target = x.clone(), target.clone()
        x[sel] = x[sel].flip(-2)
        target[sel] = target[sel].flip(-2)
        return x, target, valid

    def _terms(self, pred, target, valid) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """MAE / MSE of the scaled errors, each output channel weighing the same: a late frame is scored
        from few starts (only those early enough to reach it), so a plain mean over the scored targets
        would leave it barely trained."""
        inv = self.inv_scale.to(pred.device)
        mask = valid[:, :, None, None]  # (B, K*C, 1, 1)
        err = (pred - target) * inv
        count = mask.sum(dim=0).flatten() * pred.shape[-1] * pred.shape[-2]  # (K*C,) scored cells
        scored = count > 0
        n = scored.sum().clamp(min=1)

        def channel_mean(values: torch.Tensor) -> torch.Tensor:
            per = (values * mask).sum(dim=(0, 2, 3))  # (K*C,)
            return (per[scored] / count[scored]).sum() / n

        mae = channel_mean(err.abs())
        mse = channel_mean(err.square())
        loss_cfg = self.recipe.loss
        total = loss_cfg.mae * mae + loss_cfg.mse * mse
        return total, {"mae": mae.detach(), "mse": mse.detach()}

    def loss(self, module, batch):
        x, target, valid = batch
        return self._terms(module(x), target, valid)

    def has_validation(self) -> bool:
        return len(self.valid_set) > 0

    @torch.no_grad()
    def validate(self, module, device) -> dict[str, float]:
        module.eval()
        c, k = self._c, self.k
        names = self.layout.output_names()
        sums: dict[str, float] = {}
        n = 0
        items = list(range(len(self.valid_set)))
        for idx in batches_of(items, self.recipe.data.batch_size, self.recipe.train.val_max_batches):
            x, target, valid = (
                torch.stack(t).to(device) for t in zip(*[self.valid_set[i] for i in idx], strict=True)
            )
            pred = module(x)
            loss, _ = self._terms(pred, target, valid)
            still = x[:, :c].repeat(1, k, 1, 1)
            persistence, _ = self._terms(still, target, valid)
            err = (pred - target).abs() * valid[:, :, None, None]
            per_frame = err.view(len(idx), k, c, *err.shape[-2:])
            mask = valid.view(len(idx), k, c)
            cells = err.shape[-1] * err.shape[-2]
            record = {"loss": float(loss), "persistence_loss": float(persistence)}
            for j, name in enumerate(names):
                first = per_frame[:, 0, j].mean(dim=(-1, -2))  # every item has its first frame
                record[f"mae_first/{name}"] = float(first.mean())
                record[f"mae_block/{name}"] = float(
                    per_frame[:, :, j].sum() / (mask[:, :, j].sum() * cells).clamp(min=1.0)
                )
            for key, value in record.items():
                sums[key] = sums.get(key, 0.0) + value
            n += 1
        module.train()
        return {key: value / max(n, 1) for key, value in sums.items()}

    def sidecar(self) -> dict[str, Any]:
        ds = self.dataset
        return {
            "history": 1,
            "increments": self.k,
            "grid": list(getattr(ds, "grid", ())),
            "dt": getattr(ds, "dt", None),
            "normalisation": self.norm,
        }

    def describe(self) -> str:
        return (
            f"{len(self.train_set)} training and {len(self.valid_set)} validation starts, "
            f"{self.k} frames predicted per call"
        )
