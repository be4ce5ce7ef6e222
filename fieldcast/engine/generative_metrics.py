"""Quality of generated 2D maps against the truth: NMSE, RMSE, SSIM, PSNR and spread-vs-error calibration.

All functions take numpy arrays of maps ``(nx, ny)`` or batches ``(n, nx, ny)`` in any consistent units.
Generative-model papers (RadioMapSeer, RadioDiff) compute these on maps scaled to [0, 1]; Fieldcast does the
same with :func:`to_unit_range` and the target's training range, so the figures do not depend on whether a
map is stored in dB or W:

- ``nmse = sum((pred - truth)**2) / sum(truth**2)`` per map, averaged over maps;
- ``rmse = sqrt(mean((pred - truth)**2))``;
- ``ssim``: Wang et al. (2004) with an 11x11 Gaussian window of sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``,
  on the given ``data_range``, mean over the map (and over maps);
- ``psnr = 10 log10(data_range**2 / mse)`` in dB, per map, averaged over maps;
- :func:`spread_error`: for several samples of one condition, the Pearson correlation between the per-pixel
  standard deviation of the samples and the per-pixel absolute error of their mean, and a binned curve
  (mean error per spread bin); a calibrated generator's spread grows with its error.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nmse", "psnr", "rmse", "spread_error", "ssim", "to_unit_range"]

_K1, _K2, _SIGMA = 0.01, 0.03, 1.5


def _batch(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if a.ndim == 2:
        return a[None]
    if a.ndim != 3:
        raise ValueError(f"expected maps (nx, ny) or (n, nx, ny), got shape {a.shape}")
    return a


def _pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = _batch(pred), _batch(truth)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    return p, t


def to_unit_range(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``a`` mapped linearly so that ``lo`` -> 0 and ``hi`` -> 1 (values outside stay outside)."""
    span = float(hi) - float(lo)
    if not span > 0:
        raise ValueError(f"the range [{lo}, {hi}] is empty")
    return (np.asarray(a, np.float64) - float(lo)) / span


def nmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over maps of ``sum((pred - truth)**2) / sum(truth**2)``; a zero truth map counts its plain SSE."""
    p, t = _pair(pred, truth)
    err = ((p - t) ** 2).sum(axis=(1, 2))
    ref = (t**2).sum(axis=(1, 2))
    return float(np.mean(np.where(ref > 0, err / np.where(ref > 0, ref, 1.0), err)))


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error over every pixel of every map."""
    p, t = _pair(pred, truth)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def psnr(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Mean over maps of ``10 log10(data_range**2 / mse)`` (dB); identical maps give ``inf``."""
    p, t = _pair(pred, truth)
    mse = ((p - t) ** 2).mean(axis=(1, 2))
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(float(data_range) ** 2 / mse)
    return float(np.mean(values))


def _gauss(a: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    # truncate 3.5 sigma = radius 5: the 11x11 window of Wang et al.; 'reflect' keeps the border honest
    return gaussian_filter(a, sigma=(0, _SIGMA, _SIGMA), truncate=3.5, mode="reflect")


def ssim(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window) over pixels and maps; 1 for identical maps."""
    p, t = _pair(pred, truth)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mp, mt = _gauss(p), _gauss(t)
    vp = _gauss(p * p) - mp**2
    vt = _gauss(t * t) - mt**2
    cov = _gauss(p * t) - mp * mt
    s = ((2 * mp * mt + c1) * (2 * cov + c2)) / ((mp**2 + mt**2 + c1) * (vp + vt + c2))
    return float(np.mean(s))


def spread_error(samples: np.ndarray, truth: np.ndarray, bins: int = 8) -> dict:
    """Spread-vs-error calibration of several samples ``(n, nx, ny)`` of one condition against ``truth``.

    Returns ``corr`` (Pearson correlation of per-pixel std and per-pixel |mean - truth|; NaN when either is
    constant, e.g. a deterministic model), ``spread`` and ``error`` (the mean of each in ``bins`` quantile
    bins of the spread; empty bins dropped), ``mean_spread`` and ``mean_error``.
    """
    s = _batch(samples)
    t = np.asarray(truth, np.float64)
    if t.shape != s.shape[1:]:
        raise ValueError(f"samples {s.shape} and truth {t.shape} differ in map shape")
    std = s.std(axis=0).ravel()
    err = np.abs(s.mean(axis=0) - t).ravel()
    corr = float("nan")
    if std.std() > 0 and err.std() > 0:
        corr = float(np.corrcoef(std, err)[0, 1])
    edges = np.unique(np.quantile(std, np.linspace(0.0, 1.0, bins + 1)))
    which = np.clip(np.searchsorted(edges, std, side="right") - 1, 0, max(len(edges) - 2, 0))
    spread, error = [], []
    for b in range(max(len(edges) - 1, 1)):
        sel = which == b
        if sel.any():
            spread.append(float(std[sel].mean()))
            error.append(float(err[sel].mean()))
    return {
        "corr": corr,
        "spread": spread,
        "error": error,
        "mean_spread": float(std.mean()),
        "mean_error": float(err.mean()),
    }
