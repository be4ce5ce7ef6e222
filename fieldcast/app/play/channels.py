"""What the canvas can show of a frame: density, speed, vorticity, divergence and the velocity components.

Each channel is computed from a frame's density (nx, ny) and cell-centred velocity (nx, ny, 2) in
cells/frame, with central differences (cell size 1), only for the channel on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CHANNELS", "Channel", "channel_data", "default_range"]


@dataclass(frozen=True)
class Channel:
    """One displayable quantity: its colour map, whether it is signed, and its units."""

    name: str
    colormap: str
    signed: bool
    units: str


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("density", "inferno", False, "1"),
        Channel("speed", "viridis", False, "cells/frame"),
        Channel("vorticity", "coolwarm", True, "1/frame"),
        Channel("divergence", "coolwarm", True, "1/frame"),
        Channel("velocity x", "coolwarm", True, "cells/frame"),
        Channel("velocity y", "coolwarm", True, "cells/frame"),
    )
}


def channel_data(name: str, density: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """The (nx, ny) field of channel ``name``."""
    vx, vy = velocity[..., 0], velocity[..., 1]
    if name == "density":
        return density
    if name == "speed":
        return np.hypot(vx, vy)
    if name == "vorticity":
        return np.gradient(vy, axis=0) - np.gradient(vx, axis=1)
    if name == "divergence":
        return np.gradient(vx, axis=0) + np.gradient(vy, axis=1)
    if name == "velocity x":
        return vx
    if name == "velocity y":
        return vy
    raise KeyError(f"unknown channel {name!r}")


def default_range(name: str, data: np.ndarray) -> tuple[float, float]:
    """An automatic value range: [0, 1] for density, symmetric about 0 for signed channels."""
    if name == "density":
        return 0.0, 1.0
    finite = data[np.isfinite(data)]
    peak = float(np.percentile(np.abs(finite), 99.5)) if finite.size else 0.0
    peak = max(peak, 1e-6)
    return (-peak, peak) if CHANNELS[name].signed else (0.0, peak)
