"""Validation: one-step and K-step losses with physics metrics, and long-horizon rollout tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from fieldcast.training.losses import LossComposer
from fieldcast.training.rollout import RolloutModule

__all__ = ["physics_metrics", "rollout_loss", "rollout_test", "validate"]


def rollout_loss(
    module: torch.nn.Module,
    window: torch.Tensor,
    composer: LossComposer,
    steps: int,
    weights: torch.Tensor,
    truncate: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Weighted K-step loss of ``module`` (a RolloutModule, possibly DDP-wrapped) on ``window``.

    Returns the total, the weighted mean of each term over the steps, and the predictions (B, K, Cs, nx, ny).
    """
    lay = composer.layout
    h, state, ctrl = lay.history, list(lay.state), list(lay.controls)
    preds = module(window, steps, truncate)  # (B, K, Cs, nx, ny)
    total = preds.new_zeros(())
    parts: dict[str, torch.Tensor] = {}
    for k in range(steps):
        previous = window[:, h - 1, state] if k == 0 else preds[:, k - 1]
        loss_k, parts_k = composer(preds[:, k], window[:, h + k, state], previous, window[:, h + k, ctrl])
        total = total + weights[k] * loss_k
        for name, value in parts_k.items():
            parts[name] = parts.get(name, 0.0) + weights[k] * value.detach()
    return total, parts, preds


def physics_metrics(
    pred: np.ndarray, controls: np.ndarray, module: RolloutModule, names: Iterable[str]
) -> dict:
    """The system's physics metrics (``fieldcast.engine.metrics``) of predicted states (B, Cs, nx, ny)."""
    names = list(names)
    if not names:
        return {}
    from fieldcast.engine import metrics as em

    lay = module.layout
    scalar = next((j for j in range(lay.out_channels) if not any(j in v for v in lay.vectors)), None)
    vec = next((v for v in lay.vectors if len(v) == 2), None)
    out: dict[str, float] = {}
    for name in names:
        if name in ("divergence_norm", "kinetic_energy") and vec is not None:
            out[name] = float(np.mean(getattr(em, name)(pred[:, vec[0]], pred[:, vec[1]])))
        elif name == "collider_violation" and scalar is not None and lay.solid is not None:
            out[name] = float(np.mean(em.collider_violation(pred[:, scalar], controls[:, lay.solid])))
        elif name == "total_smoke" and scalar is not None:
            out[name] = float(np.mean(em.total_smoke(pred[:, scalar])))
    return out


@torch.no_grad()
def validate(
    module: RolloutModule,
    batches: Iterable[torch.Tensor],
    composer: LossComposer,
    steps: int,
    weights: torch.Tensor,
    metric_names: Iterable[str],
    device: torch.device,
) -> dict[str, float]:
    """Mean validation loss, per-channel normalised MSE of the first step, and physics metrics."""
    module.eval()
    lay = module.layout
    names = lay.output_names()
    sums: dict[str, float] = {}
    n = 0
    for window in batches:
        window = window.to(device)
        loss, _, preds = rollout_loss(module, window, composer, steps, weights, truncate=True)
        err = ((preds[:, 0] - window[:, lay.history, list(lay.state)]) * composer.inv_std) ** 2
        per_channel = err.mean(dim=(0, 2, 3)).tolist()
        ctrl = window[:, lay.history, list(lay.controls)].cpu().numpy()
        record = {"loss": loss.item(), **{f"mse/{c}": v for c, v in zip(names, per_channel, strict=True)}}
        record.update(physics_metrics(preds[:, 0].cpu().numpy(), ctrl, module, metric_names))
        for key, value in record.items():
            sums[key] = sums.get(key, 0.0) + value
        n += 1
    module.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


@torch.no_grad()
def rollout_test(
    module: RolloutModule,
    dataset: Any,
    horizons: list[int],
    n_trajectories: int,
    inv_std: torch.Tensor,
    device: torch.device,
) -> tuple[dict[int, float], np.ndarray | None, np.ndarray | None]:
    """Roll validation initial states out to each horizon (clipped to the frames available).

    Returns ``{horizon: normalised MSE at that frame}``, and truth and prediction (N, Cs, nx, ny) at the
    longest horizon reached.
    """
    lay = module.layout
    h = lay.history
    # Clipped to the longest validation segment: a file cut along time validates on short segments.
    longest = max((stop - start for _, start, stop in dataset.split_segments("valid")), default=0)
    length = min(longest, h + max(horizons))
    starts: dict[int, int] = {}
    for traj, start in dataset.windows("valid", length):
        starts.setdefault(traj, start)
    starts = dict(list(starts.items())[:n_trajectories])
    if not starts or length <= h:
        return {}, None, None
    window = torch.stack([torch.from_numpy(dataset.read_window(t, s, length)) for t, s in starts.items()])
    window = window.to(device)
    steps = length - h
    module.eval()
    preds = module(window, steps)  # (N, steps, Cs, nx, ny)
    module.train()
    truth = window[:, h:, list(lay.state)]
    err = (((preds - truth) * inv_std.unsqueeze(1)) ** 2).mean(dim=(0, 2, 3, 4))  # (steps,)
    result = {min(hz, steps): float(err[min(hz, steps) - 1]) for hz in sorted(horizons)}
    return result, truth[:, -1].cpu().numpy(), preds[:, -1].cpu().numpy()
