"""The trajectory system's report picture: the toolpath coloured by the tracking error.

The first evaluated trajectory's planned path (``x_ref``, ``y_ref`` read from the dataset) is drawn three
times, coloured by the magnitude of the true tracking error, of the model's error and of the physics
baseline's error, on one colour scale: where on the part the model misses is visible at a glance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldcast.engine.report_systems import Picture, ReportInputs, register_pictures

__all__ = ["trajectory_pictures"]

_MAX_POINTS = 20000  # path samples drawn (evenly thinned beyond)


def _path(inputs: ReportInputs, traj: int, start: int, stop: int) -> np.ndarray:
    from fieldcast.engine.data import open_dataset

    with open_dataset(inputs.data) as ds:
        names = list(ds.channel_names)
        if "x_ref" not in names or "y_ref" not in names:
            raise ValueError(f"{inputs.data}: no x_ref / y_ref channels to draw the toolpath")
        window = ds.read_window(traj, start, stop - start)[:, :, 0, 0]  # (T, C)
    return np.stack([window[:, names.index("x_ref")], window[:, names.index("y_ref")]], axis=1)


def _toolpath_picture(inputs: ReportInputs) -> Picture | None:
    r = inputs.evaluation
    arrays = r["arrays"]
    traj, start, stop = arrays["segments"][0]
    xy = _path(inputs, traj, start, stop)
    truth = np.asarray(arrays["truth"][0], np.float64)
    shown = {"true tracking error": truth}
    shown["model error"] = np.asarray(arrays["model"][0], np.float64) - truth
    if "physics" in arrays:
        name = r.get("baseline_names", {}).get("physics", "physics baseline")
        shown[f"{name} error"] = np.asarray(arrays["physics"][0], np.float64) - truth
    pick = np.linspace(0, len(xy) - 1, min(len(xy), _MAX_POINTS)).astype(int)
    magnitudes = {k: np.hypot(v[pick, 0], v[pick, 1]) for k, v in shown.items()}
    top = float(np.percentile(np.concatenate(list(magnitudes.values())), 99)) or 1.0
    unit = {"um": "µm"}.get(arrays["units"][0], arrays["units"][0])
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * len(shown), 4.8), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, (title, mag) in zip(axes, magnitudes.items(), strict=True):
        points = ax.scatter(xy[pick, 0], xy[pick, 1], c=mag, s=2, cmap="inferno", vmin=0, vmax=top)
        ax.set_title(f"{title}: mean {mag.mean():.3g} {unit}", fontsize=9)
        ax.set_xlabel("x_ref (mm)")
        ax.set_ylabel("y_ref (mm)")
        ax.set_aspect("equal", adjustable="datalim")
    fig.colorbar(points, ax=axes.tolist(), shrink=0.85, label=f"|error| ({unit})")
    fig.suptitle(f"Toolpath coloured by tracking error — trajectory {traj}, {len(xy)} samples", fontsize=10)
    return Picture(
        "Toolpath coloured by error", fig, "One colour scale for all three (its top at the 99th percentile)."
    )


def trajectory_pictures(inputs: ReportInputs) -> list[Picture]:
    """The toolpath coloured by error, when a model was evaluated on a dataset."""
    r: dict[str, Any] | None = inputs.evaluation
    if r is None or "arrays" not in r or inputs.data is None or r.get("task") != "sequence":
        return []
    picture = _toolpath_picture(inputs)
    return [picture] if picture is not None else []


register_pictures("trajectory", trajectory_pictures)
