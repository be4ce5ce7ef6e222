"""Evaluating an exported sequence model (a streaming LSTM) on whole trajectories of a dataset split.

Each trajectory of the split is streamed through the model sample by sample from a zero state, exactly as the
exported predictor runs in Play or on a printer. Beside the model, on the same samples, the report scores:

* the persistence baseline of a sequence regressor: the zero predictor (for the printer, "no error");
* the system's physics baseline where it has one (``physics_baseline`` in
  ``fieldcast.engine.systems.<system>.baseline``: for ``trajectory`` the linear filter of the reference
  motion), fitted on the file's train split.

Errors are in the output channels' own units: MAE, RMSE and R² over all channels, RMSE per channel, and the
MSE in units of each channel's train-split standard deviation (``nmse``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress

__all__ = ["check_sequence_fit", "iter_evaluate_sequence", "physics_baseline", "sequence_metrics"]

# Systems with a physics baseline for sequence models; each module has BASELINE_NAME and fit_baseline.
_BASELINES = {"trajectory": "fieldcast.engine.systems.trajectory.baseline"}
_MAX_FIT_TRAJECTORIES = 64


def check_sequence_fit(info: Any, dataset: Any, data: Path) -> None:
    """ValueError naming ``data`` when the dataset lacks the model's channels or is not per-sample data."""
    names = list(dataset.channel_names)
    missing = [n for n in dict.fromkeys([*info.input_channels, *info.output_channels]) if n not in names]
    if missing:
        raise ValueError(f"{data}: the data has no channel(s) {', '.join(missing)} the model needs")
    if tuple(dataset.grid) != (1, 1):
        nx, ny = dataset.grid
        raise ValueError(
            f"{data}: a sequence model reads one sample per frame, this file has a {nx}×{ny} grid"
        )


def read_split(
    dataset: Any, split: str, inputs: Sequence[str], targets: Sequence[str], limit: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Whole segments of ``split``: inputs (T, Ci) and targets (T, Co), float64, physical units."""
    names = list(dataset.channel_names)
    i_in = [names.index(n) for n in inputs]
    i_out = [names.index(n) for n in targets]
    xs, ys = [], []
    for traj, start, stop in dataset.split_segments(split)[:limit]:
        w = dataset.read_window(traj, start, stop - start)[:, :, 0, 0].astype(np.float64)  # (T, C)
        xs.append(w[:, i_in])
        ys.append(w[:, i_out])
    return xs, ys


def sequence_metrics(
    pred: np.ndarray, truth: np.ndarray, names: Sequence[str], std: np.ndarray
) -> dict[str, float]:
    """MAE, RMSE, R² (all channels), RMSE per channel and nmse of ``pred`` against ``truth`` (N, C)."""
    res = np.asarray(pred, np.float64) - truth
    ss = float(np.sum((truth - truth.mean(axis=0)) ** 2))
    out = {
        "mae": float(np.mean(np.abs(res))),
        "rmse": float(np.sqrt(np.mean(res**2))),
        "r2": 1.0 - float(np.sum(res**2)) / ss if ss > 0 else float("nan"),
        "nmse": float(np.mean((res / np.where(std < 1e-12, 1.0, std)) ** 2)),
    }
    for j, name in enumerate(names):
        out[f"rmse/{name}"] = float(np.sqrt(np.mean(res[:, j] ** 2)))
    return out


def physics_baseline(
    system: str, dataset: Any, inputs: Sequence[str], targets: Sequence[str]
) -> tuple[str, Callable[[np.ndarray], np.ndarray]] | None:
    """``(name, predict)`` of the system's physics baseline fitted on the train split, or None."""
    module = _BASELINES.get(system)
    if module is None:
        return None
    mod = importlib.import_module(module)
    xs, ys = read_split(dataset, "train", inputs, targets, _MAX_FIT_TRAJECTORIES)
    predict = mod.fit_baseline(xs, ys, inputs, targets)
    return None if predict is None else (mod.BASELINE_NAME, predict)


def iter_evaluate_sequence(
    session: Any,
    dataset: Any,
    split: str = "test",
    n_trajectories: int | None = 8,
    token: CancelToken | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Stream every trajectory of ``split`` (at most ``n_trajectories``) through ``session``.

    ``session`` is a :class:`~fieldcast.engine.sequence_runtime.SequenceSession`. Returns ``{"task",
    "split", "n_trajectories", "samples", "finite", "units", "metrics": {...}, "baselines": {"persistence":
    {...}, "physics": {...}}, "baseline_names": {...}, "timing": {"mean", "p50", "p99", "max"}}`` (ms per
    sample); ``physics`` is absent when the system has no physics baseline.
    """
    token = token or CancelToken()
    info = session.info
    inputs, targets = list(info.input_channels), list(info.output_channels)
    pairs = [(x, y) for x, y in zip(*read_split(dataset, split, inputs, targets), strict=True) if len(x)]
    if not pairs:
        raise ValueError(f"split {split!r} has no samples")
    xs, ys = [x for x, _ in pairs[:n_trajectories]], [y for _, y in pairs[:n_trajectories]]
    preds, times = [], []
    for k, x in enumerate(xs):
        preds.append(session.predict(x, cancel=token))
        times.append(session.last_step_ms)
        yield Progress("evaluate", k + 1, len(xs), f"{split}: trajectory {k + 1}/{len(xs)}")
    pred, truth = np.concatenate(preds), np.concatenate(ys)
    names = list(dataset.channel_names)
    std = np.asarray(dataset.stats["std"], np.float64)[[names.index(n) for n in targets]]
    result: dict[str, Any] = {
        "task": "sequence",
        "split": split,
        "n_trajectories": len(xs),
        "samples": int(truth.shape[0]),
        "finite": bool(np.isfinite(pred).all()),
        "units": dict(zip(targets, info.output_units or [""] * len(targets), strict=True)),
        "metrics": sequence_metrics(pred, truth, targets, std),
        "baselines": {"persistence": sequence_metrics(np.zeros_like(truth), truth, targets, std)},
        "baseline_names": {"persistence": "zero predictor"},
    }
    baseline = physics_baseline(info.system, dataset, inputs, targets)
    if baseline is not None:
        name, predict = baseline
        guess = np.concatenate([predict(x) for x in xs])
        result["baselines"]["physics"] = sequence_metrics(guess, truth, targets, std)
        result["baseline_names"]["physics"] = name
    ms = np.concatenate(times)
    p50, p99 = np.percentile(ms, [50, 99])
    result["timing"] = {
        "mean": float(ms.mean()),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(ms.max()),
    }
    return result
