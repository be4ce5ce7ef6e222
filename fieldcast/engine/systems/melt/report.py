"""The melt system's report pictures: grain maps as IPF colours, and the error at the solidification front.

The front is the cells that solidified during the horizon: liquid in the last given frame (no grain, all
nine IPF channels zero) and solid in the true predicted frame, as the trainer's front metric defines it.
That is where a melt surrogate has to work, and where its error is compared with the error elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldcast.engine.report_systems import Picture, ReportInputs, register_pictures

__all__ = ["melt_pictures"]

_DIRECTIONS = ("x", "y", "z")


def _rgb(fields: np.ndarray, names: list[str], direction: str) -> np.ndarray | None:
    """(ny, nx, 3) image of one IPF direction, clipped to [0, 1]; None when a channel is missing."""
    try:
        idx = [names.index(f"ipf_{direction}_{c}") for c in "rgb"]
    except ValueError:
        return None
    return np.clip(np.transpose(fields[idx], (2, 1, 0)), 0.0, 1.0)


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _front_picture(case: dict[str, Any], names: list[str]) -> Picture | None:
    truth, pred, before = (np.asarray(case[k], np.float64) for k in ("truth", "model", "persistence"))
    if _rgb(truth, names, "x") is None:
        return None
    front = (np.abs(before).sum(axis=0) == 0) & (np.abs(truth).sum(axis=0) > 0)  # (nx, ny)
    error = np.mean(np.abs(pred - truth), axis=0)
    fig = _figure(13.0, 4.4)
    axes = fig.subplots(1, 4)
    for ax, (image, title) in zip(axes[:2], ((truth, "truth"), (pred, "prediction")), strict=True):
        ax.imshow(_rgb(image, names, "x"), origin="lower", interpolation="nearest")
        ax.contour(front.T.astype(float), levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(f"IPF-x colours: {title} (white: front)", fontsize=9)
        ax.set_xlabel("x (cells)")
        ax.set_ylabel("y (cells)")
    shown = axes[2].imshow(error.T, origin="lower", cmap="magma", interpolation="nearest")
    axes[2].contour(front.T.astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
    axes[2].set_title("mean |error| over the 9 IPF channels", fontsize=9)
    fig.colorbar(shown, ax=axes[2], shrink=0.8, label="|error| (IPF colour, 0..1)")
    inside = float(error[front].mean()) if front.any() else float("nan")
    outside = float(error[~front].mean()) if (~front).any() else float("nan")
    base = np.mean(np.abs(before - truth), axis=0)
    base_in = float(base[front].mean()) if front.any() else float("nan")
    labels = ["front: model", "front: persistence", "elsewhere: model"]
    values = [inside, base_in, outside]
    bars = axes[3].bar(labels, values, color=["tab:blue", "tab:gray", "tab:cyan"])
    axes[3].bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=8)
    axes[3].set_ylabel("mean |error| (IPF colour, 0..1)")
    axes[3].set_title(f"error at the front ({int(front.sum())} cells) and elsewhere", fontsize=9)
    axes[3].tick_params(axis="x", labelsize=7, rotation=15)
    fig.suptitle(
        f"Solidification front — trajectory {case['trajectory']}, {case['horizon']} frame(s) predicted",
        fontsize=10,
    )
    caption = (
        "Front: cells liquid in the last given frame and solid in the true frame. Persistence keeps the "
        "last given grain map, so it is wrong exactly at the front."
    )
    return Picture("Error at the solidification front", fig, caption)


def _ipf_picture(truth: np.ndarray, pred: np.ndarray, names: list[str], title: str) -> Picture | None:
    directions = [d for d in _DIRECTIONS if _rgb(truth, names, d) is not None]
    if not directions:
        return None
    fig = _figure(3.6 * len(directions), 6.4)
    axes = fig.subplots(2, len(directions), squeeze=False)
    for c, d in enumerate(directions):
        for r, (fields, what) in enumerate(((truth, "truth"), (pred, "prediction"))):
            ax = axes[r, c]
            ax.imshow(_rgb(fields, names, d), origin="lower", interpolation="nearest")
            ax.set_title(f"IPF-{d}: {what}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return Picture(
        "Grain orientations (IPF colours)", fig, "Inverse pole figure colours of the three sample axes."
    )


def melt_pictures(inputs: ReportInputs) -> list[Picture]:
    """The IPF maps of a test case (or of the newest validation samples) and the error at the front."""
    pictures: list[Picture] = []
    r = inputs.evaluation
    cases = (r or {}).get("arrays", {}).get("cases") or []
    if cases:
        names = list(r["arrays"]["names"])
        case = cases[0]
        title = f"Test case: trajectory {case['trajectory']}, {case['horizon']} frame(s) predicted"
        pictures.append(_ipf_picture(np.asarray(case["truth"]), np.asarray(case["model"]), names, title))
        pictures.append(_front_picture(case, names))
    elif inputs.samples is not None and inputs.samples.truth.ndim == 4:
        s = inputs.samples
        title = f"Newest validation samples (epoch {s.epoch})"
        pictures.append(_ipf_picture(s.truth[0], s.prediction[0], list(s.channels), title))
    return [p for p in pictures if p is not None]


register_pictures("melt", melt_pictures)
