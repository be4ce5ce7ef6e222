"""Colour maps for field canvases, and turning a field into RGB pixels without OpenGL.

The same lookup tables feed the vispy image (on screen) and :func:`colorize` (recordings, screenshots),
so a saved GIF looks like the canvas. Fields are (nx, ny) with x first and y up.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg

__all__ = ["COLORMAPS", "blend", "colorize", "lut", "overlay_rgba"]

#: colour-map names offered to the user -> pyqtgraph's built-in map that draws them
COLORMAPS: dict[str, str] = {
    "inferno": "inferno",
    "magma": "magma",
    "viridis": "viridis",
    "plasma": "plasma",
    "turbo": "turbo",
    "gray": "CET-L1",
    "coolwarm": "CET-D1",
    "fire": "CET-L3",
}

EMITTER_RGBA = (0.25, 0.85, 0.45, 0.55)
COLLIDER_RGBA = (0.62, 0.66, 0.72, 0.95)


@functools.cache
def lut(name: str, n: int = 256) -> np.ndarray:
    """(n, 4) float RGBA in [0, 1] for colour map ``name`` (unknown names give viridis)."""
    cmap = pg.colormap.get(COLORMAPS.get(name, "viridis"))
    table = np.asarray(cmap.getLookupTable(0.0, 1.0, n, alpha=True), dtype=float)
    return table / 255.0 if table.max() > 1.0 else table


def colorize(data: np.ndarray, name: str, clim: tuple[float, float]) -> np.ndarray:
    """RGB pixels (ny, nx, 3) uint8 of an (nx, ny) field, top row = highest y, as the canvas shows it."""
    lo, hi = clim
    scale = 1.0 / (hi - lo) if hi > lo else 0.0
    t = np.nan_to_num((np.asarray(data, float) - lo) * scale, nan=0.0)
    idx = np.clip((t * 255).astype(int), 0, 255)
    rgb = lut(name)[idx, :3]  # (nx, ny, 3)
    return (np.flipud(np.swapaxes(rgb, 0, 1)) * 255 + 0.5).astype(np.uint8)


def overlay_rgba(emitter: np.ndarray, collider: np.ndarray) -> np.ndarray:
    """(nx, ny, 4) float RGBA of the control masks: colliders opaque grey, emitters translucent green."""
    nx, ny = emitter.shape
    rgba = np.zeros((nx, ny, 4), np.float32)
    e = np.clip(emitter, 0.0, 1.0)
    rgba[..., :3] = EMITTER_RGBA[:3]
    rgba[..., 3] = EMITTER_RGBA[3] * e
    solid = collider > 0.5
    rgba[solid] = COLLIDER_RGBA
    return rgba


def blend(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Composite an (nx, ny, 4) overlay on (ny, nx, 3) uint8 pixels from :func:`colorize`."""
    over = np.flipud(np.swapaxes(rgba, 0, 1))
    alpha = over[..., 3:4]
    out = rgb.astype(float) * (1 - alpha) + over[..., :3] * 255 * alpha
    return (out + 0.5).astype(np.uint8)
