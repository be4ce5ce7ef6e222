"""MAC-grid operators of the smoke solver: face masks, divergence, pressure projection, implicit viscosity.

Grid convention (cell-index units, cell size 1): cell ``(i, j)`` has its centre at ``(i, j)``; the
x-velocity ``u`` lives on x-faces, shape ``(nx + 1, ny)``, face ``(i, j)`` at ``(i - 0.5, j)``; the
y-velocity ``v`` lives on y-faces, shape ``(nx, ny + 1)``, face ``(i, j)`` at ``(i, j - 0.5)``.
Velocities are in cells per frame.

The pressure Poisson matrix depends only on which cells are solid and which domain sides are open, so it is
factorised once per layout (sparse LU with a minimum-degree ordering) and the factors are kept in a small
cache; each projection is then two triangular solves, exact to round-off.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import ndimage

__all__ = [
    "BOUNDARY_ALIASES",
    "FaceMasks",
    "Projector",
    "face_divergence",
    "face_masks",
    "parse_boundary",
]

# Open sides as (x_low, x_high, y_low, y_high); an open side has pressure 0 outside, so flow can leave.
BOUNDARY_ALIASES: dict[str, tuple[bool, bool, bool, bool]] = {
    "closed": (False, False, False, False),
    "open": (True, True, True, True),
    "open_top": (False, False, False, True),
}


def parse_boundary(boundary: str | tuple[bool, bool, bool, bool]) -> tuple[bool, bool, bool, bool]:
    """Normalise a boundary description to open-side flags ``(x_low, x_high, y_low, y_high)``.

    ``boundary`` is one of :data:`BOUNDARY_ALIASES` or a 4-tuple of booleans (True = open side).
    """
    if isinstance(boundary, str):
        try:
            return BOUNDARY_ALIASES[boundary]
        except KeyError:
            raise ValueError(
                f"unknown boundary {boundary!r}; use one of {', '.join(BOUNDARY_ALIASES)} or 4 booleans"
            ) from None
    flags = tuple(bool(b) for b in boundary)
    if len(flags) != 4:
        raise ValueError("boundary must give 4 open-side flags (x_low, x_high, y_low, y_high)")
    return flags  # type: ignore[return-value]


@dataclass(frozen=True)
class FaceMasks:
    """Which cells are fluid and which faces carry flow, for one collider layout and boundary."""

    fluid: np.ndarray  # (nx, ny) bool
    u_free: np.ndarray  # (nx + 1, ny) bool: x-faces whose velocity the solver may change
    v_free: np.ndarray  # (nx, ny + 1) bool


def face_masks(solid: np.ndarray, open_sides: tuple[bool, bool, bool, bool]) -> FaceMasks:
    """Free faces: both neighbouring cells are fluid, or an edge face of a fluid cell on an open side."""
    fluid = ~solid
    nx, ny = solid.shape
    u_free = np.zeros((nx + 1, ny), bool)
    u_free[1:-1] = fluid[1:] & fluid[:-1]
    u_free[0] = fluid[0] & open_sides[0]
    u_free[-1] = fluid[-1] & open_sides[1]
    v_free = np.zeros((nx, ny + 1), bool)
    v_free[:, 1:-1] = fluid[:, 1:] & fluid[:, :-1]
    v_free[:, 0] = fluid[:, 0] & open_sides[2]
    v_free[:, -1] = fluid[:, -1] & open_sides[3]
    return FaceMasks(fluid, u_free, v_free)


def face_divergence(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Net outflow of every cell from its four faces, in cells/frame per cell: shape ``(nx, ny)``."""
    return (u[1:] - u[:-1]) + (v[:, 1:] - v[:, :-1])


def _layout_key(solid: np.ndarray, open_sides: tuple[bool, ...], extra: float = 0.0) -> bytes:
    h = hashlib.blake2b(np.packbits(solid).tobytes(), digest_size=16)
    h.update(repr((solid.shape, open_sides, extra)).encode())
    return h.digest()


def _pressure_matrix(masks: FaceMasks) -> tuple[sp.csc_matrix, np.ndarray]:
    """Graph Laplacian over fluid cells (negative semi-definite) and the flat indices of those cells.

    Each free interior face couples its two cells; a free face on an open side adds only a diagonal term
    because the pressure outside is 0. Fluid regions that touch no open side have a pure-Neumann problem,
    defined up to a constant: one cell of each such region gets an extra -1 on the diagonal, which pins its
    pressure to 0 without changing any divergence equation (the region's divergences sum to zero).
    """
    fluid = masks.fluid
    nx, ny = fluid.shape
    cells = np.flatnonzero(fluid)
    index = np.full(nx * ny, -1, np.int64)
    index[cells] = np.arange(cells.size)
    grid = index.reshape(nx, ny)

    rows, cols, vals = [], [], []
    diag = np.zeros(cells.size)
    # Interior faces: pairs of fluid cells.
    for a, b in (
        (grid[:-1][masks.u_free[1:-1]], grid[1:][masks.u_free[1:-1]]),
        (grid[:, :-1][masks.v_free[:, 1:-1]], grid[:, 1:][masks.v_free[:, 1:-1]]),
    ):
        rows += [a, b]
        cols += [b, a]
        vals += [np.ones(a.size), np.ones(b.size)]
        np.subtract.at(diag, a, 1.0)
        np.subtract.at(diag, b, 1.0)
    # Open-side faces: the ghost pressure outside is 0.
    for face, cell in (
        (masks.u_free[0], grid[0]),
        (masks.u_free[-1], grid[-1]),
        (masks.v_free[:, 0], grid[:, 0]),
        (masks.v_free[:, -1], grid[:, -1]),
    ):
        np.subtract.at(diag, cell[face], 1.0)

    labels, n_regions = ndimage.label(fluid)
    if n_regions:
        open_cells = np.zeros((nx, ny), bool)
        open_cells[0] |= masks.u_free[0]
        open_cells[-1] |= masks.u_free[-1]
        open_cells[:, 0] |= masks.v_free[:, 0]
        open_cells[:, -1] |= masks.v_free[:, -1]
        vented = np.zeros(n_regions + 1, bool)
        vented[np.unique(labels[open_cells])] = True
        flat_labels = labels.ravel()[cells]
        first = np.full(n_regions + 1, -1, np.int64)
        # Reversed assignment leaves the first cell of each region in `first`.
        first[flat_labels[::-1]] = np.arange(cells.size)[::-1]
        pinned = first[1:][~vented[1:]]
        diag[pinned] -= 1.0

    rows.append(np.arange(cells.size))
    cols.append(np.arange(cells.size))
    vals.append(diag)
    matrix = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(cells.size, cells.size)
    )
    return matrix, cells


def _diffusion_matrix(free: np.ndarray, nu_dt: float) -> tuple[sp.csc_matrix, np.ndarray]:
    """``I - nu_dt * Laplacian`` over the free faces of one velocity component.

    Non-free neighbours (walls, colliders) hold velocity 0 (Dirichlet); neighbours beyond the array edge are
    mirrored (zero normal gradient), which is a free-slip wall for the tangential component.
    """
    mx, my = free.shape
    faces = np.flatnonzero(free)
    index = np.full(mx * my, -1, np.int64)
    index[faces] = np.arange(faces.size)
    grid = index.reshape(mx, my)
    diag = np.ones(faces.size)
    rows, cols = [], []
    for axis in (0, 1):
        n = free.shape[axis]
        lo = [slice(None), slice(None)]
        hi = [slice(None), slice(None)]
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        a_free, b_free = free[tuple(lo)], free[tuple(hi)]
        a_idx, b_idx = grid[tuple(lo)], grid[tuple(hi)]
        # Every in-range neighbour pair adds nu_dt to the diagonal of each free member.
        np.add.at(diag, a_idx[a_free], nu_dt)
        np.add.at(diag, b_idx[b_free], nu_dt)
        both = a_free & b_free
        rows += [a_idx[both], b_idx[both]]
        cols += [b_idx[both], a_idx[both]]
    off_r = np.concatenate(rows)
    off_c = np.concatenate(cols)
    matrix = sp.csc_matrix(
        (
            np.concatenate([diag, np.full(off_r.size, -nu_dt)]),
            (np.concatenate([np.arange(faces.size), off_r]), np.concatenate([np.arange(faces.size), off_c])),
        ),
        shape=(faces.size, faces.size),
    )
    return matrix, faces


def _factorise(matrix: sp.csc_matrix) -> Callable[[np.ndarray], np.ndarray]:
    # A minimum-degree ordering on A^T + A suits these symmetric 5-point matrices: about half the fill of
    # COLAMD, so solves are about twice as fast.
    return spla.splu(matrix, permc_spec="MMD_AT_PLUS_A").solve


class Projector:
    """Pressure projection and implicit viscosity on a MAC grid, with factorisations cached per layout.

    Parameters
    ----------
    open_sides : open-side flags ``(x_low, x_high, y_low, y_high)`` (see :func:`parse_boundary`).
    cache_size : number of cached entries (about four per collider layout; painting colliders makes new ones).
    """

    def __init__(self, open_sides: tuple[bool, bool, bool, bool], cache_size: int = 32) -> None:
        self.open_sides = open_sides
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, object] = OrderedDict()

    def _cached(self, key: bytes, build: Callable[[], object]) -> object:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = build()
        self._cache[key] = value
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return value

    def masks(self, solid: np.ndarray) -> FaceMasks:
        """Fluid cells and free faces for the boolean ``solid`` layout (cached)."""
        key = _layout_key(solid, self.open_sides, -1.0)
        return self._cached(key, lambda: face_masks(solid, self.open_sides))  # type: ignore[return-value]

    def _pressure_solver(self, solid: np.ndarray):
        def build():
            masks = self.masks(solid)
            matrix, cells = _pressure_matrix(masks)
            return _factorise(matrix), cells

        return self._cached(_layout_key(solid, self.open_sides), build)

    def project(self, u: np.ndarray, v: np.ndarray, solid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remove the divergent part of the face velocities; returns new ``(u, v)``.

        Faces of solid cells and of closed sides get velocity 0 (static walls); afterwards every fluid cell's
        face divergence is zero to round-off (about 1e-12 for velocities of order 1).
        """
        masks = self.masks(solid)
        solve, cells = self._pressure_solver(solid)
        u = np.where(masks.u_free, u, 0.0)
        v = np.where(masks.v_free, v, 0.0)
        if cells.size == 0:
            return u, v
        rhs = face_divergence(u, v).ravel()[cells]
        pressure = np.zeros(solid.shape)
        pressure.ravel()[cells] = solve(rhs)
        # Zero padding is the open-side ghost pressure; faces of walls and solids are masked anyway.
        px = np.pad(pressure, ((1, 1), (0, 0)))
        py = np.pad(pressure, ((0, 0), (1, 1)))
        u -= np.where(masks.u_free, px[1:] - px[:-1], 0.0)
        v -= np.where(masks.v_free, py[:, 1:] - py[:, :-1], 0.0)
        return u, v

    def diffuse(
        self, u: np.ndarray, v: np.ndarray, solid: np.ndarray, nu_dt: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Implicit (backward Euler) viscosity: solve ``(I - nu_dt * Laplacian) w = w_old`` per component.

        ``nu_dt`` is viscosity (cells²/frame) times the step (frames). Unconditionally stable.
        """
        if nu_dt <= 0.0:
            return u, v
        masks = self.masks(solid)
        out = []
        for name, field, free in (("u", u, masks.u_free), ("v", v, masks.v_free)):
            key = _layout_key(solid, self.open_sides, nu_dt) + name.encode()

            def build(free=free):
                matrix, faces = _diffusion_matrix(free, nu_dt)
                return _factorise(matrix), faces

            solve, faces = self._cached(key, build)
            new = np.zeros_like(field)
            new.ravel()[faces] = solve(field.ravel()[faces])
            out.append(new)
        return out[0], out[1]
