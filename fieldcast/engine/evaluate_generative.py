"""Evaluating an exported generative model on a dataset split: generated maps against the truth.

Every pair of the first ``trajectories`` trajectories of the split (up to ``max_pairs``) is generated once
from its condition (diffusion: deterministic DDIM, ``eta = 0``, the model's default steps, seed = pair
index) and scored on maps scaled to [0, 1] by the model's training range of the target
(:mod:`fieldcast.engine.generative_metrics`): NMSE, SSIM, PSNR, and RMSE in the target's units. Beside the
model, on the same pairs: the train-split mean map (the baseline that knows nothing of the condition; the
generative counterpart of persistence). For a diffusion model the first ``spread_conditions`` conditions are
also sampled ``spread_samples`` times to measure spread-vs-error calibration. The time of every sample is
recorded (ms per sample, and ms per denoising step).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine import generative_metrics as gm
from fieldcast.engine.jobs import CancelToken, Progress

__all__ = ["check_generative_fit", "iter_evaluate_generative", "read_pairs", "score"]

_MEAN_PAIRS = 512  # training pairs averaged for the mean-map baseline


def score(pred: np.ndarray, truth: np.ndarray, target_range: tuple[float, float]) -> dict[str, float]:
    """NMSE, SSIM, PSNR (dB) on maps scaled to [0, 1] by ``target_range``; RMSE in the maps' units."""
    lo, hi = target_range
    p, t = gm.to_unit_range(pred, lo, hi), gm.to_unit_range(truth, lo, hi)
    return {
        "nmse": gm.nmse(p, t),
        "ssim": gm.ssim(p, t),
        "psnr_db": gm.psnr(p, t),
        "rmse": gm.rmse(pred, truth),
    }


def check_generative_fit(info, dataset, data: Path) -> tuple[list[int], int]:
    """Channel indices of the condition and of the target in ``dataset``; ValueError naming ``data``."""
    names = list(dataset.channel_names)
    missing = [c for c in [*info.condition_channels, info.target] if c not in names]
    if missing:
        raise ValueError(f"{data}: the data has no channel(s) {', '.join(missing)} the model needs")
    if tuple(dataset.grid) != tuple(info.grid):
        raise ValueError(f"{data}: the model runs on a {info.grid} grid, the data is {tuple(dataset.grid)}")
    return [names.index(c) for c in info.condition_channels], names.index(info.target)


def read_pairs(
    dataset, split: str, ci: list[int], ti: int, limit: int, trajectories: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Conditions (N, C, nx, ny) and targets (N, nx, ny): the first ``limit`` pairs of the first
    ``trajectories`` trajectories (all when None) of ``split``."""
    conds, truths = [], []
    for traj, start, stop in dataset.split_segments(split)[:trajectories]:
        if len(conds) >= limit:
            break
        w = dataset.read_window(traj, start, min(stop - start, limit - len(conds)))
        conds += list(w[:, ci])
        truths += list(w[:, ti])
    if not conds:
        nx, ny = dataset.grid
        return np.zeros((0, len(ci), nx, ny), np.float32), np.zeros((0, nx, ny), np.float32)
    return np.stack(conds), np.stack(truths)


def iter_evaluate_generative(
    session,
    dataset,
    data: Path,
    split: str = "test",
    trajectories: int | None = 8,
    max_pairs: int = 256,
    token: CancelToken | None = None,
    spread_conditions: int = 2,
    spread_samples: int = 4,
) -> Generator[Progress, None, dict[str, Any]]:
    """Score ``session`` (a :class:`~fieldcast.engine.generative.GenerativeSession`) on ``split``."""
    token = token or CancelToken()
    info = session.info
    ci, ti = check_generative_fit(info, dataset, data)
    conds, truth = read_pairs(dataset, split, ci, ti, max_pairs, trajectories)
    if len(truth) == 0:
        raise ValueError(f"the {split} split has no pairs")
    preds, ms = [], []
    for i, c in enumerate(conds):
        token.raise_if_cancelled()
        t0 = time.perf_counter()
        preds.append(session.sample(c, n=1, seed=i)[0])
        ms.append((time.perf_counter() - t0) * 1e3)
        yield Progress("eval", i + 1, len(conds), f"pair {i + 1}/{len(conds)}: {ms[-1]:.0f} ms")
    pred = np.stack(preds)
    rng = info.data_range
    _, train_truth = read_pairs(dataset, "train", ci, ti, _MEAN_PAIRS)
    mean_map = train_truth.astype(np.float64).mean(0) if len(train_truth) else truth.mean(0)
    steps = info.default_steps if info.is_diffusion else 1
    result: dict[str, Any] = {
        "task": "generative",
        "objective": info.objective,
        "split": split,
        "n_trajectories": len(dataset.split_segments(split)[:trajectories]),
        "pairs": len(truth),
        "steps": steps,
        "finite": bool(np.isfinite(pred).all()),
        "units": {info.target: info.target_units},
        "metrics": score(pred, truth, rng),
        "baselines": {"mean": score(np.broadcast_to(mean_map, truth.shape), truth, rng)},
        "baseline_names": {"mean": "train-split mean map"},
        "timing": {
            "ms_per_sample_p50": float(np.median(ms)),
            "ms_per_step_p50": float(np.median(ms)) / steps,
        },
    }
    if info.is_diffusion and spread_samples > 1:
        curves = []
        for i in range(min(spread_conditions, len(conds))):
            token.raise_if_cancelled()
            several = session.sample(conds[i], n=spread_samples, seed=1000 + i)
            lo, hi = rng
            curves.append(
                gm.spread_error(gm.to_unit_range(several, lo, hi), gm.to_unit_range(truth[i], lo, hi))
            )
        result["calibration"] = {
            "corr": float(np.nanmean([c["corr"] for c in curves])) if curves else float("nan"),
            "curves": curves,
            "samples": spread_samples,
        }
    return result
