"""Received power over a city from one transmitter: free space, wall penetration, one reflection.

The propagation model, in a horizontal plane (transmitter and receivers at the same height):

- Direct path: Friis free-space loss ``FSPL(d) = 20 log10(4 pi d f / c)`` dB, with ``d`` held at
  ``min_distance`` or more (Friis is a far-field law), plus a penetration loss along the straight ray:
  ``wall_loss`` dB for every building wall the ray crosses and ``indoor_loss`` dB per metre it runs inside
  buildings. Defaults follow 3GPP TR 38.901 §7.4.3 (outdoor-to-indoor): a concrete wall loses
  ``5 + 4 f`` dB (f in GHz, 19 dB at 3.5 GHz) and the indoor loss is 0.5 dB/m.
- One specular reflection off every building wall that faces the transmitter (image method): the image of the
  transmitter in the wall's line, a reflection point on the wall, a path of length ``|image - receiver|``, a
  fixed ``reflection_loss`` (6 dB, a reflection coefficient of 0.5) and the penetration loss of both legs.
- The direct and reflected powers add incoherently (no phase), and the result is floored at ``noise_floor``.

Buildings are unions of grid cells: cell ``(i, j)`` covers ``[i, i+1] x [j, j+1]`` in cell units and a
receiver sits at its centre. A ray's path inside buildings is measured exactly: the building mask is cut into
disjoint rectangles and each ray is clipped against every rectangle (slab method). Walls crossed are the ends
of those pieces that lie strictly between the transmitter and the receiver with open ground beyond them, so
the seam between two rectangles of one building is not a wall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SPEED_OF_LIGHT",
    "RadioParams",
    "exterior_walls",
    "friis_loss_db",
    "mask_rectangles",
    "penetration",
    "received_power",
]

SPEED_OF_LIGHT = 299_792_458.0  # m/s
_EPS = 1e-9  # cells: pieces of a ray shorter than this (grazing a corner) cross nothing
_PROBE = 1e-6  # cells: how far beyond a piece's end the mask is looked at


@dataclass(frozen=True)
class RadioParams:
    """The propagation model's constants.

    frequency (Hz), cell_size (m per cell), tx_power (dBm radiated), wall_loss (dB per wall crossed; None
    for 3GPP concrete ``5 + 4 f_GHz``), indoor_loss (dB per metre inside buildings), reflection_loss (dB per
    bounce), reflections (whether to add the single-bounce paths), noise_floor (dBm), min_distance (m).
    """

    frequency: float = 3.5e9
    cell_size: float = 4.0
    tx_power: float = 30.0
    wall_loss: float | None = None
    indoor_loss: float = 0.5
    reflection_loss: float = 6.0
    reflections: bool = True
    noise_floor: float = -100.0
    min_distance: float = 1.0

    @property
    def wall_loss_db(self) -> float:
        """dB lost per wall crossed."""
        return 5.0 + 4.0 * self.frequency / 1e9 if self.wall_loss is None else float(self.wall_loss)


def friis_loss_db(distance: np.ndarray | float, frequency: float) -> np.ndarray:
    """Free-space path loss ``20 log10(4 pi d f / c)`` in dB for distances in m and frequency in Hz."""
    return 20.0 * np.log10(4.0 * math.pi * np.asarray(distance, float) * frequency / SPEED_OF_LIGHT)


def mask_rectangles(mask: np.ndarray) -> np.ndarray:
    """Cut a boolean ``(nx, ny)`` mask into disjoint cell-aligned rectangles ``(K, 4)`` of x0, y0, x1, y1.

    Runs of building cells along x in each row ``j`` are merged with identical runs of the rows above, so a
    rectangular building is one rectangle; the rectangles cover the mask exactly.
    """
    mask = np.asarray(mask, bool)
    nx, ny = mask.shape
    done: list[list[int]] = []
    open_runs: dict[tuple[int, int], list[int]] = {}
    for j in range(ny + 1):
        runs: set[tuple[int, int]] = set()
        if j < ny:
            col = np.concatenate(([False], mask[:, j], [False]))
            edges = np.flatnonzero(col[1:] != col[:-1])
            runs = {(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)}
        for run in list(open_runs):
            if run not in runs:
                done.append(open_runs.pop(run))
        for run in runs:
            if run in open_runs:
                open_runs[run][3] = j + 1
            else:
                open_runs[run] = [run[0], j, run[1], j + 1]
    return np.asarray(sorted(done), float).reshape(-1, 4)


def exterior_walls(mask: np.ndarray) -> np.ndarray:
    """Straight wall segments between building and open cells, ``(W, 5)``: x0, y0, x1, y1, outward side.

    The outward side is +1 when the open side has the larger coordinate across the wall, else -1. Walls on
    the grid's border facing outside the map are left out (nothing stands there to be reached).
    """
    mask = np.asarray(mask, bool)
    out: list[tuple[float, float, float, float, float]] = []
    for axis in (0, 1):
        m = mask if axis == 0 else mask.T
        n_across, n_along = m.shape
        for side in (1.0, -1.0):
            # Wall between cell line k-1 and k across ``axis``: building on one side, open on the other.
            for k in range(1, n_across):
                inside, outside = (m[k - 1], m[k]) if side > 0 else (m[k], m[k - 1])
                wall = np.concatenate(([False], inside & ~outside, [False]))
                edges = np.flatnonzero(wall[1:] != wall[:-1])
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    if axis == 0:
                        out.append((k, a, k, b, side))
                    else:
                        out.append((a, k, b, k, side))
    return np.asarray(out, float).reshape(-1, 5)


def _slab(p0: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters where ``p0 + t d`` enters and leaves ``[lo, hi]`` along one axis (broadcasting)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = (lo - p0) / d
        tb = (hi - p0) / d
    near, far = np.minimum(ta, tb), np.maximum(ta, tb)
    parallel = d == 0
    if np.any(parallel):
        inside = (p0 > lo) & (p0 < hi)
        near = np.where(parallel, np.where(inside, -np.inf, np.inf), near)
        far = np.where(parallel, np.where(inside, np.inf, -np.inf), far)
    return near, far


def penetration(
    p0: np.ndarray, p1: np.ndarray, rects: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Walls crossed and length inside buildings (cells) of the segments ``p0 -> p1``.

    ``p0``, ``p1`` are ``(..., 2)`` in cell units; ``rects`` is ``(K, 4)`` from :func:`mask_rectangles` of
    the boolean building ``mask``. Returns ``(walls, inside)`` of shape ``(...)``: the integer number of walls
    crossed and the length inside buildings, in cells.
    """
    p0, p1 = np.broadcast_arrays(np.asarray(p0, float), np.asarray(p1, float))
    shape = p0.shape[:-1]
    p0, p1 = p0.reshape(-1, 2), p1.reshape(-1, 2)
    # Only rectangles that overlap the segments' bounding box can be crossed.
    lo, hi = np.minimum(p0, p1).min(axis=0), np.maximum(p0, p1).max(axis=0)
    near = (rects[:, 0] <= hi[0]) & (rects[:, 2] >= lo[0]) & (rects[:, 1] <= hi[1]) & (rects[:, 3] >= lo[1])
    rects = rects[near]
    if len(rects) == 0 or len(p0) == 0:
        return np.zeros(shape, int), np.zeros(shape)
    d = p1 - p0
    length = np.hypot(d[:, 0], d[:, 1])
    # (N, K) entry and exit parameters of every rectangle.
    nx, fx = _slab(p0[:, None, 0], d[:, None, 0], rects[:, 0], rects[:, 2])
    ny, fy = _slab(p0[:, None, 1], d[:, None, 1], rects[:, 1], rects[:, 3])
    t_in = np.clip(np.maximum(nx, ny), 0.0, 1.0)
    t_out = np.clip(np.minimum(fx, fy), 0.0, 1.0)
    tol = _EPS / np.maximum(length, _EPS)
    hit = t_out - t_in > tol[:, None]
    # The rectangles are disjoint, so the pieces inside them add up without overlap.
    inside = np.where(hit, t_out - t_in, 0.0).sum(axis=1) * length
    # A piece's end is a wall unless it is an end of the segment or the ray passes straight into the next
    # rectangle of the same building there: look at the cell just outside each end.
    row, col = np.nonzero(hit)
    step = _PROBE / np.maximum(length[row], _EPS)
    enter = (t_in[row, col] > tol[row]) & ~_inside(mask, p0[row] + (t_in[row, col] - step)[:, None] * d[row])
    leave = (t_out[row, col] < 1.0 - tol[row]) & ~_inside(
        mask, p0[row] + (t_out[row, col] + step)[:, None] * d[row]
    )
    walls = np.bincount(row, weights=enter.astype(float) + leave, minlength=len(p0))
    return walls.astype(int).reshape(shape), inside.reshape(shape)


def _inside(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether each point ``(M, 2)`` (cell units) lies in a building cell; outside the grid is open."""
    i = np.floor(points[:, 0]).astype(int)
    j = np.floor(points[:, 1]).astype(int)
    ok = (i >= 0) & (i < mask.shape[0]) & (j >= 0) & (j < mask.shape[1])
    out = np.zeros(len(points), bool)
    out[ok] = mask[i[ok], j[ok]]
    return out


def _path_db(walls: np.ndarray, inside_cells: np.ndarray, params: RadioParams) -> np.ndarray:
    return walls * params.wall_loss_db + inside_cells * params.cell_size * params.indoor_loss


def _reflected_mw(
    tx: np.ndarray,
    rx: np.ndarray,
    walls: np.ndarray,
    rects: np.ndarray,
    mask: np.ndarray,
    params: RadioParams,
) -> np.ndarray:
    """Sum over walls of the single-bounce power at every receiver ``rx`` (N, 2), in mW."""
    total = np.zeros(len(rx))
    for x0, y0, x1, y1, side in walls:
        axis = 0 if x0 == x1 else 1  # the coordinate that is constant on the wall
        c = x0 if axis == 0 else y0
        lo, hi = (y0, y1) if axis == 0 else (x0, x1)
        if (tx[axis] - c) * side <= 0:
            continue  # the transmitter is behind this wall
        sel = np.flatnonzero((rx[:, axis] - c) * side > 0)
        if sel.size == 0:
            continue
        image = tx.copy()
        image[axis] = 2.0 * c - tx[axis]
        r = rx[sel]
        # Where the line image -> receiver meets the wall's line.
        t = (c - image[axis]) / (r[:, axis] - image[axis])
        along = image[1 - axis] + t * (r[:, 1 - axis] - image[1 - axis])
        ok = (along >= lo) & (along <= hi)
        if not ok.any():
            continue
        sel, r, along = sel[ok], r[ok], along[ok]
        hit = np.empty((len(sel), 2))
        hit[:, axis] = c
        hit[:, 1 - axis] = along
        # Step the reflection point off the wall so its own building does not count on either leg.
        off = hit.copy()
        off[:, axis] += side * 1e-6
        w1, in1 = penetration(tx[None, :], off, rects, mask)
        w2, in2 = penetration(off, r, rects, mask)
        dist = np.maximum(np.hypot(*(r - image).T) * params.cell_size, params.min_distance)
        db = (
            params.tx_power
            - friis_loss_db(dist, params.frequency)
            - params.reflection_loss
            - _path_db(w1 + w2, in1 + in2, params)
        )
        total[sel] += 10.0 ** (db / 10.0)
    return total


def received_power(buildings: np.ndarray, tx: tuple[float, float], params: RadioParams) -> np.ndarray:
    """Received power (dBm) at every cell centre of the ``(nx, ny)`` grid for a transmitter at ``tx``.

    ``buildings`` is the mask (nonzero inside a building), ``tx`` the transmitter position in cell units
    (a cell centre is ``(i + 0.5, j + 0.5)``). Returns float64 ``(nx, ny)``, floored at the noise floor.
    """
    mask = np.asarray(buildings) > 0.5
    nx, ny = mask.shape
    tx = np.asarray(tx, float)
    ix, iy = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5, indexing="ij")
    rx = np.stack([ix.ravel(), iy.ravel()], axis=1)
    rects = mask_rectangles(mask)
    walls, inside = penetration(tx[None, :], rx, rects, mask)
    dist = np.maximum(np.hypot(*(rx - tx).T) * params.cell_size, params.min_distance)
    direct = params.tx_power - friis_loss_db(dist, params.frequency) - _path_db(walls, inside, params)
    mw = 10.0 ** (direct / 10.0)
    if params.reflections and mask.any():
        mw = mw + _reflected_mw(tx, rx, exterior_walls(mask), rects, mask, params)
    power = 10.0 * np.log10(mw)
    return np.maximum(power, params.noise_floor).reshape(nx, ny)
