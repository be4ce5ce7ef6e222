"""Periodic microstructures for the stress system and the material properties of their grains.

A microstructure is an integer grain map ``(nx, ny)`` (labels ``0 .. G-1``, every label present) plus one
property set per grain. Properties are in the units the solver uses: ``E`` and ``h0`` in MPa, ``xi0`` in MPa,
``nu`` dimensionless; :data:`RANGES` gives the sampling ranges of the reference study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "KINDS",
    "RANGES",
    "Microstructure",
    "circular_inclusion",
    "material_maps",
    "sample_microstructure",
    "sample_properties",
    "square_inclusion",
    "voronoi",
]

# Per-grain property ranges (solver units: MPa, except nu).
RANGES = {"E": (50e3, 300e3), "nu": (0.2, 0.4), "xi0": (50.0, 300.0), "h0": (0.0, 50e3)}
PROPERTIES = ("E", "nu", "xi0", "h0")
KINDS = ("voronoi", "circle", "square")
_MAX_DRAWS = 200


@dataclass(frozen=True)
class Microstructure:
    """A grain map and one row of ``(E, nu, xi0, h0)`` per grain (MPa, -, MPa, MPa)."""

    grains: np.ndarray  # (nx, ny) int
    properties: np.ndarray  # (G, 4)

    @property
    def n_grains(self) -> int:
        return int(self.properties.shape[0])


def voronoi(shape: tuple[int, int], n_grains: int, rng: np.random.Generator) -> np.ndarray:
    """A periodic Voronoi grain map with exactly ``n_grains`` grains (seeds redrawn until each owns cells)."""
    nx, ny = shape
    if not 1 <= n_grains <= nx * ny:
        raise ValueError(f"grains must be from 1 to {nx * ny} on a {nx}x{ny} grid, got {n_grains}")
    x = (np.arange(nx) + 0.5)[:, None]
    y = (np.arange(ny) + 0.5)[None, :]
    for _ in range(_MAX_DRAWS):
        seeds = rng.random((n_grains, 2)) * (nx, ny)
        best = np.full(shape, np.inf)
        labels = np.zeros(shape, dtype=np.int32)
        for g, (px, py) in enumerate(seeds):
            dx = np.abs(x - px)
            dx = np.minimum(dx, nx - dx)
            dy = np.abs(y - py)
            dy = np.minimum(dy, ny - dy)
            d = dx * dx + dy * dy
            closer = d < best
            best[closer] = d[closer]
            labels[closer] = g
        if np.unique(labels).size == n_grains:
            return labels
    raise ValueError(f"could not place {n_grains} grains that each own a cell on a {nx}x{ny} grid")


def circular_inclusion(shape: tuple[int, int], fraction: float = 0.2) -> np.ndarray:
    """Grain 1 is a centred disc covering about ``fraction`` of the cell; grain 0 is the matrix."""
    nx, ny = shape
    r = np.sqrt(fraction * nx * ny / np.pi)
    x = (np.arange(nx) + 0.5 - nx / 2)[:, None]
    y = (np.arange(ny) + 0.5 - ny / 2)[None, :]
    return (x * x + y * y <= r * r).astype(np.int32)


def square_inclusion(shape: tuple[int, int], fraction: float = 0.2) -> np.ndarray:
    """Grain 1 is a centred square covering about ``fraction`` of the cell; grain 0 is the matrix."""
    nx, ny = shape
    half = np.sqrt(fraction * nx * ny) / 2
    x = np.abs(np.arange(nx) + 0.5 - nx / 2)[:, None]
    y = np.abs(np.arange(ny) + 0.5 - ny / 2)[None, :]
    return ((x <= half) & (y <= half)).astype(np.int32)


def sample_properties(n_grains: int, rng: np.random.Generator, contrast: float | None = None) -> np.ndarray:
    """``(n_grains, 4)`` properties drawn uniformly from :data:`RANGES`.

    With ``contrast`` (>= 1) E and xi0 are drawn log-uniformly within a factor ``contrast`` around the
    geometric middle of their range (a property-contrast sweep); nu and h0 stay uniform.
    """
    out = np.empty((n_grains, 4))
    for j, name in enumerate(PROPERTIES):
        lo, hi = RANGES[name]
        if contrast is not None and name in ("E", "xi0"):
            mid = np.sqrt(lo * hi)
            lo, hi = mid / np.sqrt(contrast), mid * np.sqrt(contrast)
            out[:, j] = np.exp(rng.uniform(np.log(lo), np.log(hi), n_grains))
        else:
            out[:, j] = rng.uniform(lo, hi, n_grains)
    return out


def _grain_count(grains: int | Sequence[int], rng: np.random.Generator) -> int:
    if isinstance(grains, (list, tuple)):
        lo, hi = (int(g) for g in grains)
        return int(rng.integers(lo, hi + 1))
    return int(grains)


def sample_microstructure(
    rng: np.random.Generator,
    shape: tuple[int, int],
    kind: str = "voronoi",
    grains: int | Sequence[int] = 10,
    contrast: float | None = None,
    fraction: float = 0.2,
) -> Microstructure:
    """A random microstructure of ``kind`` (``voronoi``, ``circle`` or ``square``) with drawn properties."""
    if kind == "voronoi":
        labels = voronoi(shape, _grain_count(grains, rng), rng)
    elif kind == "circle":
        labels = circular_inclusion(shape, fraction)
    elif kind == "square":
        labels = square_inclusion(shape, fraction)
    else:
        raise ValueError(f"microstructure must be one of {', '.join(KINDS)}, got {kind!r}")
    n = int(labels.max()) + 1
    return Microstructure(labels, sample_properties(n, rng, contrast))


def material_maps(micro: Microstructure) -> dict[str, np.ndarray]:
    """Per-cell maps ``{"E", "nu", "xi0", "h0"}`` (solver units) of a microstructure."""
    return {name: micro.properties[micro.grains, j] for j, name in enumerate(PROPERTIES)}
