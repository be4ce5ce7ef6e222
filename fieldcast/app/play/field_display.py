"""How the generic field page draws a frame: value ranges, the control channels' overlay, pictures.

No Qt here: the same functions colour the canvas's range, its overlay and the screenshots.
"""

from __future__ import annotations

import numpy as np

from fieldcast.widgets.field_colors import blend, colorize

__all__ = ["auto_range", "controls_overlay", "field_picture"]

_PALETTE = ((0.25, 0.85, 0.45), (0.35, 0.75, 1.0), (1.0, 0.45, 0.8), (1.0, 0.72, 0.2))
_SOLID_RGBA = (0.62, 0.66, 0.72, 0.95)
_DIVERGING = ("coolwarm",)


def auto_range(data: np.ndarray, cmap: str) -> tuple[float, float]:
    """A value range that shows ``data`` without letting a few extreme cells wash it out: the 0.5th to
    99.5th percentiles, symmetric about 0 for a diverging colour map."""
    step = max(1, max(data.shape) // 256)
    sample = data[::step, ::step]
    finite = sample[np.isfinite(sample)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if cmap in _DIVERGING:
        peak = max(abs(lo), abs(hi), 1e-6)
        return -peak, peak
    if hi - lo < 1e-9:
        pad = max(abs(hi) * 0.05, 1e-6)
        return lo - pad, hi + pad
    return lo, hi


def _edge(mask: np.ndarray) -> np.ndarray:
    """Cells of ``mask`` with a 4-neighbour outside it (the grid's border counts as outside)."""
    inner = np.pad(mask, 1, constant_values=False)
    inner = inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
    return mask & ~inner


def controls_overlay(controls: dict[str, np.ndarray], solid: str | None) -> np.ndarray | None:
    """(nx, ny, 4) RGBA of the control channels, light enough to see the field through: each channel its
    own colour, a tint that grows with its magnitude and a firm outline where it is set; the solid channel
    opaque grey. None without controls."""
    if not controls:
        return None
    first = next(iter(controls.values()))
    rgba = np.zeros((*first.shape, 4), np.float32)
    for k, (name, plane) in enumerate(controls.items()):
        if name == solid:
            rgba[plane > 0.5] = _SOLID_RGBA
            continue
        magnitude = np.abs(np.nan_to_num(plane))
        peak = float(magnitude.max())
        if peak == 0.0:
            continue
        alpha = 0.3 * magnitude / peak
        alpha[_edge(magnitude > 0.05 * peak)] = 0.9
        paint = alpha > rgba[..., 3]
        rgba[paint, :3] = _PALETTE[k % len(_PALETTE)]
        rgba[paint, 3] = alpha[paint]
    return rgba


def field_picture(
    data: np.ndarray,
    cmap: str,
    clim: tuple[float, float],
    overlay: np.ndarray | None = None,
    min_size: int = 384,
) -> np.ndarray:
    """(h, w, 3) uint8 picture of an (nx, ny) field as the canvas shows it, scaled up by whole pixels to at
    least ``min_size``."""
    rgb = colorize(data, cmap, clim)
    if overlay is not None:
        rgb = blend(rgb, overlay)
    scale = max(1, -(-min_size // max(rgb.shape[:2])))
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
