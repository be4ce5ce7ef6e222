"""Loss terms for field surrogates, each weighted from the recipe's ``loss`` section.

Data terms (MSE, MAE, hybrid) compare prediction and truth in normalised units, so every channel counts on
the same scale, optionally under a spatial weight map. Physics terms work in physical units on a cell-centred
grid with pixel spacing: divergence of vector fields, density appearing where nothing can bring it (emitter
loss), and the mismatch of spatial differences (gradient loss). Tensors are ``(B, C, nx, ny)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fieldcast.training.config import LossConfig
from fieldcast.training.rollout import ChannelLayout

__all__ = [
    "LossComposer",
    "divergence",
    "divergence_loss",
    "emitter_loss",
    "gradient_loss",
    "hybrid",
    "mae",
    "mse",
    "weight_map",
]


def _weighted_mean(err: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return err.mean()
    w = weights.expand_as(err)
    return (err * w).sum() / w.sum().clamp_min(1e-12)


def mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error, optionally weighted per cell by ``weights`` (B or 1, 1, nx, ny)."""
    return _weighted_mean((pred - target) ** 2, weights)


def mae(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, optionally weighted per cell."""
    return _weighted_mean((pred - target).abs(), weights)


def hybrid(pred, target, alpha: float = 0.7, weights: torch.Tensor | None = None) -> torch.Tensor:
    """alpha * MAE + (1 - alpha) * MSE."""
    return alpha * mae(pred, target, weights) + (1.0 - alpha) * mse(pred, target, weights)


def divergence(vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """Central-difference divergence in pixel units on interior cells: (..., nx, ny) -> (..., nx-2, ny-2)."""
    dvx = (vx[..., 2:, 1:-1] - vx[..., :-2, 1:-1]) / 2.0  # d/dx, x is the second-to-last axis
    dvy = (vy[..., 1:-1, 2:] - vy[..., 1:-1, :-2]) / 2.0  # d/dy
    return dvx + dvy


def divergence_loss(state: torch.Tensor, vectors: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Mean squared divergence of every 2D vector field in ``state`` (physical units)."""
    total = state.new_zeros(())
    for comps in vectors:
        if len(comps) == 2:
            total = total + divergence(state[:, comps[0]], state[:, comps[1]]).pow(2).mean()
    return total


def emitter_loss(
    density: torch.Tensor, previous: torch.Tensor, emitter: torch.Tensor, radius: int = 1, eps: float = 1e-3
) -> torch.Tensor:
    """Penalise density where no emitter and no density within ``radius`` cells could bring it.

    All arguments are (B, nx, ny); returns the mean of relu(density)^2 over the unreachable cells.
    """
    source = ((previous > eps) | (emitter > 0.5)).to(density.dtype).unsqueeze(1)  # (B, 1, nx, ny)
    reachable = F.max_pool2d(source, 2 * radius + 1, stride=1, padding=radius).squeeze(1)
    return (F.relu(density) ** 2 * (1.0 - reachable)).mean()


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance between forward differences along x and y (keeps edges sharp)."""
    gx = (pred.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
    gy = (pred.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
    return gx + gy


def energy_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over samples and channels of (mean square of ``pred`` - mean square of ``target``)², per channel
    over the grid, of (B, C, nx, ny) fields: the same energy, wherever it sits."""
    return ((pred.square().mean(dim=(-2, -1)) - target.square().mean(dim=(-2, -1))) ** 2).mean()


def weight_map(
    kind: str, target: torch.Tensor, mask: torch.Tensor | None, strength: float
) -> torch.Tensor | None:
    """Per-cell weights (B, 1, nx, ny): ``gradient`` = 1 + s·|∇target|/max, ``mask`` = 1 + s·mask."""
    if kind == "none":
        return None
    if kind == "mask":
        if mask is None:
            raise ValueError("weight_map='mask' needs loss.weight_map_channel")
        return 1.0 + strength * mask.unsqueeze(1)
    gx = F.pad(target.diff(dim=-2).abs(), (0, 0, 0, 1))
    gy = F.pad(target.diff(dim=-1).abs(), (0, 1))
    g = (gx + gy).sum(1, keepdim=True)  # (B, 1, nx, ny)
    g = g / g.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return 1.0 + strength * g


class LossComposer:
    """Sum of the recipe's loss terms for one predicted frame.

    Parameters
    ----------
    config : the recipe's ``loss`` section.
    layout : channel layout (which state channels are vector fields, which control is the emitter).
    out_std : (Cs,) per-channel scale of the state, for the normalised data terms.
    """

    def __init__(self, config: LossConfig, layout: ChannelLayout, out_std: torch.Tensor) -> None:
        self.cfg = config
        self.layout = layout
        self.inv_std = (1.0 / out_std.float()).view(1, -1, 1, 1)
        ctrl_names = [layout.channel_names[i] for i in layout.controls]
        self.emitter = (
            ctrl_names.index(config.emitter_channel) if config.emitter_channel in ctrl_names else None
        )
        if config.emitter > 0 and self.emitter is None:
            raise ValueError(f"loss.emitter needs a control channel {config.emitter_channel!r}")
        self.mask = None
        if config.weight_map == "mask":
            if config.weight_map_channel not in ctrl_names:
                raise ValueError(
                    f"loss.weight_map_channel {config.weight_map_channel!r} is not a control channel"
                )
            self.mask = ctrl_names.index(config.weight_map_channel)
        self.scalar = next(
            (j for j in range(layout.out_channels) if not any(j in v for v in layout.vectors)), 0
        )

    def to(self, device: torch.device) -> LossComposer:
        self.inv_std = self.inv_std.to(device)
        return self

    def __call__(self, pred, target, previous, controls) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of ``pred`` against ``target`` (B, Cs, nx, ny), given the input state and controls.

        Returns the weighted total and the unweighted terms that have a non-zero weight.
        """
        c = self.cfg
        parts: dict[str, torch.Tensor] = {}
        pn, tn = pred * self.inv_std, target * self.inv_std
        mask = controls[:, self.mask] if self.mask is not None else None
        w = weight_map(c.weight_map, tn, mask, c.weight_map_strength)
        if c.mse:
            parts["mse"] = mse(pn, tn, w)
        if c.mae:
            parts["mae"] = mae(pn, tn, w)
        if c.hybrid:
            parts["hybrid"] = hybrid(pn, tn, c.hybrid_alpha, w)
        if c.divergence:
            parts["divergence"] = divergence_loss(pred, self.layout.vectors)
        if c.emitter:
            j = self.scalar
            parts["emitter"] = emitter_loss(
                pred[:, j], previous[:, j], controls[:, self.emitter], c.emitter_radius
            )
        if c.gradient:
            parts["gradient"] = gradient_loss(pn, tn)
        if c.energy:
            parts["energy"] = energy_loss(pn, tn)
        total = sum(getattr(c, name) * value for name, value in parts.items())
        if not parts:
            total = pred.sum() * 0.0
        return total, parts
