"""Evaluating an exported sequence model (a streaming LSTM) on whole trajectories of a dataset split.

Each trajectory of the split is streamed through the model sample by sample from a zero state, exactly as the
exported predictor runs in Play or on a printer. Beside the model, on the same samples, the report scores:

* the persistence baseline of a sequence regressor: the zero predictor (for the printer, "no error");
* the system's physics baseline where it has one (``physics_baseline`` in
  ``fieldcast.engine.systems.<system>.baseline``: for ``trajectory`` the linear filter of the reference
  motion), fitted on the file's train split.

Errors are in the output channels' own units: MAE, RMSE, R², Pearson correlation and the 50th/90th/99th
percentiles of the absolute error, over all channels and per channel, and the MSE in units of each channel's
train-split standard deviation (``nmse``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress

__all__ = [
    "PERCENTILES",
    "check_sequence_fit",
    "iter_evaluate_sequence",
    "physics_baseline",
    "read_split",
    "sequence_metrics",
]

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


PERCENTILES = (50, 90, 99)


def _r2(res: np.ndarray, truth: np.ndarray) -> float:
    ss = float(np.sum((truth - truth.mean(axis=0)) ** 2))
    return 1.0 - float(np.sum(res**2)) / ss if ss > 0 else float("nan")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two flat arrays; NaN when either is constant (a zero predictor has none)."""
    da, db = a - a.mean(), b - b.mean()
    den = float(np.sqrt(np.sum(da**2) * np.sum(db**2)))
    return float(np.sum(da * db)) / den if den > 1e-300 else float("nan")


def _scores(res: np.ndarray, pred: np.ndarray, truth: np.ndarray, inv_std: np.ndarray) -> dict[str, float]:
    """The error measures of residuals ``res`` (N, C) of ``pred`` against ``truth``."""
    out = {
        "mae": float(np.mean(np.abs(res))),
        "rmse": float(np.sqrt(np.mean(res**2))),
        "r2": _r2(res, truth),
        "corr": _corr(pred.ravel(), truth.ravel()),
        "nmse": float(np.mean((res * inv_std) ** 2)),
    }
    for q, value in zip(PERCENTILES, np.percentile(np.abs(res), PERCENTILES), strict=True):
        out[f"p{q}"] = float(value)
    return out


def sequence_metrics(
    pred: np.ndarray, truth: np.ndarray, names: Sequence[str], std: np.ndarray
) -> dict[str, float]:
    """The errors of ``pred`` against ``truth`` (N, C), over all channels and per channel.

    Keys ``mae``, ``rmse``, ``r2``, ``corr`` (Pearson, NaN for a constant prediction), ``nmse`` (MSE in units
    of ``std``) and ``p50``, ``p90``, ``p99`` (percentiles of the absolute error), each also as
    ``<key>/<channel>`` for every channel of ``names``. Units are those of the channels.
    """
    pred = np.asarray(pred, np.float64)
    truth = np.asarray(truth, np.float64)
    res = pred - truth
    inv_std = 1.0 / np.where(np.asarray(std, np.float64) < 1e-12, 1.0, std)
    out = _scores(res, pred, truth, inv_std)
    for j, name in enumerate(names):
        col = slice(j, j + 1)
        for key, value in _scores(res[:, col], pred[:, col], truth[:, col], inv_std[col]).items():
            out[f"{key}/{name}"] = value
    return out


def physics_baseline(
    system: str, dataset: Any, inputs: Sequence[str], targets: Sequence[str], *, simple: bool = False
) -> tuple[str, Callable[[np.ndarray], np.ndarray]] | None:
    """``(name, predict)`` of the system's physics baseline fitted on the train split, or None.

    The system's best baseline for these inputs (for trajectory: the printer's physics filter when the
    profile is among them); with ``simple`` its baseline without that information (the linear filter).
    """
    module = _BASELINES.get(system)
    if module is None:
        return None
    mod = importlib.import_module(module)
    xs, ys = read_split(dataset, "train", inputs, targets, _MAX_FIT_TRAJECTORIES)
    predict = mod.fit_baseline(xs, ys, inputs, targets, dt=None if simple else float(dataset.dt))
    return None if predict is None else (getattr(predict, "name", mod.BASELINE_NAME), predict)


def iter_evaluate_sequence(
    session: Any,
    dataset: Any,
    split: str = "test",
    n_trajectories: int | None = 8,
    token: CancelToken | None = None,
    keep_arrays: bool = False,
) -> Generator[Progress, None, dict[str, Any]]:
    """Stream every trajectory of ``split`` (at most ``n_trajectories``) through ``session``.

    ``session`` is a :class:`~fieldcast.engine.sequence_runtime.SequenceSession`. Returns ``{"task",
    "split", "n_trajectories", "samples", "finite", "units", "metrics": {...}, "baselines": {"persistence":
    {...}, "physics": {...}}, "baseline_names": {...}, "timing": {"mean", "p50", "p99", "max"}}`` (ms per
    sample; metrics as :func:`sequence_metrics`); ``physics`` is absent when the system has no physics
    baseline. With ``keep_arrays`` the result also holds ``"arrays"`` (numpy, not JSON): ``truth``,
    ``model`` and each baseline's prediction as one (T, C_out) array per trajectory, the ``segments``
    ``(traj, start, stop)`` they come from, ``names``, ``units`` and ``dt`` / ``time_units``.
    """
    token = token or CancelToken()
    info = session.info
    inputs, targets = list(info.input_channels), list(info.output_channels)
    segments = dataset.split_segments(split)
    xs, ys = read_split(dataset, split, inputs, targets)
    kept = [k for k, x in enumerate(xs) if len(x)][:n_trajectories]
    if not kept:
        raise ValueError(f"split {split!r} has no samples")
    xs, ys, segments = [xs[k] for k in kept], [ys[k] for k in kept], [segments[k] for k in kept]
    preds, times = [], []
    for k, x in enumerate(xs):
        preds.append(session.predict(x, cancel=token))
        times.append(session.last_step_ms)
        yield Progress("evaluate", k + 1, len(xs), f"{split}: trajectory {k + 1}/{len(xs)}")
    pred, truth = np.concatenate(preds), np.concatenate(ys)
    names = list(dataset.channel_names)
    std = np.asarray(dataset.stats["std"], np.float64)[[names.index(n) for n in targets]]
    units = list(info.output_units or [""] * len(targets))
    result: dict[str, Any] = {
        "task": "sequence",
        "split": split,
        "n_trajectories": len(xs),
        "samples": int(truth.shape[0]),
        "finite": bool(np.isfinite(pred).all()),
        "units": dict(zip(targets, units, strict=True)),
        "metrics": sequence_metrics(pred, truth, targets, std),
        "baselines": {"persistence": sequence_metrics(np.zeros_like(truth), truth, targets, std)},
        "baseline_names": {"persistence": "zero predictor"},
    }
    guesses = {"persistence": [np.zeros_like(y) for y in ys]}
    baseline = physics_baseline(info.system, dataset, inputs, targets)
    if baseline is not None:
        name, predict = baseline
        guesses["physics"] = [np.asarray(predict(x), np.float64) for x in xs]
        result["baselines"]["physics"] = sequence_metrics(
            np.concatenate(guesses["physics"]), truth, targets, std
        )
        result["baseline_names"]["physics"] = name
        simple = physics_baseline(info.system, dataset, inputs, targets, simple=True)
        if simple is not None and simple[0] != name:  # also the filter that knows no more than the data
            result["baselines"]["linear"] = sequence_metrics(
                np.concatenate([np.asarray(simple[1](x), np.float64) for x in xs]), truth, targets, std
            )
            result["baseline_names"]["linear"] = simple[0]
    ms = np.concatenate(times)
    p50, p99 = np.percentile(ms, [50, 99])
    result["timing"] = {
        "mean": float(ms.mean()),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(ms.max()),
    }
    if keep_arrays:
        result["arrays"] = {
            "names": targets,
            "units": units,
            "dt": float(info.dt),
            "time_units": str(info.time_units),
            "segments": [tuple(int(v) for v in seg) for seg in segments],
            "truth": ys,
            "model": preds,
            **guesses,
        }
    return result
