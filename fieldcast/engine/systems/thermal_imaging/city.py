"""Random city layouts and transmitter placements for the radio source.

A city is a grid of cells with rectangular building footprints (side lengths ``footprint`` cells, scaled
with the grid) that keep at least ``street`` cells of open ground between one another; buildings are placed
until they cover a fraction of the ground drawn uniformly from ``density``, so some cities are sparse suburbs
and others dense blocks. Transmitters stand on open ground at cell centres.
"""

from __future__ import annotations

import numpy as np

__all__ = ["place_transmitters", "sample_city", "transmitter_map", "transmitter_position"]

#: transmitter blob width (standard deviation) in cells at a 64-cell grid, scaled with the grid
TRANSMITTER_SIGMA = 1.5


def sample_city(
    rng: np.random.Generator,
    size: int,
    density: tuple[float, float] = (0.1, 0.45),
    footprint: tuple[float, float] = (0.05, 0.2),
    street: int = 1,
    attempts: int = 400,
) -> np.ndarray:
    """A ``(size, size)`` float32 building mask (1 inside a building).

    ``density`` is the range of the covered fraction aimed at, ``footprint`` the range of building sides as
    fractions of the grid, ``street`` the open cells kept between buildings. Placement stops at the aimed
    coverage or after ``attempts`` tries.
    """
    target = rng.uniform(*density)
    mask = np.zeros((size, size), bool)
    lo = max(2, int(round(footprint[0] * size)))
    hi = max(lo + 1, int(round(footprint[1] * size)))
    for _ in range(attempts):
        if mask.mean() >= target:
            break
        w, h = rng.integers(lo, hi + 1, size=2)
        x = int(rng.integers(0, size - w + 1))
        y = int(rng.integers(0, size - h + 1))
        if mask[max(0, x - street) : x + w + street, max(0, y - street) : y + h + street].any():
            continue
        mask[x : x + w, y : y + h] = True
    return mask.astype(np.float32)


def place_transmitters(
    rng: np.random.Generator, buildings: np.ndarray, count: int
) -> list[tuple[float, float]]:
    """``count`` transmitter positions (cell centres) on open ground, distinct if there is room."""
    free = np.flatnonzero(np.asarray(buildings).ravel() <= 0.5)
    if free.size == 0:
        raise ValueError("the city has no open ground for a transmitter")
    picks = rng.choice(free, size=count, replace=count > free.size)
    ny = buildings.shape[1]
    return [(float(p // ny) + 0.5, float(p % ny) + 0.5) for p in picks]


def transmitter_map(shape: tuple[int, int], tx: tuple[float, float]) -> np.ndarray:
    """``(nx, ny)`` float32 Gaussian blob of peak 1 at the transmitter's cell centre."""
    nx, ny = shape
    sigma = TRANSMITTER_SIGMA * nx / 64
    cx, cy = np.floor(tx[0]) + 0.5, np.floor(tx[1]) + 0.5
    ix, iy = np.ogrid[:nx, :ny]
    return np.exp(-((ix + 0.5 - cx) ** 2 + (iy + 0.5 - cy) ** 2) / (2.0 * sigma**2)).astype(np.float32)


def transmitter_position(tmap: np.ndarray) -> tuple[float, float]:
    """The cell centre where a transmitter map peaks; ValueError for a map with no positive peak."""
    tmap = np.asarray(tmap, float)
    if tmap.ndim != 2 or not np.isfinite(tmap).all() or tmap.max() <= 0:
        raise ValueError("the transmitter map has no positive, finite peak to place the transmitter at")
    i, j = np.unravel_index(int(np.argmax(tmap)), tmap.shape)
    return float(i) + 0.5, float(j) + 0.5
