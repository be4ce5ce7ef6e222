"""Sequence: a streaming LSTM from per-sample input channels to target channels (the trajectory system).

The data are trajectories of samples ``(T, C, 1, 1)``: the inputs (for the printer, the reference motion
``x_ref, y_ref, vx_ref, vy_ref``) and the targets (the tracking error ``error_x, error_y``, µm). A training
item is a window of ``seq_len`` samples, normalised with train-split statistics; the first ``warmup``
samples only settle the zero initial state and carry no loss. The loss is the recipe's mix of MSE, MAE and
``hybrid`` (``alpha·MAE + (1-alpha)·MSE``).

With ``model.args.features`` naming an engine feature pipeline (``trajectory-physics/1``:
:mod:`fieldcast.engine.systems.trajectory.features`), every trajectory first goes through it: the network
reads the pipeline's features (same width as the raw channels, no absolute position) and learns the
residual of the pipeline's base (the printer's physics filter), so the prediction is physics plus a learned
correction. The same pipeline runs around the exported graph in the engine's sequence session.

Validation streams whole validation trajectories through the model from a zero state, exactly as the
exported streaming predictor runs, and reports the errors in the targets' units beside the zero predictor
(persistence of "no error") and, for two-axis targets, the fitted linear-filter baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fieldcast.engine.sequence_runtime import sequence_features
from fieldcast.engine.systems.trajectory.baseline import LinearBaseline, error_metrics
from fieldcast.training.losses import hybrid, mae, mse
from fieldcast.training.models import build_model
from fieldcast.training.tasks.base import Task, register_task

__all__ = ["SequenceTask", "model_features", "predict_stream"]


def model_features(model: nn.Module, input_names, dt: float):
    """The engine-side feature pipeline ``model`` was trained behind (its ``features`` argument), or None."""
    name = (getattr(model, "model_args", None) or {}).get("features") or ""
    return sequence_features(name, input_names, dt) if name else None


@torch.no_grad()
def predict_stream(model: nn.Module, inputs: np.ndarray, norm: dict, features=None) -> np.ndarray:
    """Targets (T, Co) in physical units for one whole trajectory (T, Ci), streamed from a zero state.

    ``features`` (see :func:`model_features`) turns the raw inputs into the network's features and a base
    that the network's output corrects; None feeds the raw inputs.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    raw = np.asarray(inputs, np.float64)
    base = 0.0
    if features is not None:
        raw, base = features.transform(raw)
    x = (raw - norm["in_mean"]) / norm["in_std"]
    y = model(torch.as_tensor(x, dtype=torch.float32, device=device)[None])[0].double().cpu().numpy()
    model.train(was_training)
    return y * np.asarray(norm["out_std"]) + np.asarray(norm["out_mean"]) + base


def _metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    if pred.shape[1] == 2:
        return error_metrics(pred, truth)
    res = pred - truth
    ss = float(np.sum((truth - truth.mean(axis=0)) ** 2))
    return {
        "mae": float(np.mean(np.abs(res))),
        "rmse": float(np.sqrt(np.mean(res**2))),
        "r2": 1.0 - float(np.sum(res**2)) / ss if ss > 0 else float("nan"),
    }


@register_task
class SequenceTask(Task):
    name = "sequence"

    def __init__(self, recipe, dataset) -> None:
        super().__init__(recipe, dataset)
        sc, names, extra = recipe.sequence, list(dataset.channel_names), self.spec.extra or {}
        self.input_names = list(sc.inputs or extra.get("inputs") or self.spec.channel_names("control"))
        self.target_names = list(sc.targets or extra.get("targets") or self.spec.channel_names("state"))
        for n in self.input_names + self.target_names:
            if n not in names:
                raise self.fail(f"channel {n!r} is not one of {', '.join(names)}")
        if not self.input_names or not self.target_names:
            raise self.fail("a sequence model needs input channels and target channels")
        if tuple(dataset.grid) != (1, 1):
            raise self.fail(f"a sequence model reads one sample per frame; the grid is {tuple(dataset.grid)}")
        self.train_x, self.train_y = self._read("train")
        self.valid_x, self.valid_y = self._read("valid")
        name = (recipe.model.args or {}).get("features") or ""
        try:
            self.features = sequence_features(name, self.input_names, dataset.dt) if name else None
        except ValueError as exc:
            raise self.fail(f"model.args.features {name!r}: {exc}") from None
        # With features the network learns from the pipeline's features and predicts the residual of its base.
        feat_x, feat_y = self.train_x, self.train_y
        if self.features is not None:
            pairs = [self.features.transform(x) for x in self.train_x]
            feat_x = [f for f, _ in pairs]
            feat_y = [y - b for (_, b), y in zip(pairs, self.train_y, strict=True)]
        x, y = np.concatenate(feat_x), np.concatenate(feat_y)
        self.norm = {
            "in_mean": x.mean(0).tolist(),
            "in_std": np.maximum(x.std(0), 1e-6).tolist(),
            "out_mean": y.mean(0).tolist(),
            "out_std": np.maximum(y.std(0), 1e-6).tolist(),
            "input_names": self.input_names,
            "output_names": self.target_names,
        }
        xw, yw = self._windows(feat_x, feat_y)
        if xw.shape[0] == 0:
            raise self.fail(f"no training windows of {sc.seq_len} samples ({dataset.split_note})")
        self.train_set = torch.utils.data.TensorDataset(xw, yw)
        self.linear = None
        if len(self.target_names) == 2 and {"vx_ref", "vy_ref"} <= set(self.input_names):
            cols = [self.input_names.index("vx_ref"), self.input_names.index("vy_ref")]
            self._lin_cols = [0, 0, *cols]  # the filter reads velocities from columns 2 and 3
            self.linear = LinearBaseline.fit([x[:, self._lin_cols] for x in self.train_x], self.train_y)
        self._baselines: dict[str, float] | None = None

    def _read(self, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        names = list(self.dataset.channel_names)
        i_in = [names.index(n) for n in self.input_names]
        i_out = [names.index(n) for n in self.target_names]
        xs, ys = [], []
        for traj, start, stop in self.dataset.split_segments(split):
            w = self.dataset.read_window(traj, start, stop - start)[:, :, 0, 0].astype(np.float64)  # (T, C)
            xs.append(w[:, i_in])
            ys.append(w[:, i_out])
        return xs, ys

    def _windows(self, xs, ys) -> tuple[torch.Tensor, torch.Tensor]:
        """All windows, normalised: (N, seq_len, Ci) and (N, seq_len, Co) float32."""
        sc, n = self.recipe.sequence, self.norm
        wx, wy = [], []
        for x, y in zip(xs, ys, strict=True):
            for s in range(0, x.shape[0] - sc.seq_len + 1, sc.stride):
                wx.append(x[s : s + sc.seq_len])
                wy.append(y[s : s + sc.seq_len])
        limit = self.recipe.data.max_train_windows
        wx, wy = wx[:limit], wy[:limit]
        if not wx:
            return torch.zeros(0, sc.seq_len, len(self.input_names)), torch.zeros(0)
        xn = (np.stack(wx) - n["in_mean"]) / n["in_std"]
        yn = (np.stack(wy) - n["out_mean"]) / n["out_std"]
        return torch.as_tensor(xn, dtype=torch.float32), torch.as_tensor(yn, dtype=torch.float32)

    def build_model(self) -> nn.Module:
        args = {
            **self.recipe.model.args,
            "input_size": len(self.input_names),
            "output_size": len(self.target_names),
        }
        return build_model(self.recipe.model.name, args)

    def wrap(self, model: nn.Module) -> nn.Module:
        return model  # works in normalised units; the statistics travel in the sidecar and the export

    def loss(self, module, batch):
        x, y = batch
        w, cfg = self.recipe.sequence.warmup, self.recipe.loss
        pred = module(x)[:, w:].float()
        target = y[:, w:]
        total = pred.new_zeros(())
        terms: dict[str, torch.Tensor] = {}
        for name, weight, fn in (
            ("mse", cfg.mse, lambda: mse(pred, target)),
            ("mae", cfg.mae, lambda: mae(pred, target)),
            ("hybrid", cfg.hybrid, lambda: hybrid(pred, target, alpha=cfg.hybrid_alpha)),
        ):
            if weight:
                value = fn()
                terms[name] = value.detach()
                total = total + weight * value
        return total, terms

    def has_validation(self) -> bool:
        return bool(self.valid_x)

    def validate(self, module, device) -> dict[str, float]:
        preds = [predict_stream(module, x, self.norm, self.features) for x in self.valid_x]
        truth = np.concatenate(self.valid_y)
        out = _metrics(np.concatenate(preds), truth)
        std = np.asarray(self.norm["out_std"])
        out["loss"] = float(np.mean(((np.concatenate(preds) - truth) / std) ** 2))
        out.update(self._baseline_metrics(truth))
        return out

    def _baseline_metrics(self, truth: np.ndarray) -> dict[str, float]:
        """The zero predictor and the linear filter on the same samples (computed once)."""
        if self._baselines is None:
            key = "rmse_um" if truth.shape[1] == 2 else "rmse"
            out = {f"zero_{key}": _metrics(np.zeros_like(truth), truth)[key]}
            if self.linear is not None:
                lin = np.concatenate([self.linear.predict(x[:, self._lin_cols]) for x in self.valid_x])
                out.update({f"linear_{k}": v for k, v in _metrics(lin, truth).items() if k in (key, "r2")})
            if self.features is not None:  # the pipeline's base alone: what the learned correction adds to
                base = np.concatenate([self.features.transform(x)[1] for x in self.valid_x])
                out.update({f"physics_{k}": v for k, v in _metrics(base, truth).items() if k in (key, "r2")})
            self._baselines = out
        return dict(self._baselines)

    @property
    def monitor(self) -> str:  # type: ignore[override]
        return "rmse_um" if len(self.target_names) == 2 else "rmse"

    def sidecar(self) -> dict[str, Any]:
        return {
            "kind": "sequence",
            "history": 1,
            "grid": [1, 1],
            "dt": self.dataset.dt,
            "normalisation": self.norm,
            "inputs": self.input_names,
            "targets": self.target_names,
            "features": (self.recipe.model.args or {}).get("features") or "",
        }

    def describe(self) -> str:
        sc = self.recipe.sequence
        return (
            f"{len(self.train_set)} training windows of {sc.seq_len} samples, "
            f"{len(self.valid_x)} validation trajectories"
        )
