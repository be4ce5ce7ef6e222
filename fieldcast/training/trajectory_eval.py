"""Evaluation of trajectory-error surrogates next to the baselines the physics already gives.

Every report puts the surrogate beside two baselines measured on the same test trajectories:

* ``zero``: predict no error at all (what a printer without compensation assumes);
* ``linear``: the best linear second-order filter of the reference motion, fitted by least squares on the
  training trajectories. Per axis, ``e_k = a1·e_{k−1} + a2·e_{k−2} + b0·v_k + b1·v_{k−1} + b2·v_{k−2} + d``
  (the sampled form of ``m·ë + c·ė + k·e = −m·a``, an ARX(2, 3) model) is fitted in equation-error form and
  run recursively on its own predictions; a finite-impulse-response filter of the velocity over 0.3 s is
  fitted too and the better of the two on the training data is the baseline. A learned model that does not
  beat it has learned nothing the linear physics did not already give, and the report says so.

Metrics are in micrometres: MAE, RMSE, R² overall and per axis, percentiles 50/90/95/99 of the absolute
error, and streaming inference time per sample. The baseline filter and the metrics live in the engine
(:mod:`fieldcast.engine.systems.trajectory.baseline`), where ``fieldcast eval`` uses them without torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from fieldcast.engine.systems.trajectory.baseline import LinearBaseline, error_metrics

__all__ = ["LinearBaseline", "error_metrics", "format_report", "time_per_sample"]


def time_per_sample(step: Callable[[int], object], n: int = 2000, warmup: int = 50) -> dict[str, float]:
    """Wall time of ``step(i)`` (one streamed sample) in ms: mean, p50, p99, and throughput per second."""
    for i in range(warmup):
        step(i)
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        step(i)
        times[i] = time.perf_counter() - t0
    ms = times * 1000.0
    return {
        "ms_mean": float(ms.mean()),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p99": float(np.percentile(ms, 99)),
        "per_second": float(1000.0 / ms.mean()),
    }


def format_report(results: dict[str, dict[str, float]], timing: dict[str, float] | None = None) -> list[str]:
    """Lines comparing ``results`` (``surrogate``, ``linear``, ``zero`` → metrics) for a person to read."""
    keys = (
        "mae_um",
        "rmse_um",
        "r2",
        "r2_x",
        "r2_y",
        "mae_x_um",
        "mae_y_um",
        "p50_um",
        "p90_um",
        "p95_um",
        "p99_um",
    )
    names = list(results)
    lines = ["metric       " + "".join(f"{n:>14}" for n in names)]
    for k in keys:
        lines.append(f"{k:<13}" + "".join(f"{results[n][k]:>14.3f}" for n in names))
    if timing:
        lines.append(
            f"inference: {timing['ms_mean']:.3f} ms/sample mean, p50 {timing['ms_p50']:.3f}, "
            f"p99 {timing['ms_p99']:.3f} ms ({timing['per_second']:.0f} samples/s)"
        )
    if "surrogate" in results and "linear" in results:
        s, lin = results["surrogate"], results["linear"]
        if s["rmse_um"] < lin["rmse_um"] and s["mae_um"] < lin["mae_um"]:
            gain = 100.0 * (1.0 - s["rmse_um"] / lin["rmse_um"])
            lines.append(f"verdict: the surrogate beats the linear baseline (RMSE {gain:.1f}% lower).")
        else:
            lines.append(
                "verdict: the surrogate does NOT beat the linear second-order baseline; it has learned "
                "nothing the linear physics does not already give."
            )
    return lines
