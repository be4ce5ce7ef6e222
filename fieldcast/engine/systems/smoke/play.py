"""Play-time rules of the smoke system: re-imposing the user's controls on a surrogate's prediction.

A surrogate only *learns* that colliders hold no flow and that emitters make smoke; at play time the engine
enforces it every frame, as the reference solver does (:meth:`SmokeSolver._emit` and the projection's solid
cells). Fields are the state channels as (nx, ny) planes (``density``, ``velocity_x``, ``velocity_y``),
modified in place so a rollout step allocates nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np
from scipy.ndimage import maximum_filter1d

from fieldcast.engine.metrics import divergence_norm

__all__ = [
    "BOUND_TOLERANCE",
    "DEFAULT_EMITTER_RATE",
    "DEFAULT_EMITTER_VELOCITY",
    "DENSITY_MAX",
    "SPEED_MAX",
    "advected_bound",
    "impose_controls",
    "step_stats",
]

DEFAULT_EMITTER_RATE = 0.2  # density per frame where the emitter mask is 1 (as SmokeControls)
DEFAULT_EMITTER_VELOCITY = (0.0, 0.5)  # cells/frame, upwards
DENSITY_MAX = 1.0  # the reference solver's emitters fill up to this, and advection never exceeds it
# Fastest flow the reference solver produces in its scenes is about 2.5 cells/frame; a surrogate's
# velocity beyond this bound is error, and left alone it would feed on itself over a long rollout.
SPEED_MAX = 4.0
# A bound "changed" a cell when it moved its density (or speed) by more than this.
BOUND_TOLERANCE = 1e-3


def impose_controls(
    fields: MutableMapping[str, np.ndarray],
    controls: Mapping[str, np.ndarray],
    force: np.ndarray | None = None,
    previous: Mapping[str, np.ndarray] | None = None,
    *,
    bounds: bool = True,
    frames: int = 1,
) -> dict[str, float]:
    """Re-impose emitters, colliders and user forces on one predicted frame, in place.

    Parameters
    ----------
    fields : ``density`` (1), ``velocity_x`` and ``velocity_y`` (cells/frame), each (nx, ny) float32.
    controls : ``emitter`` mask in [0, 1] and ``collider`` mask (solid above 0.5), (nx, ny); optional
        ``emitter_rate`` (density/frame, scalar or (nx, ny); default 0.2) and ``emitter_velocity``
        (cells/frame, (2,) or (nx, ny, 2); default (0, 0.5)). A rate of 0 leaves the density to the model.
        Density is then kept within [0, DENSITY_MAX].
    force : (nx, ny, 2) velocity added this frame, cells/frame (a user's drag), or None.
    previous : the frame before this one (``density`` at least), or None.
    bounds : apply the safety net for models that cannot run alone: smoke obeys the maximum principle of
        advection (see :func:`advected_bound`), the total may not grow beyond what was there plus what the
        emitters can add in ``frames`` frames and what the re-imposition adds, and speed stays below
        SPEED_MAX. Without it only the controls and the [0, 1] density range are imposed, as an engine
        hosting the model would do.
    frames : simulated frames the model advanced in this step (the advection bound reaches that far).

    Returns
    -------
    What the bounds changed: ``bounded_cells`` (share of cells whose density or speed a bound moved by more
    than ``BOUND_TOLERANCE``), ``advection_cells``, ``budget_cells`` and ``speed_cells`` (the same per
    bound) and ``smoke_removed`` (density the bounds took away, summed over the grid). All zero when
    ``bounds`` is off.
    """
    rho, vx, vy = fields["density"], fields["velocity_x"], fields["velocity_y"]
    n_cells = rho.size
    readout = dict.fromkeys(
        ("bounded_cells", "advection_cells", "budget_cells", "speed_cells", "smoke_removed"), 0.0
    )
    changed = np.zeros(rho.shape, bool) if bounds else None
    if force is not None:
        vx += force[..., 0]
        vy += force[..., 1]
    emitter = controls.get("emitter")
    rate = np.asarray(controls.get("emitter_rate", DEFAULT_EMITTER_RATE), np.float32)
    budget = None
    removed = 0.0
    if bounds and previous is not None and "density" in previous:
        source = previous["density"]
        if emitter is not None and emitter.any() and np.any(rate):
            # Emitters are sources: what they put in during the step may travel from them too.
            source = np.maximum(source, np.minimum(frames * rate * emitter, DENSITY_MAX))
        limit = advected_bound(source, vx, vy, frames)
        over = rho - limit > BOUND_TOLERANCE
        readout["advection_cells"] = float(over.sum()) / n_cells
        changed |= over
        removed += float(np.maximum(rho - limit, 0.0).sum(dtype=np.float64))
        np.minimum(rho, limit, out=rho)
        # Advection conserves smoke and only emitters add it: the total may not grow beyond what was
        # there plus what the emitters put in this frame.
        budget = float(previous["density"].sum(dtype=np.float64))
    if emitter is not None and emitter.any():
        if np.any(rate):
            if budget is not None:
                # The model's step had its emitters running in each of its frames, and the re-imposition
                # below adds what it adds on top (a model that already injected, as the solver's data do,
                # gets a frame's worth more): the budget counts both.
                budget += frames * float(np.sum(rate * emitter, dtype=np.float64))
            # Add smoke up to saturation but never remove any, like the solver's inflow.
            before = float(rho.sum(dtype=np.float64))
            np.maximum(rho, np.minimum(rho + rate * emitter, 1.0), out=rho)
            if budget is not None:
                budget += float(rho.sum(dtype=np.float64)) - before
        ev = np.asarray(controls.get("emitter_velocity", DEFAULT_EMITTER_VELOCITY), np.float32)
        evx, evy = (ev[..., 0], ev[..., 1]) if ev.ndim == 3 else (ev[0], ev[1])
        # Relax towards the emitter velocity in proportion to the mask (fully imposed where it is 1).
        vx += emitter * (evx - vx)
        vy += emitter * (evy - vy)
    collider = controls.get("collider")
    if collider is not None:
        solid = collider > 0.5
        if solid.any():
            vx[solid] = 0.0
            vy[solid] = 0.0
            rho[solid] = 0.0
    np.clip(rho, 0.0, DENSITY_MAX, out=rho)
    if not bounds:
        return readout
    if budget is not None:
        total = float(rho.sum(dtype=np.float64))
        if total > budget:
            scale = np.float32(budget / total) if budget > 0.0 else np.float32(0.0)
            moved = rho * (1.0 - scale) > BOUND_TOLERANCE
            readout["budget_cells"] = float(moved.sum()) / n_cells
            changed |= moved
            removed += total - max(budget, 0.0)
            rho *= scale
    speed2 = vx * vx
    speed2 += vy * vy
    fast = speed2 > (SPEED_MAX + BOUND_TOLERANCE) ** 2
    if fast.any():
        readout["speed_cells"] = float(fast.sum()) / n_cells
        changed |= fast
        scale = SPEED_MAX / np.sqrt(speed2[fast])
        vx[fast] *= scale
        vy[fast] *= scale
    readout["bounded_cells"] = float(changed.sum()) / n_cells
    readout["smoke_removed"] = removed
    return readout


def advected_bound(previous: np.ndarray, vx: np.ndarray, vy: np.ndarray, frames: int = 1) -> np.ndarray:
    """Largest density each cell can hold after ``frames`` frames of advection, (nx, ny).

    Advection moves smoke along the flow without creating it: the value arriving at a cell comes from
    its departure point upstream, so it cannot exceed the densest previous cell around that point. The
    departure point is traced back along the new velocity for ``frames`` frames; a margin of one cell per
    frame around it tolerates a surrogate's velocity error and the flow's change along the way.
    """
    nx, ny = previous.shape
    size = 2 * max(1, frames) + 1  # a square window, as two 1-D passes (several times faster than one 2-D)
    neighbourhood = maximum_filter1d(previous, size, axis=0, mode="nearest")
    neighbourhood = maximum_filter1d(neighbourhood, size, axis=1, mode="nearest")
    ix = np.rint(np.arange(nx, dtype=np.float32)[:, None] - frames * vx).astype(np.intp)
    iy = np.rint(np.arange(ny, dtype=np.float32)[None, :] - frames * vy).astype(np.intp)
    np.clip(ix, 0, nx - 1, out=ix)
    np.clip(iy, 0, ny - 1, out=iy)
    return neighbourhood[ix, iy]


def step_stats(fields: Mapping[str, np.ndarray]) -> dict[str, float | bool]:
    """Physics statistics of one smoke frame: total and maximum density, divergence norm, all finite."""
    rho, vx, vy = fields["density"], fields["velocity_x"], fields["velocity_y"]
    finite = bool(np.isfinite(rho).all() and np.isfinite(vx).all() and np.isfinite(vy).all())
    return {
        "total_smoke": float(rho.sum(dtype=np.float64)),
        "max_density": float(rho.max()),
        "divergence_norm": float(divergence_norm(vx, vy)) if finite else float("nan"),
        "finite": finite,
    }
