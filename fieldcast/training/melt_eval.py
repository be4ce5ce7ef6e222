"""Melt metrics: microstructure error overall and within the solidification front, against persistence;
melt-pool depth and width error of temperature predictions.

The solidification front of a step ``t -> t+1`` is the set of cells that had no orientation at ``t``
(liquid, all nine IPF channels 0) and are below the liquidus at ``t+1``: the cells whose orientation is
decided during the step. Cells solid at both ``t`` and ``t+1`` are left out of it: the grain automaton
never changes a solid cell's orientation, so every baseline that keeps it is exact there and they would
only dilute the comparison.

Baselines are scored on the same cells in the same pass. ``persistence`` keeps each cell's last known
orientation: ``ipf(t)`` where the cell is solid at ``t``, else the orientation it had before it melted
(the last frame it was solid; the caller passes it, see :func:`last_orientation`), which for a cell that
solidifies by epitaxy from the grain below it is often right. Passing ``ipf(t)`` itself instead gives the
naive persistence that predicts no orientation for every front cell. ``frozen`` (where given) keeps the
trajectory's first microstructure. Errors are mean squared errors over the 9 IPF channels, on cells below
the liquidus at ``t+1`` (overall) or in the front.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fieldcast.engine.systems.melt.thermal import melt_pool_size

__all__ = [
    "FrontScore",
    "evaluate_temperature",
    "front_mask",
    "last_orientation",
    "model_inputs",
    "pool_errors",
    "solid_mask",
]


def solid_mask(t_next: torch.Tensor, liquidus: float) -> torch.Tensor:
    """(B, H, W) float mask of cells below the liquidus at ``t+1`` (temperature in K)."""
    return (t_next < liquidus).to(t_next.dtype)


def front_mask(t_next: torch.Tensor, ipf_now: torch.Tensor, liquidus: float) -> torch.Tensor:
    """(B, H, W) float mask of the solidification front (see the module docstring).

    ``t_next`` (B, H, W) in K, ``ipf_now`` (B, 9, H, W).
    """
    was_liquid = ipf_now.abs().sum(dim=1) == 0
    return ((t_next < liquidus) & was_liquid).to(t_next.dtype)


def last_orientation(ipf: np.ndarray) -> np.ndarray:
    """(T, 9, H, W) each cell's last orientation up to each frame, from a trajectory's IPF (T, 9, H, W).

    Where a cell is liquid (all channels 0) it keeps the orientation of the last frame it was solid in
    (0 if it never was).
    """
    out = np.array(ipf, copy=True)
    for t in range(1, len(out)):
        liquid = ~(out[t] != 0).any(axis=0)
        out[t][:, liquid] = out[t - 1][:, liquid]
    return out


@dataclass
class FrontScore:
    """Running squared errors of a model and of persistence, overall (solid cells) and in the front."""

    sums: dict[str, float] = field(default_factory=dict)

    def add(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        ipf_now: torch.Tensor,
        t_next: torch.Tensor,
        liquidus: float,
        baselines: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Accumulate one batch: ``pred``, ``target``, ``ipf_now`` (B, 9, H, W); ``t_next`` (B, H, W) in K.

        ``baselines`` maps names to predictions (B, 9, H, W) scored beside the model; by default
        ``{"persistence": ipf_now}``.
        """
        solid = solid_mask(t_next, liquidus).unsqueeze(1)  # (B, 1, H, W)
        front = front_mask(t_next, ipf_now, liquidus).unsqueeze(1)
        n_ch = pred.shape[1]
        guesses = {"model": pred, **(baselines or {"persistence": ipf_now})}
        for name, guess in guesses.items():
            err = (guess - target) ** 2
            self._acc(f"{name}_sse", float((err * solid).sum()))
            self._acc(f"{name}_front_sse", float((err * front).sum()))
        self._acc("cells", float(solid.sum()) * n_ch)
        self._acc("front_cells", float(front.sum()) * n_ch)

    def _acc(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value

    def result(self) -> dict[str, float]:
        """``mse``, ``front_mse``, ``<baseline>_mse``, ``<baseline>_front_mse`` and ``front_cells``."""
        s = self.sums
        cells, front = max(s.get("cells", 0.0), 1.0), max(s.get("front_cells", 0.0), 1.0)
        out = {}
        for key, value in s.items():
            if key.endswith("_front_sse"):
                name = key[: -len("_front_sse")]
                prefix = "" if name == "model" else f"{name}_"
                out[f"{prefix}mse"] = s.get(f"{name}_sse", 0.0) / cells
                out[f"{prefix}front_mse"] = value / front
        out["front_cells"] = s.get("front_cells", 0.0) / 9.0
        return out


def pool_errors(pred: np.ndarray, truth: np.ndarray, dx: float, liquidus: float) -> dict[str, float]:
    """Mean absolute melt-pool depth and width errors (m) of predicted temperature frames.

    ``pred`` and ``truth`` are (N, nx, ny) in K; frames where neither has a pool are skipped.
    """
    d_err, w_err, n = 0.0, 0.0, 0
    for p, t in zip(pred, truth, strict=True):
        wp, dp = melt_pool_size(np.asarray(p, float), dx, liquidus)
        wt, dt = melt_pool_size(np.asarray(t, float), dx, liquidus)
        if wp == wt == 0.0:
            continue
        d_err += abs(dp - dt)
        w_err += abs(wp - wt)
        n += 1
    n = max(n, 1)
    return {"pool_depth_error": d_err / n, "pool_width_error": w_err / n, "pool_frames": float(n)}


def model_inputs(window: np.ndarray, channel_names: list[str], input_names: tuple[str, ...]) -> np.ndarray:
    """Inputs of an exported rollout model from a (history + 1, C, nx, ny) window, by channel name.

    ``name@t-k`` is channel ``name`` ``k`` frames before the current one (frame ``history - 1``); any other
    name is read at the current frame. Returns (1, C_in, nx, ny) float32.
    """
    now = window.shape[0] - 2
    rows = []
    for name in input_names:
        base, _, lag = name.partition("@t-")
        rows.append(window[now - int(lag or 0), channel_names.index(base)])
    return np.stack(rows)[None].astype(np.float32)


def evaluate_temperature(session, dataset, split: str = "test", limit: int = 64) -> dict[str, float]:
    """One-step temperature error and melt-pool depth/width error of an exported model (an engine
    ``ModelSession``) on ``split``, each beside the persistence baseline (next frame = current frame)."""
    from fieldcast.engine.systems.melt.thermal import Material

    info = session.info
    names = list(dataset.channel_names)
    ti = names.index("temperature")
    out_t = list(info.output_channels).index("temperature")
    windows = dataset.windows(split, info.history + 1)[:limit]
    preds, truths, nows = [], [], []
    for traj, start in windows:
        w = dataset.read_window(traj, start, info.history + 1)
        y = session.run(model_inputs(w, names, info.input_channels))["next_fields"]
        preds.append(y[0, out_t].copy())
        truths.append(w[-1, ti])
        nows.append(w[-2, ti])
    pred, truth, now = np.array(preds), np.array(truths), np.array(nows)
    dx = float(dataset.simulation_parameters.get("dx", 5e-6))
    liquidus = Material().liquidus
    out = {"temperature_rmse": float(np.sqrt(((pred - truth) ** 2).mean())),
           "persistence_temperature_rmse": float(np.sqrt(((now - truth) ** 2).mean()))}  # fmt: skip
    out.update(pool_errors(pred, truth, dx, liquidus))
    out.update({f"persistence_{k}": v for k, v in pool_errors(now, truth, dx, liquidus).items()})
    return out
