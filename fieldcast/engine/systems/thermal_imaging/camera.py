"""What an infrared camera reads from a hot plate: emissivity, radiance, optics blur, sensor, noise.

The chain, each step a small function:

1. Emissivity (:func:`emissivity`): the solid surface's value follows the plate's surface map (0 bright metal,
   ``eps_bright``; 1 oxidised, ``eps_oxide``, linear between), and changes on melting to the liquid value
   ``eps_liquid``, linearly in the liquid fraction through the mushy range. Defaults, representative of
   stainless steel: bright solid 0.30, oxidised solid 0.70, liquid 0.18 (a clean liquid surface is smoother
   and emits less than the solid it came from).
2. Radiance (:func:`radiance`): what leaves the surface towards the camera, ``eps B(T) + (1 - eps) B(T0)``
   (emission plus the surroundings at ambient ``T0`` reflected by an opaque surface). ``B`` is either the
   total (Stefan-Boltzmann) exitance ``sigma T^4`` or the blackbody exitance inside a wavelength band
   (Planck's law integrated over the band), in W/m².
3. Optics (:func:`blur`): a Gaussian point-spread function of standard deviation ``psf_sigma`` (m), with
   mirrored edges so the total signal is conserved.
4. Sensor (:func:`downsample`): each pixel averages ``factor`` × ``factor`` cells of the scene.
5. Reading (:func:`sensor_reading`): the signal as a fraction of the full well (the exitance of a blackbody
   at ``full_well_temperature``), photo-electrons with shot noise (Poisson, ``well_capacity`` electrons at
   full well), clipped at the full well, plus Gaussian read noise (``read_noise`` electrons), quantised to
   ``bits`` and returned normalised to 0..1 (1 = saturated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from fieldcast.engine.systems.melt.thermal import STEFAN_BOLTZMANN

__all__ = [
    "Camera",
    "band_exitance",
    "blackbody_exitance",
    "blur",
    "downsample",
    "emissivity",
    "radiance",
    "sensor_reading",
]

_H = 6.62607015e-34  # J s
_C = 299_792_458.0  # m/s
_KB = 1.380649e-23  # J/K
_BAND_NODES = 48


@dataclass(frozen=True)
class Camera:
    """The camera's constants (SI units; see the module docstring for each step)."""

    eps_bright: float = 0.30
    eps_oxide: float = 0.70
    eps_liquid: float = 0.18
    radiance_model: str = "total"  # "total" (Stefan-Boltzmann) or "band" (Planck over band)
    band: tuple[float, float] = (3e-6, 5e-6)  # m
    psf_sigma: float = 20e-6  # m
    factor: int = 2  # scene cells per sensor pixel along each axis
    full_well_temperature: float = 2000.0  # K: the blackbody that fills the well
    well_capacity: float = 20000.0  # electrons
    read_noise: float = 40.0  # electrons
    bits: int = 12


def emissivity(liquid_fraction: np.ndarray, oxide: np.ndarray, camera: Camera) -> np.ndarray:
    """Surface emissivity from the liquid fraction (0..1) and the surface map (0 bright .. 1 oxidised)."""
    solid = camera.eps_bright + (camera.eps_oxide - camera.eps_bright) * np.asarray(oxide, float)
    f = np.clip(np.asarray(liquid_fraction, float), 0.0, 1.0)
    return solid + (camera.eps_liquid - solid) * f


def band_exitance(temperature: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Blackbody exitance (W/m²) between wavelengths ``band`` (m): Planck's law, Gauss-Legendre."""
    t = np.asarray(temperature, float)
    nodes, weights = np.polynomial.legendre.leggauss(_BAND_NODES)
    lo, hi = band
    lam = 0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)
    w = 0.5 * (hi - lo) * weights
    x = (_H * _C / _KB) / (lam[:, None] * np.maximum(t.reshape(1, -1), 1e-3))
    spectral = (2.0 * math.pi * _H * _C**2 / lam[:, None] ** 5) / np.expm1(np.minimum(x, 700.0))
    return (w @ spectral).reshape(t.shape)


def blackbody_exitance(temperature: np.ndarray, camera: Camera) -> np.ndarray:
    """The camera's blackbody law: ``sigma T^4`` (total) or the band integral (band), W/m²."""
    if camera.radiance_model == "band":
        return band_exitance(temperature, camera.band)
    if camera.radiance_model != "total":
        raise ValueError(f"radiance_model must be 'total' or 'band', got {camera.radiance_model!r}")
    return STEFAN_BOLTZMANN * np.asarray(temperature, float) ** 4


def radiance(temperature: np.ndarray, eps: np.ndarray, ambient: float, camera: Camera) -> np.ndarray:
    """Exitance towards the camera, W/m²: emission ``eps B(T)`` plus the reflected surroundings."""
    eps = np.asarray(eps, float)
    return eps * blackbody_exitance(temperature, camera) + (1.0 - eps) * blackbody_exitance(ambient, camera)


def blur(image: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Gaussian optics blur of standard deviation ``sigma_cells`` (cells); mirrored edges conserve the sum."""
    if sigma_cells <= 0:
        return np.asarray(image, float).copy()
    return gaussian_filter(np.asarray(image, float), sigma_cells, mode="reflect", truncate=4.0)


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` × ``factor`` blocks (the sensor's pixels); the sides must divide by ``factor``."""
    a = np.asarray(image, float)
    nx, ny = a.shape
    if nx % factor or ny % factor:
        raise ValueError(f"a {nx} x {ny} scene does not divide into {factor} x {factor} pixels")
    return a.reshape(nx // factor, factor, ny // factor, factor).mean(axis=(1, 3))


def sensor_reading(signal: np.ndarray, camera: Camera, rng: np.random.Generator | None) -> np.ndarray:
    """Normalised reading 0..1 of a pixel exitance map (W/m²); ``rng`` None reads without noise."""
    full = float(blackbody_exitance(camera.full_well_temperature, camera))
    electrons = np.clip(np.asarray(signal, float) / full, 0.0, None) * camera.well_capacity
    if rng is not None:
        # Photon shot noise. Far above the well the count is clipped anyway; capping the mean keeps the
        # Poisson draw in range for any temperature.
        electrons = rng.poisson(np.minimum(electrons, 4.0 * camera.well_capacity)).astype(float)
    electrons = np.minimum(electrons, camera.well_capacity)
    if rng is not None:
        electrons = electrons + rng.normal(0.0, camera.read_noise, electrons.shape)
    levels = 2**camera.bits - 1
    return np.round(np.clip(electrons / camera.well_capacity, 0.0, 1.0) * levels) / levels
