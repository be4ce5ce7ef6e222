"""Play-time rules of the smoke system: re-imposing the user's controls on a surrogate's prediction.

A surrogate only *learns* that colliders hold no flow and that emitters make smoke; at play time the engine
enforces it every frame, as the reference solver does (:meth:`SmokeSolver._emit` and the projection's solid
cells). Fields are the state channels as (nx, ny) planes (``density``, ``velocity_x``, ``velocity_y``),
modified in place so a rollout step allocates nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np
from scipy.ndimage import maximum_filter

from fieldcast.engine.metrics import divergence_norm

__all__ = [
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


def impose_controls(
    fields: MutableMapping[str, np.ndarray],
    controls: Mapping[str, np.ndarray],
    force: np.ndarray | None = None,
    previous: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Re-impose emitters, colliders and user forces on one predicted frame, in place.

    Parameters
    ----------
    fields : ``density`` (1), ``velocity_x`` and ``velocity_y`` (cells/frame), each (nx, ny) float32.
    controls : ``emitter`` mask in [0, 1] and ``collider`` mask (solid above 0.5), (nx, ny); optional
        ``emitter_rate`` (density/frame, scalar or (nx, ny); default 0.2) and ``emitter_velocity``
        (cells/frame, (2,) or (nx, ny, 2); default (0, 0.5)). A rate of 0 leaves the density to the model.
        Density is then kept within [0, DENSITY_MAX] and speed below SPEED_MAX, the solver's own bounds.
    force : (nx, ny, 2) velocity added this frame, cells/frame (a user's drag), or None.
    previous : the frame before this one (``density`` at least), or None. With it, smoke obeys the
        maximum principle of advection (see :func:`advected_bound`), except where an emitter adds smoke:
        a surrogate that makes smoke out of nothing, which accumulates over a long rollout, is held to
        what the flow can carry.
    """
    rho, vx, vy = fields["density"], fields["velocity_x"], fields["velocity_y"]
    if force is not None:
        vx += force[..., 0]
        vy += force[..., 1]
    emitter = controls.get("emitter")
    budget = None
    if previous is not None and "density" in previous:
        np.minimum(rho, advected_bound(previous["density"], vx, vy), out=rho)
        # Advection conserves smoke and only emitters add it: the total may not grow beyond what was
        # there plus what the emitters put in this frame.
        budget = float(previous["density"].sum(dtype=np.float64))
    if emitter is not None and emitter.any():
        rate = np.asarray(controls.get("emitter_rate", DEFAULT_EMITTER_RATE), np.float32)
        if np.any(rate):
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
    # Physical bounds of the reference solver: density in [0, DENSITY_MAX], speed at most SPEED_MAX.
    np.clip(rho, 0.0, DENSITY_MAX, out=rho)
    if budget is not None:
        total = float(rho.sum(dtype=np.float64))
        if total > budget > 0.0:
            rho *= np.float32(budget / total)
        elif budget <= 0.0:
            rho[:] = 0.0
    speed = np.hypot(vx, vy)
    fast = speed > SPEED_MAX
    if fast.any():
        scale = SPEED_MAX / speed[fast]
        vx[fast] *= scale
        vy[fast] *= scale


def advected_bound(previous: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
    """Largest density each cell can hold after one frame of advection, (nx, ny).

    Advection moves smoke along the flow without creating it: the value arriving at a cell comes from
    its departure point one frame upstream, so it cannot exceed the densest previous cell around that
    point. A one-cell margin around the departure point tolerates a surrogate's velocity error.
    """
    nx, ny = previous.shape
    neighbourhood = maximum_filter(previous, size=3, mode="nearest")
    ix = np.rint(np.arange(nx, dtype=np.float32)[:, None] - vx).astype(np.intp)
    iy = np.rint(np.arange(ny, dtype=np.float32)[None, :] - vy).astype(np.intp)
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
