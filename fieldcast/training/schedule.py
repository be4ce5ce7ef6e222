"""Optimizers and the learning-rate schedule.

The schedule is a pure function of the optimizer step plus a small plateau state, so it resumes exactly
and a person can change the base learning rate of a running run::

    lr(step) = base_lr * warmup(step) * shape(step) * plateau_factor

``shape`` is 1 (``none`` / ``plateau``), cosine with warm restarts between 1 and ``min_lr / base_lr``, or a
linear decay to zero at ``total_steps``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from fieldcast.training.config import OptimConfig, SchedulerConfig

__all__ = ["LRSchedule", "build_optimizer"]


def build_optimizer(params, config: OptimConfig) -> torch.optim.Optimizer:
    """Adam or AdamW from the recipe's ``optim`` section."""
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[config.name]
    return cls(params, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)


class LRSchedule:
    """Learning rate per optimizer step; see the module docstring.

    Parameters
    ----------
    config : the recipe's ``scheduler`` section.
    base_lr : the recipe's learning rate.
    total_steps : optimizer steps of the whole stage (for the linear decay).
    """

    def __init__(self, config: SchedulerConfig, base_lr: float, total_steps: int) -> None:
        self.cfg = config
        self.base_lr = base_lr
        self.total_steps = max(1, total_steps)
        self.plateau_scale = 1.0
        self.best: float | None = None
        self.bad = 0

    def _shape(self, step: int) -> float:
        c = self.cfg
        if c.name == "linear":
            return max(0.0, 1.0 - step / self.total_steps)
        if c.name == "cosine_restarts":
            period, t = max(1, c.restart_period), step
            while t >= period:
                t -= period
                period = max(1, period * c.restart_mult)
            floor = min(1.0, c.min_lr / self.base_lr) if self.base_lr > 0 else 0.0
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t / period))
        return 1.0

    def lr(self, step: int) -> float:
        """Learning rate for optimizer step ``step`` (0-based)."""
        warm = min(1.0, (step + 1) / self.cfg.warmup_steps) if self.cfg.warmup_steps > 0 else 1.0
        return self.base_lr * warm * self._shape(step) * self.plateau_scale

    def observe(self, value: float) -> bool:
        """Feed a validation loss to the plateau rule; True when the learning rate was just reduced."""
        if self.cfg.name != "plateau" or not math.isfinite(value):
            return False
        if self.best is None or value < self.best * (1.0 - self.cfg.plateau_threshold):
            self.best, self.bad = value, 0
            return False
        self.bad += 1
        if self.bad > self.cfg.plateau_patience:
            self.plateau_scale *= self.cfg.plateau_factor
            self.bad = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "plateau_scale": self.plateau_scale,
            "best": self.best,
            "bad": self.bad,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base_lr = float(state["base_lr"])
        self.plateau_scale = float(state["plateau_scale"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad = int(state["bad"])
