"""Spectral (FFT) solver for a periodic 2D cell of J2 elasto-viscoplastic grains at small strain.

The cell is a generalised plane-strain slice: in-plane strain fluctuations come from a periodic
displacement, the out-of-plane strain ``e33`` is uniform, and uniaxial tension prescribes the mean ``e11``
while the mean stresses ``s22``, ``s12`` and ``s33`` vanish (a one-cell-thick periodic volume pulled along x).

Each load increment is solved with Newton's method on the Galerkin (projected) equilibrium equations
``P(sigma(eps)) = 0``, each Newton system with conjugate gradients on ``P C_t P`` (de Geus et al. 2017).
``P`` is the orthogonal projection onto admissible strain changes: compatible periodic fluctuations plus
the uniform components that are not prescribed. Derivatives use the rotated finite-difference scheme
(Willot 2015), whose gradient direction ``(sin a cos b, cos a sin b)`` (``a``, ``b`` = pi times the wave
numbers over the grid) is real, so even grids need no special care of the Nyquist modes and the fields show
no Gibbs ringing at grain boundaries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from fieldcast.engine.systems.stress.j2 import J2Material, J2Update, dot, return_map, von_mises

__all__ = ["IncrementResult", "LoadPath", "SpectralJ2Solver", "projector_directions"]


@dataclass(frozen=True)
class LoadPath:
    """Uniaxial tension ``F11 = 1 + rate * t``: the mean ``e11`` grows by ``rate * dt`` per increment."""

    rate: float = 1e-3  # 1/s
    dt: float = 0.2  # s per increment

    @property
    def strain_step(self) -> float:
        return self.rate * self.dt


@dataclass
class IncrementResult:
    """Fields after one increment: stress ``(4, nx, ny)`` MPa, von Mises stress ``(nx, ny)`` MPa."""

    stress: np.ndarray
    von_mises: np.ndarray
    strain: np.ndarray
    newton_iterations: int
    cg_iterations: int
    residual: float
    seconds: float


def projector_directions(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit gradient directions ``(n1, n2)`` (rotated scheme) on the ``rfft2`` grid; 0 where undefined."""
    a = np.pi * np.fft.fftfreq(nx)[:, None]  # pi q / N with q in [-N/2, N/2)
    b = np.pi * np.fft.rfftfreq(ny)[None, :]
    g1 = np.sin(a) * np.cos(b)
    g2 = np.cos(a) * np.sin(b)
    norm = np.sqrt(g1**2 + g2**2)
    ok = norm > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, norm, 1.0), 0.0)
    return g1 * inv, g2 * inv


@dataclass
class SpectralJ2Solver:
    """A periodic cell of J2 grains under uniaxial tension; call :meth:`step` once per increment.

    Parameters
    ----------
    material : per-cell maps (MPa); the grid is their shape.
    load : the load path (strain rate and time per increment).
    tol : Newton stops when ``|P sigma| / |sigma|`` is below it (Frobenius norms over the cell).
    cg_tol : relative tolerance of each conjugate-gradient solve.
    """

    material: J2Material
    load: LoadPath = field(default_factory=LoadPath)
    tol: float = 1e-7
    cg_tol: float = 1e-5
    max_newton: int = 30
    max_cg: int = 500

    def __post_init__(self) -> None:
        nx, ny = self.material.E.shape
        self.shape = (nx, ny)
        self.n1, self.n2 = projector_directions(nx, ny)
        self.free_mean = np.array([False, True, True, True])  # mean 11 is prescribed
        self.reset()

    def reset(self) -> None:
        """Back to the unloaded, virgin cell."""
        nx, ny = self.shape
        self.increment = 0
        self.strain = np.zeros((4, nx, ny))
        self.previous_strain = self.strain.copy()
        self.plastic_strain = np.zeros((4, nx, ny))
        self.gamma = np.zeros((nx, ny))
        self.stress = np.zeros((4, nx, ny))

    @property
    def mean_strain11(self) -> float:
        return self.increment * self.load.strain_step

    # Projection ---------------------------------------------------------------------------------------------
    def project(self, t: np.ndarray) -> np.ndarray:
        """Orthogonal projection of a tensor field ``(4, nx, ny)`` onto admissible strain changes."""
        n1, n2 = self.n1, self.n2
        nx, ny = self.shape
        h = sfft.rfft2(t[:3], axes=(-2, -1))  # (3, nx, ny//2+1)
        v1 = h[0] * n1 + h[2] * n2
        v2 = h[2] * n1 + h[1] * n2
        nv = n1 * v1 + n2 * v2
        out = np.empty_like(h)
        out[0] = 2.0 * n1 * v1 - nv * n1 * n1
        out[1] = 2.0 * n2 * v2 - nv * n2 * n2
        out[2] = n1 * v2 + n2 * v1 - nv * n1 * n2
        out[:, 0, 0] = np.where(self.free_mean[:3], h[:, 0, 0], 0.0)
        res = np.empty_like(t)
        res[:3] = sfft.irfft2(out, s=(nx, ny), axes=(-2, -1))
        res[3] = t[3].mean() if self.free_mean[3] else 0.0
        return res

    def equilibrium_residual(self, stress: np.ndarray | None = None) -> float:
        """``|P sigma| / |sigma|``: 0 when the stress is divergence-free and the free mean stresses vanish."""
        s = self.stress if stress is None else stress
        scale = np.sqrt(dot(s, s))
        return float(np.sqrt(max(dot(self.project(s), self.project(s)), 0.0)) / scale) if scale > 0 else 0.0

    def compatibility_residual(self, strain: np.ndarray | None = None) -> float:
        """Relative size of the part of the strain fluctuation that no periodic displacement produces."""
        e = self.strain if strain is None else strain
        mean = e.mean(axis=(1, 2), keepdims=True)
        fluct = e - mean
        fluct[3] = 0.0  # e33 is uniform by construction: its fluctuation is checked to vanish below
        saved = self.free_mean
        self.free_mean = np.array([False, False, False, False])
        try:
            compat = self.project(fluct)
        finally:
            self.free_mean = saved
        bad = fluct - compat
        bad[3] = e[3] - e[3].mean()
        scale = np.sqrt(dot(e, e))
        return float(np.sqrt(max(dot(bad, bad), 0.0)) / scale) if scale > 0 else 0.0

    def divergence(self, stress: np.ndarray | None = None) -> np.ndarray:
        """Discrete divergence of the in-plane stress in the solver's own scheme, ``(2, nx, ny)`` MPa/cell."""
        s = self.stress if stress is None else stress
        nx, ny = self.shape
        a = np.pi * np.fft.fftfreq(nx)[:, None]
        b = np.pi * np.fft.rfftfreq(ny)[None, :]
        phase = np.exp(1j * (a + b))
        k1 = 2j * np.sin(a) * np.cos(b) * phase
        k2 = 2j * np.cos(a) * np.sin(b) * phase
        h = sfft.rfft2(s[:3], axes=(-2, -1))
        d1 = h[0] * k1 + h[2] * k2
        d2 = h[2] * k1 + h[1] * k2
        return np.stack([sfft.irfft2(d, s=(nx, ny)) for d in (d1, d2)])

    # Solving ------------------------------------------------------------------------------------------------
    def _cg(self, update: J2Update, rhs: np.ndarray) -> tuple[np.ndarray, int]:
        x = np.zeros_like(rhs)
        r = rhs.copy()
        p = r.copy()
        rr = dot(r, r)
        stop = (self.cg_tol**2) * rr
        for i in range(1, self.max_cg + 1):
            ap = self.project(update.tangent(p))
            alpha = rr / dot(p, ap)
            x += alpha * p
            r -= alpha * ap
            rr_new = dot(r, r)
            if rr_new <= stop:
                return x, i
            p = r + (rr_new / rr) * p
            rr = rr_new
        return x, self.max_cg

    def step(self) -> IncrementResult:
        """Advance one load increment; raises RuntimeError if Newton does not converge."""
        start = time.perf_counter()
        dt = self.load.dt
        strain = self.strain + (self.strain - self.previous_strain)
        if self.increment == 0:
            strain[0] += self.load.strain_step
        cg_total = 0
        residual = np.inf
        iteration = 0
        while iteration < self.max_newton:
            iteration += 1
            update = return_map(strain, self.plastic_strain, self.gamma, self.material, dt)
            r = self.project(update.stress)
            scale = np.sqrt(dot(update.stress, update.stress))
            residual = np.sqrt(dot(r, r)) / scale if scale > 0 else 0.0
            if residual < self.tol:
                break
            delta, n_cg = self._cg(update, -r)
            cg_total += n_cg
            strain = strain + delta
        else:
            raise RuntimeError(
                f"stress solver: increment {self.increment + 1} did not converge "
                f"(residual {residual:.2e} after {self.max_newton} Newton iterations)"
            )
        self.previous_strain = self.strain
        self.strain = strain
        self.plastic_strain = update.plastic_strain
        self.gamma = update.gamma
        self.stress = update.stress
        self.increment += 1
        return IncrementResult(
            self.stress,
            von_mises(self.stress),
            self.strain,
            iteration,
            cg_total,
            float(residual),
            time.perf_counter() - start,
        )

    def run(
        self, increments: int, on_increment: Callable[[IncrementResult], None] | None = None
    ) -> list[IncrementResult]:
        """``increments`` steps from the current state; ``on_increment`` sees each result as it comes."""
        out = []
        for _ in range(increments):
            res = self.step()
            if on_increment is not None:
                on_increment(res)
            out.append(res)
        return out
