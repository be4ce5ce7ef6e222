"""Physics metrics on numpy arrays, shared by evaluation, the trainer's reports and the Play panel.

Every function takes fields with any leading batch dimensions and the two spatial axes last, ``(..., nx, ny)``
(x then y, y up, cell size 1), and returns one value per leading index (a float for a single frame).
"""

from __future__ import annotations

import numpy as np

__all__ = ["collider_violation", "divergence", "divergence_norm", "kinetic_energy", "rmse", "total_smoke"]


def divergence(vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
    """Central-difference divergence of a cell-centred velocity at interior cells, per frame.

    Parameters
    ----------
    vx, vy : (..., nx, ny) velocity components in cells/frame.

    Returns
    -------
    (..., nx - 2, ny - 2) divergence in 1/frame (pixel units: cell size 1).
    """
    vx = np.asarray(vx, dtype=np.float64)
    vy = np.asarray(vy, dtype=np.float64)
    return 0.5 * (vx[..., 2:, 1:-1] - vx[..., :-2, 1:-1]) + 0.5 * (vy[..., 1:-1, 2:] - vy[..., 1:-1, :-2])


def divergence_norm(vx: np.ndarray, vy: np.ndarray) -> np.ndarray | float:
    """RMS of :func:`divergence` over the interior cells, 1/frame.

    This is the stencil the original smoke surrogate reported (≈0.30 for its UNet). Note that a MAC-grid
    solver whose face divergence is ~1e-12 still shows ~1e-2 here: averaging faces to centres and taking a
    two-cell-wide difference do not commute with the solver's discrete projection. Compare only like with
    like.
    """
    d = divergence(vx, vy)
    return _scalar(np.sqrt(np.mean(d * d, axis=(-2, -1))))


def kinetic_energy(vx: np.ndarray, vy: np.ndarray) -> np.ndarray | float:
    """0.5 · Σ (vx² + vy²) over the grid, in cells²/frame² (unit density, cell area 1)."""
    vx = np.asarray(vx, dtype=np.float64)
    vy = np.asarray(vy, dtype=np.float64)
    return _scalar(0.5 * np.sum(vx * vx + vy * vy, axis=(-2, -1)))


def collider_violation(density: np.ndarray, collider_mask: np.ndarray) -> np.ndarray | float:
    """Mean density inside colliders (cells where the mask exceeds 0.5); 0 where there is no collider.

    ``collider_mask`` broadcasts against ``density`` (e.g. one (nx, ny) mask for a (T, nx, ny) rollout).
    The original project's target is below 0.01.
    """
    density = np.asarray(density, dtype=np.float64)
    solid = np.broadcast_to(np.asarray(collider_mask) > 0.5, density.shape)
    count = solid.sum(axis=(-2, -1))
    inside = np.where(solid, density, 0.0).sum(axis=(-2, -1))
    return _scalar(np.where(count > 0, inside / np.maximum(count, 1), 0.0))


def total_smoke(density: np.ndarray) -> np.ndarray | float:
    """Σ density over the grid (amount of smoke, density × cells)."""
    return _scalar(np.sum(np.asarray(density, dtype=np.float64), axis=(-2, -1)))


def rmse(prediction: np.ndarray, target: np.ndarray) -> np.ndarray | float:
    """Root-mean-square difference over the last two axes, in the fields' units."""
    diff = np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return _scalar(np.sqrt(np.mean(diff * diff, axis=(-2, -1))))


def _scalar(x: np.ndarray) -> np.ndarray | float:
    # A single frame gives a plain float, which is what callers print and log.
    return float(x) if np.ndim(x) == 0 else x
