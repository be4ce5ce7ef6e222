"""Isotropic J2 elasto-viscoplasticity at small strain, integrated with backward Euler at every cell.

Tensors are stored as ``(4, nx, ny)`` arrays of the components ``(11, 22, 12, 33)`` (the 13 and 23 shears
stay zero in the 2D cell). The Frobenius product of two such tensors weighs the shear twice
(:data:`WEIGHTS`). Stresses and moduli are in MPa.

Flow rule: the equivalent plastic strain rate is ``gdot = gdot0 * (q / xi) ** n`` with ``q`` the von Mises
stress and ``xi = xi0 + h0 * gamma`` (linear hardening in the equivalent plastic strain ``gamma``); the
plastic strain rate is ``1.5 * gdot * s / q`` (``s`` the stress deviator). Under a uniaxial strain rate
equal to ``gdot0`` the stress therefore settles on ``xi``:
yield near ``xi0`` and a plastic slope ``E h0 / (E + h0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "GAMMA_DOT0",
    "RATE_EXPONENT",
    "WEIGHTS",
    "J2Material",
    "J2Update",
    "dot",
    "return_map",
    "von_mises",
]

GAMMA_DOT0 = 1e-3  # reference equivalent plastic strain rate, 1/s
RATE_EXPONENT = 20.0
WEIGHTS = np.array([1.0, 1.0, 2.0, 1.0]).reshape(4, 1, 1)
_DELTA = np.array([1.0, 1.0, 0.0, 1.0]).reshape(4, 1, 1)
_NEWTON_ITERATIONS = 60


@dataclass(frozen=True)
class J2Material:
    """Per-cell material maps ``(nx, ny)``: Young's modulus ``E`` (MPa), Poisson's ratio ``nu``, initial
    flow stress ``xi0`` (MPa) and hardening modulus ``h0`` (MPa)."""

    E: np.ndarray
    nu: np.ndarray
    xi0: np.ndarray
    h0: np.ndarray
    gamma_dot0: float = GAMMA_DOT0
    n: float = RATE_EXPONENT

    @property
    def shear(self) -> np.ndarray:
        return self.E / (2.0 * (1.0 + self.nu))

    @property
    def bulk(self) -> np.ndarray:
        return self.E / (3.0 * (1.0 - 2.0 * self.nu))


@dataclass
class J2Update:
    """Result of one return map: the stress, the updated internal state and the consistent tangent.

    The tangent maps a strain change ``d`` to ``bulk tr(d) I + two_mu_beta dev(d) + c (nhat : d) nhat``.
    """

    stress: np.ndarray  # (4, nx, ny) MPa
    plastic_strain: np.ndarray  # (4, nx, ny), deviatoric
    gamma: np.ndarray  # (nx, ny) equivalent plastic strain
    bulk: np.ndarray
    two_mu_beta: np.ndarray
    c: np.ndarray
    nhat: np.ndarray  # (4, nx, ny) unit deviatoric direction of the trial stress

    def tangent(self, d: np.ndarray) -> np.ndarray:
        """Stress change (MPa) for a strain change ``d`` (4, nx, ny)."""
        tr = d[0] + d[1] + d[3]
        dev = d - (tr / 3.0) * _DELTA
        proj = dot_cells(self.nhat, d)
        return (self.bulk * tr) * _DELTA + self.two_mu_beta * dev + (self.c * proj) * self.nhat


def dot_cells(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frobenius product ``a : b`` at every cell, ``(nx, ny)``."""
    return a[0] * b[0] + a[1] * b[1] + 2.0 * a[2] * b[2] + a[3] * b[3]


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """Frobenius product summed over the cell."""
    return float(np.sum(dot_cells(a, b)))


def deviator(t: np.ndarray) -> np.ndarray:
    return t - ((t[0] + t[1] + t[3]) / 3.0) * _DELTA


def von_mises(stress: np.ndarray) -> np.ndarray:
    """Von Mises equivalent stress ``sqrt(1.5 s : s)`` of ``(4, nx, ny)`` stresses (same units)."""
    s = deviator(stress)
    return np.sqrt(1.5 * np.maximum(dot_cells(s, s), 0.0))


def return_map(
    strain: np.ndarray, plastic_strain: np.ndarray, gamma: np.ndarray, mat: J2Material, dt: float
) -> J2Update:
    """Backward-Euler update over ``dt`` seconds from the state ``(plastic_strain, gamma)`` to ``strain``.

    The equivalent plastic strain increment ``dgamma = a z**n`` (``a = gamma_dot0 dt``) solves
    ``z xi(dgamma) + 3 mu dgamma = q_trial``, a polynomial in ``z`` with positive coefficients, so Newton's
    method from an upper bound decreases monotonically onto its only positive root.
    """
    mu, bulk = mat.shear, mat.bulk
    n, a = mat.n, mat.gamma_dot0 * dt
    s_trial = 2.0 * mu * deviator(strain - plastic_strain)
    norm = np.sqrt(np.maximum(dot_cells(s_trial, s_trial), 0.0))
    q_trial = np.sqrt(1.5) * norm
    xi_n = mat.xi0 + mat.h0 * gamma
    # Two upper bounds of the root: each positive term alone reaches q_trial.
    z = np.minimum(q_trial / xi_n, (q_trial / (3.0 * mu * a)) ** (1.0 / n))
    for _ in range(_NEWTON_ITERATIONS):
        zn1 = z ** (n - 1.0)
        zn = zn1 * z
        phi = z * xi_n + mat.h0 * a * zn * z + 3.0 * mu * a * zn - q_trial
        dphi = xi_n + mat.h0 * a * (n + 1.0) * zn + 3.0 * mu * a * n * zn1
        step = phi / dphi
        z = np.maximum(z - step, 0.0)
        if np.all(np.abs(step) <= 1e-13 * np.maximum(z, 1e-300)):
            break
    zn1 = z ** (n - 1.0)
    dgamma = a * zn1 * z
    safe_q = np.where(q_trial > 0.0, q_trial, 1.0)
    beta = np.where(q_trial > 0.0, 1.0 - 3.0 * mu * dgamma / safe_q, 1.0)
    # 1 / (3 mu + H') with H' = d(xi (dgamma/a)^(1/n)) / d dgamma, written so that z -> 0 does not overflow.
    xi = xi_n + mat.h0 * dgamma
    num = n * a * zn1
    inv = num / (3.0 * mu * num + mat.h0 * num * z + xi)
    c = 6.0 * mu * mu * (np.where(q_trial > 0.0, dgamma / safe_q, 0.0) - inv)
    nhat = s_trial / np.where(norm > 0.0, norm, 1.0)
    tr = strain[0] + strain[1] + strain[3]
    stress = (bulk * tr) * _DELTA + beta * s_trial
    new_plastic = plastic_strain + (np.sqrt(1.5) * dgamma) * nhat
    return J2Update(stress, new_plastic, gamma + dgamma, bulk, 2.0 * mu * beta, c, nhat)
