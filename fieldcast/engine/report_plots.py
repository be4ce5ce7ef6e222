"""The files of an evaluation a user can read: ``metrics.json`` and PNG pictures of the model's error.

:func:`write_metrics` writes the result of :func:`fieldcast.engine.evaluate.iter_evaluate_model` as JSON
(NaN written as ``null``); :func:`write_plots` draws the pictures from the arrays that evaluation keeps
with ``keep_arrays=True``:

* a sequence model: ``error_over_time.png`` (truth, model and physics baseline along the first evaluated
  trajectory, one panel per output channel), ``scatter.png`` (the model's prediction against the truth),
  ``error_histogram.png`` (the residuals of the model and of each baseline) and ``axis_metrics.png`` (MAE,
  RMSE and R² per channel for the model and each baseline);
* a field model (feed-forward or recurrent): ``rollout_error.png`` (the error against the number of
  predicted frames, model and persistence) and ``rollout_case.png`` (truth, prediction and error of one
  test case at the longest reported horizon).

The pictures show the model alone on the split it was evaluated on, which each title names. matplotlib is
imported only when pictures are drawn, and only its Agg canvas is used (no GUI backend, no global state).
Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.files import atomic_write

__all__ = [
    "METRICS_NAME",
    "atomic_write",
    "evaluation_figures",
    "json_ready",
    "plots_unavailable",
    "write_metrics",
    "write_plots",
]

METRICS_NAME = "metrics.json"


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made plain and NaN / infinity made None (valid JSON)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items() if k != "arrays"}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics(result: dict[str, Any], folder: Path) -> Path:
    """Write ``result`` (without its arrays) to ``folder/metrics.json``; returns the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / METRICS_NAME
    text = json.dumps(json_ready(result), indent=2, allow_nan=False)
    atomic_write(path, (text + "\n").encode("utf-8"))
    return path


def plots_unavailable() -> str | None:
    """Why pictures cannot be drawn here (matplotlib is not installed), or None when they can."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "pictures need matplotlib, which is not installed (pip install 'fieldcast[plots]')"
    return None


def _save(figure: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic_write(path, buffer.getvalue())
    return path


def write_plots(result: dict[str, Any], folder: Path) -> list[Path]:
    """Draw the pictures of ``result`` (evaluated with ``keep_arrays=True``) into ``folder``.

    Returns the paths written, in drawing order. ValueError when the result carries no arrays.
    """
    if "arrays" not in result:
        raise ValueError("the evaluation kept no arrays to draw (evaluate with keep_arrays=True)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [_save(figure, folder / name) for name, figure in evaluation_figures(result)]


def evaluation_figures(result: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(file name, matplotlib figure)`` of each picture of ``result`` (evaluated with ``keep_arrays``)."""
    if "arrays" not in result:
        raise ValueError("the evaluation kept no arrays to draw (evaluate with keep_arrays=True)")
    return _sequence_figures(result) if result["task"] == "sequence" else _field_figures(result)


# Shared pieces ----------------------------------------------------------------------------------------------

_COLOURS = {"truth": "black", "model": "tab:blue", "physics": "tab:orange", "persistence": "tab:gray"}
_MAX_TIME_SAMPLES = 6000  # one trajectory drawn over at most this many samples
_MAX_SCATTER = 20000  # points per scatter panel (a fixed random subset beyond that)
_MAX_CASE_CHANNELS = 4


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _unit(unit: str) -> str:
    return {"um": "µm", "1": ""}.get(unit, unit)


def _labelled(name: str, unit: str) -> str:
    """``error_x (µm)``, or the bare name for a dimensionless channel."""
    return f"{name} ({_unit(unit)})" if _unit(unit) else name


def _split_label(result: dict[str, Any]) -> str:
    """``test split``, or ``valid split`` with the reason when the test split could not be used."""
    label = f"{result['split']} split"
    moved = [n.split(";")[0] for n in result.get("notes") or () if n.startswith("the test split is")]
    return f"{label} ({moved[0]})" if moved else label


def _trajectories(n: int) -> str:
    return "1 trajectory" if n == 1 else f"{n} trajectories"


def _model_name(result: dict[str, Any]) -> str:
    return f"{Path(result.get('model', 'model')).name} ({result.get('variant', 'fp32')})"


# Sequence models --------------------------------------------------------------------------------------------


def _predictors(result: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, label)`` of the model and each baseline, in the order of the printed table."""
    names = result["baseline_names"]
    rows = [("model", "model")]
    rows += [("physics", names["physics"])] if "physics" in result["baselines"] else []
    return rows + [("persistence", names["persistence"])]


def _sequence_figures(result: dict[str, Any]) -> list[tuple[str, Any]]:
    arrays = result["arrays"]
    return [
        ("error_over_time.png", _error_over_time(result, arrays)),
        ("scatter.png", _scatter(result, arrays)),
        ("error_histogram.png", _histogram(result, arrays)),
        ("axis_metrics.png", _axis_metrics(result, arrays)),
    ]


# The physics baseline drawn behind the truth, the model in front of both.
_TIME_STYLES = {
    "truth": {"lw": 1.5, "zorder": 2},
    "model": {"lw": 1.2, "zorder": 3},
    "physics": {"lw": 0.9, "ls": "--", "alpha": 0.85, "zorder": 1},
}


def _error_over_time(result: dict[str, Any], arrays: dict[str, Any]) -> Any:
    names, units, dt = arrays["names"], arrays["units"], arrays["dt"]
    traj, start, _ = arrays["segments"][0]
    truth = arrays["truth"][0]
    shown = min(len(truth), _MAX_TIME_SAMPLES)
    t = (start + np.arange(shown)) * dt
    fig = _figure(11.0, 1.0 + 2.6 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    lines = [("truth", "truth")] + _predictors(result)[:-1]  # the zero line says nothing
    for j, ax in enumerate(axes):
        for key, label in lines:
            series = truth if key == "truth" else arrays[key][0]
            style = _TIME_STYLES.get(key, _TIME_STYLES["physics"])
            ax.plot(t, series[:shown, j], color=_COLOURS[key], label=label, **style)
        ax.axhline(0.0, color=_COLOURS["persistence"], lw=0.6)
        mae = "; ".join(
            f"{label} {np.mean(np.abs(arrays[key][0][:, j] - truth[:, j])):.3g}"
            for key, label in _predictors(result)
        )
        ax.set_title(f"{names[j]} — MAE on this trajectory: {mae} {_unit(units[j])}", fontsize=9, loc="left")
        ax.set_ylabel(_labelled(names[j], units[j]))
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", ncol=len(lines), fontsize=8)
    axes[-1].set_xlabel(f"time in trajectory {traj} ({arrays['time_units']})")
    part = f", its first {shown} of {len(truth)} samples" if shown < len(truth) else ""
    fig.suptitle(
        f"Truth and prediction over time — {_model_name(result)}, {_split_label(result)}, "
        f"trajectory {traj} (the first evaluated{part})"
    )
    return fig


def _scatter(result: dict[str, Any], arrays: dict[str, Any]) -> Any:
    names, units = arrays["names"], arrays["units"]
    truth, pred = np.concatenate(arrays["truth"]), np.concatenate(arrays["model"])
    pick = np.arange(len(truth))
    if len(pick) > _MAX_SCATTER:
        pick = np.sort(np.random.default_rng(0).choice(len(truth), _MAX_SCATTER, replace=False))
    fig = _figure(5.0 * len(names), 5.4)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for j, ax in enumerate(axes):
        x, y = truth[pick, j], pred[pick, j]
        ax.scatter(x, y, s=4, alpha=0.35, color=_COLOURS["model"], linewidths=0, label="model")
        finite = np.concatenate([x, y])
        finite = finite[np.isfinite(finite)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        ax.plot([lo, hi], [lo, hi], color="black", lw=1.0, ls="--", label="prediction = truth")
        text = [
            f"model: R² {_fmt(result['metrics'][f'r2/{names[j]}'])}, "
            f"corr {_fmt(result['metrics'][f'corr/{names[j]}'])}"
        ]
        for key, label in _predictors(result)[1:-1]:
            text.append(f"{label}: R² {_fmt(result['baselines'][key][f'r2/{names[j]}'])}")
        ax.text(
            0.03,
            0.97,
            "\n".join(text),
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"},
        )
        ax.set_xlabel(f"true {_labelled(names[j], units[j])}")
        ax.set_ylabel(f"predicted {_labelled(names[j], units[j])}")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    shown = f" (a random {len(pick)} shown)" if len(pick) < len(truth) else ""
    fig.suptitle(
        f"Predicted vs true — {_model_name(result)}, {_split_label(result)}, {len(truth)} samples{shown}"
    )
    return fig


def _fmt(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _histogram(result: dict[str, Any], arrays: dict[str, Any]) -> Any:
    names, units = arrays["names"], arrays["units"]
    truth = np.concatenate(arrays["truth"])
    fig = _figure(5.4 * len(names), 4.6)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for j, ax in enumerate(axes):
        residuals = {key: np.concatenate(arrays[key])[:, j] - truth[:, j] for key, _ in _predictors(result)}
        pooled = np.concatenate(list(residuals.values()))
        pooled = pooled[np.isfinite(pooled)]
        edges = np.linspace(pooled.min(), pooled.max(), 81) if pooled.size and np.ptp(pooled) > 0 else 80
        for key, label in _predictors(result):
            res = residuals[key][np.isfinite(residuals[key])]
            metrics = result["metrics"] if key == "model" else result["baselines"][key]
            pct = " / ".join(_fmt(metrics[f"p{q}/{names[j]}"]) for q in (50, 90, 99))
            ax.hist(
                res,
                bins=edges,
                histtype="step",
                lw=1.4,
                color=_COLOURS[key],
                label=f"{label}: |error| p50 / p90 / p99 = {pct} {_unit(units[j])}",
            )
        ax.set_yscale("log")
        ax.set_xlabel(f"prediction − truth, {_labelled(names[j], units[j])}")
        ax.set_ylabel("samples")
        ax.set_title(names[j])
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False)
    fig.suptitle(f"Error distribution — {_model_name(result)}, {_split_label(result)}, {len(truth)} samples")
    return fig


_R2_FLOOR = -1.0  # R² below this is drawn cut at the floor, its value written beside the bar


def _r2_text(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def _axis_metrics(result: dict[str, Any], arrays: dict[str, Any]) -> Any:
    names, units = arrays["names"], arrays["units"]
    groups = [(f"/{n}", n) for n in names]
    same_unit = len(set(units)) == 1
    if same_unit and len(names) > 1:
        groups.append(("", "all channels"))
    unit = _unit(units[0]) if same_unit else "each channel's unit"
    predictors = _predictors(result)
    fig = _figure(4.2 * 3, 4.8)
    axes = fig.subplots(1, 3)
    width = 0.8 / len(predictors)
    x = np.arange(len(groups))
    panels = [("mae", "MAE", f"MAE ({unit})"), ("rmse", "RMSE", f"RMSE ({unit})"), ("r2", "R²", "R²")]
    for ax, (metric, title, label) in zip(axes, panels, strict=True):
        cut = False
        for i, (key, name) in enumerate(predictors):
            metrics = result["metrics"] if key == "model" else result["baselines"][key]
            values = np.array([metrics[metric + suffix] for suffix, _ in groups], np.float64)
            heights = values
            if metric == "r2":
                heights = np.maximum(values, _R2_FLOOR)
                cut = cut or bool(np.any(values < _R2_FLOOR))
            text = [_r2_text(v) if metric == "r2" else _fmt(v) for v in values]
            offset = (i - (len(predictors) - 1) / 2) * width
            bars = ax.bar(x + offset, heights, width, label=name, color=_COLOURS[key])
            ax.bar_label(bars, labels=text, fontsize=7, padding=2)
        ax.set_xticks(x, [g for _, g in groups])
        ax.set_ylabel(label)
        ax.axhline(0.0, color="black", lw=0.6)
        if metric == "r2":
            ax.axhline(1.0, color="black", lw=0.6, ls=":")
            title += f" (bars below {_R2_FLOOR:g} cut; labels give the value)" if cut else ""
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.15)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(predictors), fontsize=9)
    fig.suptitle(f"Per-channel error, model and baselines — {_model_name(result)}, {_split_label(result)}")
    return fig


# Field models -----------------------------------------------------------------------------------------------


def _field_figures(result: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("rollout_error.png", _rollout_error(result)), ("rollout_case.png", _rollout_case(result))]


def _rollout_error(result: dict[str, Any]) -> Any:
    from matplotlib.ticker import MaxNLocator

    arrays, curve = result["arrays"], result["curve"]
    steps = np.arange(1, len(curve["model"]) + 1)
    fig = _figure(9.0, 5.0)
    ax = fig.subplots()
    reported = sorted(int(h) for h in result["horizons"])
    for key, label in (("model", "model"), ("persistence", "persistence (last true state)")):
        values = np.asarray(curve[key], np.float64)
        ax.plot(steps, values, color=_COLOURS[key], lw=1.5, label=label)
        ax.plot(reported, values[np.asarray(reported) - 1], "o", color=_COLOURS[key], ms=5)
    every = np.concatenate([curve["model"], curve["persistence"]])
    if np.all(np.isfinite(every)) and np.all(every > 0):
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"frames predicted after {result['given']} given frame(s)")
    ax.set_ylabel("normalised MSE (MSE / train-split variance)")
    dt, unit = arrays["dt"], arrays["time_units"]
    if unit != "frame" and dt > 0:
        top = ax.secondary_xaxis("top", functions=(lambda f: f * dt, lambda s: s / dt))
        top.set_xlabel(f"time ahead ({unit})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(title="dots: horizons in the table")
    fig.suptitle(
        f"Rollout error against horizon — {_model_name(result)}, {result.get('system', '?')}, "
        f"{_split_label(result)}, {_trajectories(result['n_trajectories'])}"
    )
    return fig


def _rollout_case(result: dict[str, Any]) -> Any:
    arrays = result["arrays"]
    case = arrays["case"]
    horizon = max(case["horizons"])
    fields = case["horizons"][horizon]
    names, units = arrays["names"], arrays["units"]
    rows = min(len(names), _MAX_CASE_CHANNELS)
    fig = _figure(12.0, 0.8 + 3.2 * rows)
    axes = fig.subplots(rows, 3, squeeze=False)
    for j in range(rows):
        truth, pred = fields["truth"][j], fields["model"][j]
        both = np.concatenate([truth.ravel(), pred.ravel()])
        both = both[np.isfinite(both)]
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
        err = pred - truth
        bound = float(np.nanmax(np.abs(err))) if np.isfinite(err).any() else 1.0
        bound = bound if bound > 0 else 1.0
        panels = [
            (truth, "truth", "viridis", lo, hi),
            (pred, "model prediction", "viridis", lo, hi),
            (err, "error (prediction − truth)", "RdBu_r", -bound, bound),
        ]
        for ax, (image, title, cmap, vmin, vmax) in zip(axes[j], panels, strict=True):
            shown = ax.imshow(
                image.T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
            )
            ax.set_title(f"{names[j]}: {title}", fontsize=9)
            ax.set_xlabel("x (cells)")
            ax.set_ylabel("y (cells)")
            fig.colorbar(shown, ax=ax, shrink=0.85, label=_labelled(names[j], units[j]))
    frame = case["start"] + result["given"] - 1 + horizon
    more = f"; channels 1–{rows} of {len(names)}" if rows < len(names) else ""
    fig.suptitle(
        f"{_model_name(result)} — {_split_label(result)}, trajectory {case['trajectory']}, frame {frame}: "
        f"{horizon} predicted after {result['given']} given{more}"
    )
    return fig
