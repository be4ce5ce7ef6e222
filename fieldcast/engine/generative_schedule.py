"""The diffusion noise schedule and the DDIM update, in plain array arithmetic (numpy or torch alike).

Forward process (Ho et al. 2020): ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` for
``t = 0 .. T-1``, with ``abar_t = prod_{s <= t} (1 - beta_s)``. Two schedules:

- ``cosine`` (Nichol & Dhariwal 2021): ``f(t) = cos(((t / T) + s) / (1 + s) * pi / 2) ** 2`` with
  ``s = 0.008``, ``beta_t = min(1 - f(t + 1) / f(t), 0.999)``;
- ``linear`` (Ho et al.): ``beta`` from ``1e-4`` to ``0.02`` evenly.

The network predicts ``v = sqrt(abar) eps - sqrt(1 - abar) x_0`` (Salimans & Ho 2022) or ``eps``; both give
``x_0`` and ``eps`` back through :func:`split_prediction`. Sampling is DDIM (Song et al. 2021) over a
subsequence of the training timesteps (:func:`ddim_timesteps`); ``eta = 0`` is deterministic given the
starting noise, ``eta = 1`` is the ancestral (DDPM-like) sampler.

The same functions drive the trainer's validation sampler (torch tensors) and the engine's
:class:`~fieldcast.engine.generative.GenerativeSession` (numpy arrays), so both sample identically.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "PREDICTIONS",
    "SCHEDULES",
    "alpha_bar",
    "ddim_step",
    "ddim_timesteps",
    "split_prediction",
    "v_target",
]

SCHEDULES = ("cosine", "linear")
PREDICTIONS = ("v", "eps")
MAX_TIMESTEPS = 100_000


def alpha_bar(schedule: str, timesteps: int) -> np.ndarray:
    """``abar_t`` for ``t = 0 .. timesteps-1`` (float64, strictly decreasing, in (0, 1))."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    if not 1 <= int(timesteps) <= MAX_TIMESTEPS:
        raise ValueError(f"timesteps must be 1 to {MAX_TIMESTEPS}, got {timesteps}")
    n = int(timesteps)
    if schedule == "cosine":
        s = 0.008
        f = np.cos(((np.arange(n + 1) / n) + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.minimum(1.0 - f[1:] / f[:-1], 0.999)
    else:
        betas = np.linspace(1e-4, 0.02, n)
    return np.cumprod(1.0 - betas)


def ddim_timesteps(timesteps: int, steps: int) -> list[int]:
    """``steps`` training timesteps from ``timesteps - 1`` down to 0, evenly spaced, distinct."""
    if steps < 1:
        raise ValueError(f"sampling steps must be at least 1, got {steps}")
    steps = min(int(steps), int(timesteps))
    ts = np.round(np.linspace(timesteps - 1, 0, steps)).astype(int)
    return [int(t) for t in dict.fromkeys(ts.tolist())]


def v_target(x0: Any, eps: Any, ab: Any) -> Any:
    """``v = sqrt(abar) eps - sqrt(1 - abar) x0`` (``ab`` broadcastable)."""
    return ab**0.5 * eps - (1.0 - ab) ** 0.5 * x0


def split_prediction(x_t: Any, out: Any, ab: Any, prediction: str) -> tuple[Any, Any]:
    """``(x0, eps)`` implied by the network output ``out`` at noise level ``ab`` for ``x_t``."""
    if prediction == "v":
        return ab**0.5 * x_t - (1.0 - ab) ** 0.5 * out, (1.0 - ab) ** 0.5 * x_t + ab**0.5 * out
    if prediction == "eps":
        return (x_t - (1.0 - ab) ** 0.5 * out) / ab**0.5, out
    raise ValueError(f"unknown prediction type {prediction!r} (known: {', '.join(PREDICTIONS)})")


def ddim_step(x0: Any, eps: Any, ab: float, ab_prev: float, eta: float = 0.0, noise: Any = None) -> Any:
    """One DDIM update to the previous noise level ``ab_prev`` (1.0 after the last step returns ``x0``).

    ``noise`` (standard normal, like ``x0``) is needed only when ``eta > 0``.
    """
    sigma = 0.0
    if eta > 0:
        sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab)) * math.sqrt(max(1.0 - ab / ab_prev, 0.0))
    direction = math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0))
    x = math.sqrt(ab_prev) * x0 + direction * eps
    if sigma > 0:
        if noise is None:
            raise ValueError("eta > 0 needs noise")
        x = x + sigma * noise
    return x
