"""Grain structure as a cellular automaton driven by the temperature field (in the spirit of ExaCA).

Each cell holds a grain id (0: liquid) and each grain an orientation (unit quaternion, crystal -> sample).
One :meth:`GrainField.update` per thermal step applies, in order:

1. melting: cells at or above the liquidus become liquid (remelting erases their grain);
2. epitaxial growth: an undercooled liquid cell (below the liquidus) with solid neighbours joins one of them
   with probability ``min(1, undercooling / growth_undercooling)``; the neighbour is drawn with weights
   favouring growth up the thermal gradient, ``max(0, g·n)**gradient_bias``, and grains whose nearest <100>
   axis lies along that growth direction, ``max_i |a_i·n|**crystal_bias`` (``n`` the unit step from the
   neighbour into the cell, ``g`` the unit temperature gradient, ``a_i`` the cube axes in the sample frame);
   this is what makes favourably oriented columnar grains win;
3. nucleation: a remaining undercooled cell nucleates a new grain of uniformly random orientation with
   probability ``nucleation_max * Phi((undercooling - nucleation_mean) / nucleation_sigma)`` per step (the
   cumulative Gaussian nucleation law of Rappaz and Gandin, 1993); below the solidus it always solidifies.

Arrays are (nx, ny) with y up, as everywhere in Fieldcast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from fieldcast.engine.systems.melt.ipf import ipf_colors, quaternion_matrices, random_quaternions

__all__ = ["GrainField", "GrainParams"]

# Moore neighbourhood: unit offsets (dx, dy) to the eight neighbours.
_OFFSETS = [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]


@dataclass(frozen=True)
class GrainParams:
    """Cellular-automaton settings (undercoolings in K, sizes in cells, probabilities per update)."""

    substrate_grain: float = 6.0  # mean grain diameter of the initial plate
    growth_undercooling: float = 1.0
    nucleation_max: float = 0.01
    nucleation_mean: float = 12.0
    nucleation_sigma: float = 4.0
    gradient_bias: float = 2.0
    crystal_bias: float = 4.0


class GrainField:
    """Grain ids per cell and orientations per grain, updated from temperature fields.

    Parameters
    ----------
    nx, ny : grid size in cells.
    params : automaton settings.
    rng : random source for nucleation, neighbour choice and orientations.
    """

    def __init__(self, nx: int, ny: int, params: GrainParams | None, rng: np.random.Generator) -> None:
        self.params = params or GrainParams()
        self.rng = rng
        self.ids = np.zeros((nx, ny), dtype=np.int64)
        # Row 0 is a placeholder for "liquid" so grain ids index the tables directly.
        self.quaternions = np.zeros((1, 4))
        self.quaternions[0, 0] = 1.0
        self._axes = np.zeros((1, 3, 3))  # cube axes in the sample frame, one per row
        self._colors = np.zeros((1, 9))

    # ------------------------------------------------------------ grains

    def _new_grains(self, n: int) -> np.ndarray:
        """Append ``n`` random orientations; returns their ids."""
        q = random_quaternions(n, self.rng)
        first = len(self.quaternions)
        self.quaternions = np.concatenate([self.quaternions, q])
        self._axes = np.concatenate([self._axes, np.transpose(quaternion_matrices(q), (0, 2, 1))])
        self._colors = np.concatenate([self._colors, ipf_colors(q)])
        return np.arange(first, first + n)

    def fill_substrate(self) -> None:
        """Fill every cell with a Voronoi polycrystal, grains about ``substrate_grain`` cells across."""
        nx, ny = self.ids.shape
        n = max(1, round(nx * ny / self.params.substrate_grain**2))
        seeds = self.rng.uniform((0, 0), (nx, ny), size=(n, 2))
        x, y = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5, indexing="ij")
        d2 = (x[..., None] - seeds[:, 0]) ** 2 + (y[..., None] - seeds[:, 1]) ** 2  # (nx, ny, n)
        self.ids = self._new_grains(n)[np.argmin(d2, axis=-1)]

    @property
    def n_grains(self) -> int:
        """Grains created so far (including ones since remelted away)."""
        return len(self.quaternions) - 1

    def ipf(self) -> np.ndarray:
        """(9, nx, ny) float32 IPF colours (X, Y, Z sample directions × RGB); liquid cells are 0."""
        return np.moveaxis(self._colors[self.ids], -1, 0).astype(np.float32)

    # ------------------------------------------------------------ automaton

    def update(self, temp: np.ndarray, solidus: float, liquidus: float) -> None:
        """Melt, grow and nucleate from the temperature field ``temp`` (nx, ny) in K."""
        self.ids[temp >= liquidus] = 0
        under = liquidus - temp  # K, positive when undercooled
        cand = (self.ids == 0) & (under > 0)
        if not cand.any():
            return
        grown = self._grow(temp, under, cand)
        rest = cand & ~grown
        p = self.params
        p_nuc = p.nucleation_max * ndtr((under - p.nucleation_mean) / p.nucleation_sigma)
        nucleate = rest & ((self.rng.random(temp.shape) < p_nuc) | (temp < solidus))
        if nucleate.any():
            self.ids[nucleate] = self._new_grains(int(nucleate.sum()))

    def _grow(self, temp: np.ndarray, under: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Epitaxial capture of candidate cells by solid neighbours; returns the mask of captured cells."""
        p = self.params
        gx, gy = np.gradient(temp)
        norm = np.hypot(gx, gy) + 1e-12
        gx, gy = gx / norm, gy / norm
        padded = np.pad(self.ids, 1)
        nx, ny = self.ids.shape
        ci, cj = np.nonzero(cand)
        weights = np.zeros((len(ci), len(_OFFSETS)))
        neighbours = np.zeros((len(ci), len(_OFFSETS)), dtype=np.int64)
        for k, (di, dj) in enumerate(_OFFSETS):
            nb = padded[ci + 1 + di, cj + 1 + dj]
            n_vec = -np.array([di, dj], dtype=float) / np.hypot(di, dj)  # neighbour -> cell
            along = np.clip(gx[ci, cj] * n_vec[0] + gy[ci, cj] * n_vec[1], 0.0, 1.0)
            # Growth direction in the sample frame: array x is X, array y is Z.
            axes = self._axes[nb]  # (m, 3, 3)
            fit = np.abs(axes[:, :, 0] * n_vec[0] + axes[:, :, 2] * n_vec[1]).max(axis=1)
            # A small floor keeps growth possible against the gradient (e.g. in a flat isotherm).
            w = (along**p.gradient_bias + 0.05) * fit**p.crystal_bias
            weights[:, k] = np.where(nb > 0, w, 0.0)
            neighbours[:, k] = nb
        total = weights.sum(axis=1)
        p_cap = np.clip(under[ci, cj] / p.growth_undercooling, 0.0, 1.0)
        take = (total > 0) & (self.rng.random(len(ci)) < p_cap)
        cum = np.cumsum(weights, axis=1)
        pick = (cum < (self.rng.random(len(ci)) * total)[:, None]).sum(axis=1).clip(max=len(_OFFSETS) - 1)
        chosen = neighbours[np.arange(len(ci)), pick]
        grown = np.zeros((nx, ny), dtype=bool)
        grown[ci[take], cj[take]] = True
        self.ids[ci[take], cj[take]] = chosen[take]
        return grown
