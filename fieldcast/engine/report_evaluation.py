"""The evaluation pictures a report adds to those of :mod:`fieldcast.engine.report_plots`: physics metrics of
the prediction against the truth over horizons (field models), and the error along the stream (sequence
models, whose horizon is the time since the stream started)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldcast.engine import report_figures as rf

__all__ = ["STREAM_CAPTION", "physics_figure", "stream_error_figure"]

STREAM_CAPTION = (
    "A sequence model streams whole trajectories: its horizon is the time since the stream started. Mean "
    "|error| over the evaluated trajectories in bins of time, model and baselines."
)


def stream_error_figure(r: dict[str, Any]) -> Any:
    """Mean |error| against time since the start of the stream, model and each baseline (sequence models)."""
    arrays = r["arrays"]
    length = max(len(t) for t in arrays["truth"])
    edges = np.unique(np.linspace(0, length, min(length, 60) + 1).astype(int))
    fig = rf.figure(9.0, 4.4)
    ax = fig.subplots()
    colours = {"model": "tab:blue", "physics": "tab:orange", "linear": "tab:green", "persistence": "tab:gray"}
    for key, colour in colours.items():
        if key not in arrays:
            continue
        sums, counts = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
        for truth, pred in zip(arrays["truth"], arrays[key], strict=True):
            err = np.abs(np.asarray(pred, np.float64) - truth).mean(axis=1)
            bins = np.searchsorted(edges, np.arange(len(err)), side="right") - 1
            np.add.at(sums, bins, err)
            np.add.at(counts, bins, 1)
        label = "model" if key == "model" else f"{r['baseline_names'].get(key, key)} ({key})"
        t = edges[:-1] * float(arrays["dt"])
        ax.plot(t, sums / np.maximum(counts, 1), color=colour, lw=1.3, label=label)
    unit = {"um": "µm"}.get(arrays["units"][0], arrays["units"][0])
    ax.set_xlabel(f"time since the stream started ({arrays['time_units']})")
    ax.set_ylabel(f"mean |error| over channels ({unit})")
    ax.set_title(f"Error along the stream — {r['n_trajectories']} trajectories", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def physics_figure(r: dict[str, Any]) -> Any:
    horizons = sorted(int(h) for h in r["horizons"])
    first = r["horizons"][horizons[0]] if horizons[0] in r["horizons"] else r["horizons"][str(horizons[0])]
    keys = [
        k for k in first if not k.startswith(("truth/", "rmse/")) and k != "nmse" and f"truth/{k}" in first
    ]
    if not keys:
        return None
    fig = rf.figure(4.0 * len(keys), 3.8)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, k in zip(axes, keys, strict=True):
        recs = [r["horizons"].get(h, r["horizons"].get(str(h))) for h in horizons]
        ax.plot(horizons, [rec[k] for rec in recs], "o-", color="tab:blue", label="model")
        ax.plot(horizons, [rec[f"truth/{k}"] for rec in recs], "s--", color="black", label="truth")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("horizon (frames predicted)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig
