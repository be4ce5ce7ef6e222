"""Crystal orientations as unit quaternions, and inverse-pole-figure (IPF) colours for cubic crystals.

Conventions
-----------
A grain's quaternion ``q = (w, x, y, z)`` rotates crystal coordinates into sample coordinates,
``v_sample = R(q) v_crystal`` (the inverse of the sample -> crystal "orientation" of Bunge and of
orix/MTEX, whose orientation of the same grain is the conjugate quaternion). The IPF-X, IPF-Y and IPF-Z
colours of a grain are the colours of the crystal directions ``R(q)^T e_x``, ``R(q)^T e_y`` and
``R(q)^T e_z``: the crystal direction lying along each sample axis.

Sample axes of the melt section: X along the scan (array x), Y across the section (out of plane), Z the
surface normal (array y, pointing up).

Colour key
----------
The standard TSL key for the cubic m-3m Laue group, in the form EBSD software and crystallography libraries
compute it (Nolze and Hielscher, J. Appl. Cryst. 49, 2016, section 2.4; orix ``IPFColorKeyTSL``, MTEX
``ipfTSLKey``). A crystal direction is reduced by the 48 symmetry operations into the standard triangle
``z >= x >= y >= 0`` with corners [001], [101] and [111]. Around the triangle's barycentre ``c`` (the
normalised mean of the three unit corners) the direction has

* an azimuth, measured from the arc towards [001] and re-spaced so that each of the three sides' arcs
  (corner to corner as seen from ``c``) takes a third of the hue circle, in proportion to the distance from
  ``c`` to the triangle's edge in each direction;
* a radius, its angular distance from ``c`` as a fraction of the distance from ``c`` to the edge along the
  same great circle.

The colour is HSV (hue = azimuth / 2pi, saturation = radius, value = 1): [001] red, [101] green, [111] blue,
the barycentre white, the edges fully saturated.
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


# --------------------------------------------------------------- the standard triangle of m-3m

_CORNERS = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])  # [001], [101], [111]
_CORNERS /= np.linalg.norm(_CORNERS, axis=1, keepdims=True)
# Inward normals of the triangle's three great-circle edges: x >= y, z >= x, y >= 0.
_EDGE_NORMALS = np.array([[1.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
_EDGE_NORMALS /= np.linalg.norm(_EDGE_NORMALS, axis=1, keepdims=True)
_CENTRE = _CORNERS.mean(axis=0) / np.linalg.norm(_CORNERS.mean(axis=0))
# Tangent frame at the centre: e1 towards [001] (azimuth 0, red), e2 = centre x e1.
_E1 = _CORNERS[0] - (_CORNERS[0] @ _CENTRE) * _CENTRE
_E1 /= np.linalg.norm(_E1)
_E2 = np.cross(_CENTRE, _E1)


def _edge_distance(tangent: np.ndarray) -> np.ndarray:
    """Angular distance (...) from the centre to the triangle's edge along unit tangents (..., 3).

    Along ``p(t) = cos t c + sin t u`` an edge with inward normal ``n`` is crossed where
    ``tan t = -(n.c) / (n.u)``; the first crossing in (0, pi) over the three edges is the edge.
    """
    nc = _EDGE_NORMALS @ _CENTRE  # (3,), all positive: the centre is inside
    nu = tangent @ _EDGE_NORMALS.T  # (..., 3)
    return np.arctan2(np.broadcast_to(nc, nu.shape), -nu).min(axis=-1)


def _azimuth(tangent: np.ndarray) -> np.ndarray:
    """Azimuth in [0, 2pi) of unit tangents (..., 3) at the centre, from the arc towards [001]."""
    return np.mod(np.arctan2(tangent @ _E2, tangent @ _E1), 2 * np.pi)


def _hue_table(samples: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth -> hue (both in [0, 2pi]) that gives each corner-to-corner arc a third of the circle.

    Within an arc, hue grows with the distance from the centre to the edge (the integral of it over the
    azimuth), so the colours are spread evenly over the triangle's area rather than over angle.
    """
    az = np.linspace(0.0, 2 * np.pi, samples)
    tangents = np.cos(az)[:, None] * _E1 + np.sin(az)[:, None] * _E2
    rho = _edge_distance(tangents)
    corner_tangents = _CORNERS - (_CORNERS @ _CENTRE)[:, None] * _CENTRE
    corner_tangents /= np.linalg.norm(corner_tangents, axis=1, keepdims=True)
    corner_az = np.sort(_azimuth(corner_tangents))  # [001] at 0, then the other two corners
    corner_az[0] = 0.0
    # Cumulative trapezoid integral of rho, then each arc rescaled to a third of the circle.
    cum = np.concatenate([[0.0], np.cumsum((rho[1:] + rho[:-1]) / 2 * np.diff(az))])
    hue = np.empty_like(az)
    bounds = [*corner_az, 2 * np.pi]
    for k in range(3):
        lo, hi = np.interp(bounds[k], az, cum), np.interp(bounds[k + 1], az, cum)
        inside = (az >= bounds[k]) & (az <= bounds[k + 1])
        hue[inside] = 2 * np.pi * (k + (cum[inside] - lo) / (hi - lo)) / 3
    return az, hue


_HUE_AZ, _HUE = _hue_table()


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray) -> np.ndarray:
    """RGB (..., 3) of HSV colours with value 1, hue ``h`` in [0, 1) and saturation ``s`` in [0, 1]."""
    h6 = np.mod(h, 1.0) * 6.0
    # Each channel is 1 - s * clip(distance from its own hue window, 0, 1): the usual hexcone.
    k = np.mod(np.array([5.0, 3.0, 1.0]) + h6[..., None], 6.0)
    return 1.0 - s[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def ipf_rgb(directions: np.ndarray) -> np.ndarray:
    """IPF colours (..., 3) in [0, 1] of crystal directions (..., 3) under cubic symmetry (TSL key).

    The 48 symmetry operations of m-3m permute the axes and flip their signs, so sorting the absolute
    components reduces any direction into the standard triangle: ``(x, y, z) = (middle, smallest, largest)``.
    """
    d = np.abs(np.asarray(directions, dtype=float))
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    low, mid, high = np.moveaxis(np.sort(d, axis=-1), -1, 0)
    v = np.stack([mid, low, high], axis=-1)  # in z >= x >= y >= 0
    cos_r = np.clip(v @ _CENTRE, -1.0, 1.0)
    tangent = v - cos_r[..., None] * _CENTRE
    norm = np.linalg.norm(tangent, axis=-1, keepdims=True)
    at_centre = norm[..., 0] < 1e-12
    tangent = np.where(at_centre[..., None], _E1, tangent / np.where(at_centre[..., None], 1.0, norm))
    radius = np.clip(np.arccos(cos_r) / _edge_distance(tangent), 0.0, 1.0)
    hue = np.interp(_azimuth(tangent), _HUE_AZ, _HUE) / (2 * np.pi)
    return _hsv_to_rgb(hue, radius)


def ipf_colors(quaternions: np.ndarray) -> np.ndarray:
    """(n, 9) colours of (n, 4) orientations: RGB for the sample X, Y and Z directions, in that order."""
    mats = quaternion_matrices(quaternions)  # (n, 3, 3)
    # Row i of R is R^T applied to sample axis e_i: the crystal direction along sample axis i.
    return np.concatenate([ipf_rgb(mats[:, i, :]) for i in range(3)], axis=1)
