"""Crystal orientations as unit quaternions, and inverse-pole-figure (IPF) colours for cubic crystals.

Convention: a grain's quaternion ``q = (w, x, y, z)`` rotates crystal coordinates into sample coordinates,
``v_sample = R(q) v_crystal``. The IPF colour of sample direction ``s`` is the colour of the crystal direction
``R(q)^T s`` after reduction by the cubic (m-3m Laue) symmetry into the standard triangle with corners
[001] (red), [101] (green) and [111] (blue). The colour key is the usual linear one: for the reduced unit
direction ``(u, v, w)`` with ``w >= u >= v >= 0`` the raw colour is ``(w - u, u - v, v)``, scaled so its
largest component is 1. It puts the three corners on pure red, green and blue and varies smoothly inside the
triangle; it is a simplification of the TSL key (orix ``IPFColorKeyTSL``), which uses angles in the
stereographic projection instead.

Sample axes of the melt section: X along the scan (array x), Y across the section (out of plane), Z the
surface normal (array y, pointing up).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "IPF_CHANNELS",
    "SAMPLE_AXES",
    "ipf_colors",
    "ipf_rgb",
    "quaternion_matrices",
    "random_quaternions",
]

SAMPLE_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
IPF_CHANNELS = tuple(f"ipf_{axis}_{c}" for axis in SAMPLE_AXES for c in "rgb")


def random_quaternions(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 4) unit quaternions uniform over SO(3) (normalised 4D Gaussians are uniform on S³)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    # q and -q are the same rotation; a non-negative w keeps stored values tidy.
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotation matrices (crystal -> sample) of (n, 4) unit quaternions ``(w, x, y, z)``."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=float), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def ipf_rgb(directions: np.ndarray) -> np.ndarray:
    """IPF colours (..., 3) in [0, 1] of crystal directions (..., 3) under cubic symmetry.

    The 48 symmetry operations of m-3m permute the axes and flip their signs, so sorting the absolute
    components reduces any direction into the standard triangle.
    """
    d = np.abs(np.asarray(directions, dtype=float))
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    low, mid, high = np.moveaxis(np.sort(d, axis=-1), -1, 0)  # v <= u <= w
    rgb = np.stack([high - mid, mid - low, low], axis=-1)
    return rgb / rgb.max(axis=-1, keepdims=True)


def ipf_colors(quaternions: np.ndarray) -> np.ndarray:
    """(n, 9) colours of (n, 4) orientations: RGB for the sample X, Y and Z directions, in that order."""
    mats = quaternion_matrices(quaternions)  # (n, 3, 3)
    # Row i of R is R^T applied to sample axis e_i: the crystal direction along sample axis i.
    return np.concatenate([ipf_rgb(mats[:, i, :]) for i in range(3)], axis=1)
