"""The training pictures of a report, drawn from a run folder's records and saved samples.

Loss and learning-rate curves, validation metrics by channel against steps (baselines dashed), the
rollout error against horizon at each validation, truth / prediction / difference of a validation's
samples, the progression of the first and last validations, and the per-sample loss distribution.
Each function returns a matplotlib figure (Agg only, no pyplot state) or None when the run has nothing to
draw; losses and errors are drawn on log axes, fields with a colour bar in the channel's unit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "BASELINE_PREFIXES",
    "curves_figure",
    "is_error",
    "log_if_any_positive",
    "field_triplets",
    "is_score",
    "loss_distribution_figure",
    "progression_figure",
    "validation_figure",
    "validation_metric_names",
    "validation_rollout_figure",
]

#: prefixes of the baselines a validation metric is compared with (copy the last state, predict zero,
#: the system's linear filter)
BASELINE_PREFIXES = ("persistence_", "zero_", "linear_")
_NOT_METRICS = {"kind", "epoch", "step", "time", "rollout", "loss"}
_COUNTS = ("cells", "samples", "windows")
_MAX_LINES = 8  # metric curves per panel; more make the legend unreadable
_MAX_ROWS = 4  # channels drawn per sample grid


def figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    """A figure on the Agg canvas; grids of images pass ``layout=None`` and place their axes themselves
    (the constrained layout costs most of a report's time on a grid of fields)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def _grid_spacing(fig: Any, rows: int, top_inches: float = 0.55) -> None:
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=0.03, right=0.93, bottom=0.02, top=1 - top_inches / height, wspace=0.35, hspace=0.3
    )


def is_score(name: str) -> bool:
    """A score that is better when higher and may be negative (R², correlation)."""
    base = name.split("/")[-1]
    return base in ("r2", "corr") or base.startswith(("r2_", "corr_")) or name.startswith(("r2", "corr"))


def validation_metric_names(validations: Sequence[dict[str, Any]]) -> list[str]:
    """The numeric metrics of the validation records (not the loss, counts or the rollout dict)."""
    names: dict[str, None] = {}
    for record in validations:
        for key, value in record.items():
            if key in _NOT_METRICS or key.endswith(_COUNTS) or isinstance(value, (dict, list, bool)):
                continue
            if isinstance(value, (int, float)) or value in ("nan", "inf", "-inf"):
                names[key] = None
    return list(names)


def _series(validations: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    for record in validations:
        value = record.get(key)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                values.append(float(value))
            except ValueError:
                continue
            steps.append(int(record.get("step", 0)))
    return np.asarray(steps), np.asarray(values, np.float64)


def _log_if_positive(ax: Any, *arrays: np.ndarray) -> None:
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    values = values[np.isfinite(values)]
    if values.size and np.all(values > 0):
        ax.set_yscale("log")


def log_if_any_positive(ax: Any, *arrays: np.ndarray) -> None:
    """Log axis when any value is positive (errors of exactly zero are left off, as on any log plot)."""
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    if np.any(values[np.isfinite(values)] > 0):
        ax.set_yscale("log")


def curves_figure(steps: dict[str, np.ndarray], validations: Sequence[dict[str, Any]], events=()) -> Any:
    """Training loss (every logged step) and validation loss against steps, and the learning rate."""
    if "loss" not in steps and not any("loss" in v for v in validations):
        return None
    fig = figure(11.0, 4.2)
    ax_loss, ax_lr = fig.subplots(1, 2, width_ratios=(3, 2))
    drawn = []
    if "loss" in steps and len(steps["step"]):
        ax_loss.plot(
            steps["step"], steps["loss"], lw=0.8, color="tab:blue", label="training loss (logged steps)"
        )
        drawn.append(steps["loss"])
    vs, vl = _series(validations, "loss")
    if len(vs):
        ax_loss.plot(vs, vl, "o-", ms=3, lw=1.2, color="tab:red", label="validation loss")
        drawn.append(vl)
    bs, bl = _series(validations, "persistence_loss")
    if len(bs):
        ax_loss.plot(bs, bl, ls="--", lw=1.0, color="tab:red", label="persistence baseline (validation)")
        drawn.append(bl)
    _log_if_positive(ax_loss, *drawn)
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("loss (task units)")
    ax_loss.set_title("Loss", fontsize=10)
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend(fontsize=8)
    if "lr" in steps and len(steps["step"]):
        ax_lr.plot(steps["step"], steps["lr"], lw=1.0, color="tab:green")
        _log_if_positive(ax_lr, steps["lr"])
        for event in events:
            if event.get("kind") == "lr_change":
                ax_lr.axvline(float(event.get("step", 0)), color="0.5", lw=0.6, ls=":")
        ax_lr.set_title("Learning rate (dotted: changes)", fontsize=10)
    else:
        ax_lr.text(0.5, 0.5, "no learning rate logged", ha="center", va="center", transform=ax_lr.transAxes)
        ax_lr.set_title("Learning rate", fontsize=10)
    ax_lr.set_xlabel("optimizer step")
    ax_lr.set_ylabel("learning rate (1/step)")
    ax_lr.grid(alpha=0.3, which="both")
    return fig


_ERROR = re.compile(r"(^|[_/])(n?mse|mae|rmse|p\d\d)($|[_/])")


def is_error(name: str) -> bool:
    """An error metric (MSE, MAE, RMSE, a percentile of the error): drawn on a log axis."""
    return bool(_ERROR.search(name))


def _metric_groups(names: Sequence[str]) -> list[tuple[list[str], str]]:
    """The metrics in panels (errors, scores, other physics metrics); baselines go beside their metric."""
    plain = [n for n in names if not n.startswith(BASELINE_PREFIXES)]
    errors = [n for n in plain if is_error(n)]
    scores = [n for n in plain if n not in errors and is_score(n)]
    other = [n for n in plain if n not in errors and n not in scores]
    panels = [(errors, "error"), (scores, "score"), (other, "physics metric")]
    return [p for p in panels if p[0]]


def _unit_of(name: str) -> str:
    if name.endswith("_um"):
        return "µm"
    if name.startswith(("mse/", "nmse")) or name.endswith("mse"):
        return "normalised"
    return ""


_Y_LABELS = {
    "error": "error (each metric's unit, see legend)",
    "score": "score (1 is perfect)",
    "physics metric": "value (the metric's own unit)",
}


def validation_figure(validations: Sequence[dict[str, Any]]) -> Any:
    """Each validation metric against steps: errors by channel on a log axis, scores and physics metrics
    in panels of their own; the baselines of a metric dashed in its colour."""
    panels = _metric_groups(validation_metric_names(validations))
    if not panels:
        return None
    fig = figure(11.0, 1.2 + 3.4 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    from matplotlib import colormaps

    colours = colormaps["tab10"]
    for ax, (group, label) in zip(axes, panels, strict=True):
        drawn = []
        for i, name in enumerate(group[:_MAX_LINES]):
            steps, values = _series(validations, name)
            colour = colours(i % 10)
            unit = _unit_of(name)
            name_unit = f"{name} ({unit})" if unit else name
            ax.plot(steps, values, "o-", ms=3, lw=1.2, color=colour, label=name_unit)
            drawn.append(values)
            for prefix in BASELINE_PREFIXES:
                bs, bv = _series(validations, prefix + name)
                if len(bs):
                    baseline = f"{prefix.rstrip('_')} baseline of {name}"
                    ax.plot(bs, bv, ls="--", lw=1.0, color=colour, label=baseline)
                    drawn.append(bv)
        if label == "error":
            log_if_any_positive(ax, *drawn)
        more = f" (first {_MAX_LINES} of {len(group)})" if len(group) > _MAX_LINES else ""
        ax.set_title(f"Validation {label}s{more}; dashed: baselines", fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(_Y_LABELS[label])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2, loc="best")
    return fig


def validation_rollout_figure(validations: Sequence[dict[str, Any]]) -> Any:
    """The validation rollout error against horizon, one line per validation (a few spread over the run)."""
    with_rollout = [v for v in validations if isinstance(v.get("rollout"), dict) and v["rollout"]]
    if not with_rollout:
        return None
    picks = np.unique(np.linspace(0, len(with_rollout) - 1, min(len(with_rollout), 6)).round().astype(int))
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    fig = figure(8.0, 4.4)
    ax = fig.subplots()
    drawn = []
    for j, i in enumerate(picks):
        record = with_rollout[i]
        pairs = sorted((int(h), float(v)) for h, v in record["rollout"].items() if _finite_number(v))
        if not pairs:
            continue
        h, v = np.asarray(pairs).T
        colour = cmap(j / max(1, len(picks) - 1))
        ax.plot(
            h,
            v,
            "o-",
            color=colour,
            ms=4,
            label=f"epoch {int(record.get('epoch', 0)) + 1}, step {record.get('step')}",
        )
        drawn.append(v)
    _log_if_positive(ax, *drawn)
    ax.set_xlabel("horizon (frames predicted)")
    ax.set_ylabel("normalised MSE (MSE / train-split variance)")
    ax.set_title("Validation rollout error against horizon, over training", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _limits(*images: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([np.ravel(i) for i in images])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _draw_field(
    fig: Any, ax: Any, image: np.ndarray, title: str, unit_label: str, lo: float, hi: float, cmap: str
) -> None:
    shown = ax.imshow(
        np.asarray(image).T, origin="lower", cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest"
    )
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if unit_label:  # one colour bar for truth and prediction (they share it), one for the error
        fig.colorbar(shown, ax=ax, shrink=0.85, label=unit_label)


def _unit_label(name: str, units: dict[str, str]) -> str:
    unit = {"um": "µm", "1": ""}.get(units.get(name, ""), units.get(name, ""))
    return f"{name} ({unit})" if unit else name


def field_triplets(
    rows: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str, units: dict[str, str] | None = None
) -> Any:
    """One row per ``(label, truth, prediction)`` of 2D fields: truth | prediction | prediction − truth."""
    units = units or {}
    if not rows:
        return None
    fig = figure(11.0, 0.8 + 2.9 * len(rows), layout=None)
    axes = fig.subplots(len(rows), 3, squeeze=False)
    _grid_spacing(fig, len(rows))
    for r, (label, truth, pred) in enumerate(rows):
        channel = label.split(" — ")[-1]
        lo, hi = _limits(truth, pred)
        err = np.asarray(pred, np.float64) - truth
        bound = float(np.nanmax(np.abs(err))) if np.isfinite(err).any() else 1.0
        bound = bound if bound > 0 else 1.0
        unit = _unit_label(channel, units)
        _draw_field(fig, axes[r, 0], truth, f"{label}: truth", "", lo, hi, "viridis")
        _draw_field(fig, axes[r, 1], pred, f"{label}: prediction", unit, lo, hi, "viridis")
        _draw_field(fig, axes[r, 2], err, f"{label}: prediction − truth", unit, -bound, bound, "RdBu_r")
    fig.suptitle(title, fontsize=10)
    return fig


def progression_figure(
    samples: Sequence[Any], title: str, channel: int = 0, units: dict[str, str] | None = None
) -> Any:
    """Validations side by side (columns): truth, prediction and difference of the first sample's channel."""
    samples = [s for s in samples if s.truth.ndim == 4 and s.truth.shape[0] > 0]
    if not samples:
        return None
    units = units or {}
    name = samples[-1].channels[channel]
    fig = figure(2.6 * len(samples) + 1.0, 7.2, layout=None)
    axes = fig.subplots(3, len(samples), squeeze=False)
    _grid_spacing(fig, 3)
    lo, hi = _limits(*(s.truth[0, channel] for s in samples), *(s.prediction[0, channel] for s in samples))
    diffs = [s.prediction[0, channel].astype(np.float64) - s.truth[0, channel] for s in samples]
    bound = max((float(np.nanmax(np.abs(d))) for d in diffs if np.isfinite(d).any()), default=1.0) or 1.0
    for c, (s, diff) in enumerate(zip(samples, diffs, strict=True)):
        when = f"epoch {s.epoch}"
        for r, (image, what, a, b, cmap) in enumerate(
            (
                (s.truth[0, channel], "truth", lo, hi, "viridis"),
                (s.prediction[0, channel], "prediction", lo, hi, "viridis"),
                (diff, "difference", -bound, bound, "RdBu_r"),
            )
        ):
            ax = axes[r, c]
            shown = ax.imshow(
                np.asarray(image).T, origin="lower", cmap=cmap, vmin=a, vmax=b, interpolation="nearest"
            )
            ax.set_title(f"{when}: {what}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == len(samples) - 1:
                fig.colorbar(shown, ax=axes[r, :].tolist(), shrink=0.8, label=_unit_label(name, units))
    fig.suptitle(f"{title} — {name} of the first sample; shared colour scales", fontsize=10)
    return fig


def loss_distribution_figure(latest: Any, first: Any = None) -> Any:
    """Histogram of the per-sample loss of the newest validation (and of the first, for comparison)."""
    if latest is None or latest.losses.size == 0:
        return None
    fig = figure(8.0, 4.2)
    ax = fig.subplots()
    sets = [(latest, "tab:blue")] + (
        [(first, "tab:gray")] if first is not None and first.epoch != latest.epoch else []
    )
    values = np.concatenate([s.losses[np.isfinite(s.losses)] for s, _ in sets])
    positive = values[values > 0]
    if positive.size == values.size and values.size and positive.max() > positive.min():
        edges = np.geomspace(positive.min(), positive.max(), 31)
        ax.set_xscale("log")
    else:
        edges = 30
    for s, colour in sets:
        finite = s.losses[np.isfinite(s.losses)]
        label = (
            f"epoch {s.epoch}: {finite.size} samples, median {np.median(finite):.3g}"
            if finite.size
            else f"epoch {s.epoch}"
        )
        ax.hist(
            finite,
            bins=edges,
            histtype="stepfilled" if colour == "tab:blue" else "step",
            alpha=0.6,
            lw=1.4,
            color=colour,
            label=label,
        )
    ax.set_xlabel("per-sample MSE (physical units squared)")
    ax.set_ylabel("samples")
    ax.set_title("Per-sample loss distribution of the newest validation (grey: the first)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
