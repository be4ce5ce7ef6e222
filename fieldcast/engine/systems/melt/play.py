"""Play-time rules of the melt system: what a temperature surrogate's frame must satisfy.

Nothing in the reference solver cools the plate below the ambient temperature: every boundary and the
sideways sink pull towards it, and the laser only adds heat. A surrogate's small undershoots around a cooling
track would otherwise accumulate over a long rollout, so play clamps the temperature at the ambient. IPF
channels, when a model carries them, stay in the colour range [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np

from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS
from fieldcast.engine.systems.melt.thermal import Material, ThermalParams, melt_pool_size

__all__ = ["AMBIENT", "impose_controls", "step_stats"]

AMBIENT = ThermalParams().ambient


def impose_controls(
    fields: MutableMapping[str, np.ndarray],
    controls: Mapping[str, np.ndarray],
    force: np.ndarray | None = None,
    previous: Mapping[str, np.ndarray] | None = None,
    *,
    bounds: bool = True,
    frames: int = 1,
) -> None:
    """Keep ``temperature`` at or above the ambient and IPF channels in [0, 1], in place.

    ``controls`` (the laser flux), ``force``, ``previous``, ``bounds`` and ``frames`` are accepted for the
    common play-hook signature; the laser enters through the model's input only, and these ranges are the
    physics of the state, not a safety net, so they hold with ``bounds`` off too.
    """
    if "temperature" in fields:
        np.maximum(fields["temperature"], AMBIENT, out=fields["temperature"])
    for name in IPF_CHANNELS:
        if name in fields:
            np.clip(fields[name], 0.0, 1.0, out=fields[name])


def step_stats(fields: Mapping[str, np.ndarray], dx: float = 5e-6) -> dict[str, float | bool]:
    """Peak temperature (K), melt-pool width and depth (µm), liquid cells and whether all is finite."""
    finite = all(bool(np.isfinite(a).all()) for a in fields.values())
    temp = fields.get("temperature")
    if temp is None or not finite:
        return {"finite": finite}
    liquidus = Material().liquidus
    width, depth = melt_pool_size(np.asarray(temp, np.float64), dx, liquidus)
    return {
        "peak_temperature": float(temp.max()),
        "pool_width_um": width * 1e6,
        "pool_depth_um": depth * 1e6,
        "liquid_cells": float((temp >= liquidus).sum()),
        "finite": finite,
    }
