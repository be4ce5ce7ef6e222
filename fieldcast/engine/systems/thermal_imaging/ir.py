"""Infrared frames of laser melting: a scan over the plate, the plate solver, the camera, the condition maps.

One run draws a plate (its surface map: bright and oxidised regions), a serpentine hatch scan and a start
time, runs :class:`~.plate.PlateSolver` along the scan and, at ``frames`` instants ``frame_dt`` apart, takes
what the camera reads (:mod:`.camera`) together with the condition maps on the sensor's grid:

- ``laser``: the beam now, ``P exp(-2 r² / R²)`` (W, peak = power; 0 while the laser is off);
- ``laser_recent``: the beam over the last ``recent_frames`` frame intervals, ``samples`` positions per
  interval, each weighted ``0.5 ** (age / frame_dt) / samples`` (W);
- ``scan_path``: 1 on every pixel whose centre came within one spot radius of the beam while it was on;
- ``material``: the plate's surface map as laid out (0 bright metal, 1 oxidised; pixel averages). Metal that
  melts solidifies bright, so the camera sees the scanned tracks, but this map shows the plate as laid out.

The scene grid has ``factor`` (the camera's) cells per sensor pixel along each axis.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from fieldcast.engine.systems.melt.thermal import Laser, Material
from fieldcast.engine.systems.thermal_imaging.camera import (
    Camera,
    blur,
    downsample,
    emissivity,
    radiance,
    sensor_reading,
)
from fieldcast.engine.systems.thermal_imaging.plate import (
    PlateSolver,
    Stroke,
    beam_at,
    hatch_strokes,
    path_strokes,
)

__all__ = ["IR_FIELDS", "MEMORY", "IRRun", "IRSettings", "ir_from_path", "sample_ir_run", "simulate_ir"]

IR_FIELDS = ("laser", "laser_recent", "scan_path", "material", "ir")
#: cooling time constants of scan history over which a drawn path's frame is solved
MEMORY = 8.0


@dataclass(frozen=True)
class IRSettings:
    """Every knob of the infrared source (SI units): plate, scan, laser and camera.

    ``dx`` is the scene cell (m); the sensor pixel is ``dx * factor``. Ranges are (low, high) drawn
    uniformly per run (``warmup``: scan time before the first frame) or per hatch line (power, speed, pause).
    """

    dx: float = 15e-6
    frame_dt: float = 2.5e-4
    power: tuple[float, float] = (150.0, 300.0)
    speed: tuple[float, float] = (0.4, 1.0)
    radius: float = 50e-6
    absorptivity: float = 0.35
    spacing: tuple[float, float] = (60e-6, 120e-6)
    pause: tuple[float, float] = (0.0, 1e-4)
    warmup: tuple[float, float] = (0.0, 4e-3)
    layer: float = 100e-6
    lateral: float = 2.0
    ambient: float = 300.0
    oxide_patches: tuple[int, int] = (0, 3)
    recent_frames: int = 4
    samples: int = 8
    eps_bright: float = 0.30
    eps_oxide: float = 0.70
    eps_liquid: float = 0.18
    radiance_model: str = "total"
    band: tuple[float, float] = (3e-6, 5e-6)
    psf_sigma: float = 20e-6
    factor: int = 2
    full_well_temperature: float = 2000.0
    well_capacity: float = 20000.0
    read_noise: float = 40.0
    bits: int = 12

    @classmethod
    def from_options(cls, **options: Any) -> IRSettings:
        """Defaults with ``options`` replaced; TypeError for an unknown key, ValueError for a bad value."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown ir option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        settings = replace(cls(), **clean)
        settings.check()
        return settings

    def check(self) -> None:
        for key in (
            "dx",
            "frame_dt",
            "radius",
            "layer",
            "psf_sigma",
            "full_well_temperature",
            "well_capacity",
        ):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"ir option {key} must be positive, got {getattr(self, key)!r}")
        for key in ("power", "speed", "spacing", "pause", "warmup", "band"):
            lo, hi = getattr(self, key)
            if not 0 <= lo <= hi or (key in ("power", "speed", "spacing", "band") and lo <= 0):
                raise ValueError(f"ir option {key} must be a range [low, high] with 0 < low <= high")
        for key in ("eps_bright", "eps_oxide", "eps_liquid", "absorptivity"):
            if not 0 < float(getattr(self, key)) <= 1:
                raise ValueError(f"ir option {key} must be in (0, 1]")
        for key, low in (("factor", 1), ("recent_frames", 1), ("samples", 1), ("bits", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or value < low or value > 64:
                raise ValueError(f"ir option {key} must be an integer from {low} to 64, got {value!r}")
        if self.radiance_model not in ("total", "band"):
            raise ValueError("ir option radiance_model must be 'total' or 'band'")
        if self.read_noise < 0 or self.lateral < 0 or self.ambient <= 0:
            raise ValueError("ir options read_noise and lateral must be >= 0 and ambient > 0")

    @property
    def camera(self) -> Camera:
        names = {f.name for f in fields(Camera)}
        return Camera(**{k: v for k, v in asdict(self).items() if k in names})

    @property
    def laser(self) -> Laser:
        return Laser(radius=self.radius, absorptivity=self.absorptivity)


@dataclass
class IRRun:
    """One run: sensor grid ``size``, the scan, the surface map on the scene grid, the first frame's time."""

    size: int
    strokes: list[Stroke]
    oxide: np.ndarray
    start: float
    settings: IRSettings
    solve_from: float = 0.0  # before this time the beam only marks the scan path (see ir_from_path)


def _oxide_map(rng: np.random.Generator, n: int, patches: tuple[int, int]) -> np.ndarray:
    """Scene-grid surface map: a few oxidised rectangles (heat tint, earlier layers) on bright metal."""
    out = np.zeros((n, n))
    for _ in range(int(rng.integers(patches[0], patches[1] + 1))):
        w, h = rng.integers(n // 6, n // 2 + 1, size=2)
        x, y = rng.integers(0, n - w + 1), rng.integers(0, n - h + 1)
        out[x : x + w, y : y + h] = 1.0
    return out


def sample_ir_run(rng: np.random.Generator, size: int, frames: int, settings: IRSettings) -> IRRun:
    """Draw a run for a ``size`` × ``size`` sensor: surface map, hatch region and scan, start time."""
    s = settings
    n = size * s.factor
    length = n * s.dx
    # The part being built: a box over 50-90 % of the view along each axis.
    wx, wy = rng.uniform(0.5, 0.9, size=2) * length
    x0, y0 = rng.uniform(0.0, length - wx), rng.uniform(0.0, length - wy)
    start = rng.uniform(*s.warmup)
    duration = start + frames * s.frame_dt
    strokes = hatch_strokes(rng, (x0, y0, x0 + wx, y0 + wy), duration, s.spacing, s.power, s.speed, s.pause)
    return IRRun(size, strokes, _oxide_map(rng, n, s.oxide_patches), start, s)


def _spot_map(centres: np.ndarray, x: float, y: float, power: float, radius: float) -> np.ndarray:
    if power <= 0:
        return np.zeros((len(centres), len(centres)))
    gx = np.exp(-2.0 * (centres - x) ** 2 / radius**2)
    gy = np.exp(-2.0 * (centres - y) ** 2 / radius**2)
    return power * np.outer(gx, gy)


def _mark_segment(mask: np.ndarray, centres: np.ndarray, a: tuple, b: tuple, radius: float) -> None:
    """Set ``mask`` where pixel centres lie within ``radius`` of the segment a-b (m)."""
    px, py = np.meshgrid(centres, centres, indexing="ij")
    dx, dy = b[0] - a[0], b[1] - a[1]
    ll = dx * dx + dy * dy
    t = np.zeros_like(px) if ll == 0 else np.clip(((px - a[0]) * dx + (py - a[1]) * dy) / ll, 0.0, 1.0)
    mask |= np.hypot(px - a[0] - t * dx, py - a[1] - t * dy) <= radius


def simulate_ir(run: IRRun, frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Frames of ``run``: float32 ``(frames, size, size)`` for each of :data:`IR_FIELDS`."""
    s, cam = run.settings, run.settings.camera
    n = run.size * s.factor
    solver = PlateSolver(n, n, s.dx, Material(), layer=s.layer, lateral=s.lateral, ambient=s.ambient)
    laser = s.laser
    pitch = s.dx * s.factor
    centres = (np.arange(run.size) + 0.5) * pitch
    oxide = run.oxide.copy()
    material = downsample(run.oxide, s.factor)
    path = np.zeros((run.size, run.size), bool)
    chunk = s.frame_dt / s.samples
    out = {name: np.zeros((frames, run.size, run.size), np.float32) for name in IR_FIELDS}
    samples: list[tuple[float, float, float, float]] = []  # (time, x, y, power) at chunk midpoints
    keep = s.recent_frames * s.frame_dt
    t = 0.0
    for k in range(frames):
        t_frame = run.start + k * s.frame_dt
        while t < t_frame - 1e-12:
            h = min(chunk, t_frame - t)
            xa, ya, _ = beam_at(run.strokes, t)
            xb, yb, _ = beam_at(run.strokes, t + h)
            xm, ym, power = beam_at(run.strokes, t + 0.5 * h)
            if t + h > run.solve_from:
                solver.scan(h, xa, ya, xb, yb, power, laser)
            if power > 0:
                _mark_segment(path, centres, (xa, ya), (xb, yb), s.radius)
            samples.append((t + 0.5 * h, xm, ym, power))
            oxide[solver.liquid_fraction > 0.5] = 0.0
            t += h
        x, y, power = beam_at(run.strokes, t_frame)
        out["laser"][k] = _spot_map(centres, x, y, power, s.radius)
        recent = np.zeros((run.size, run.size))
        samples = [p for p in samples if t_frame - p[0] <= keep]
        for ts, xs, ys, ps in samples:
            recent += (
                0.5 ** ((t_frame - ts) / s.frame_dt) / s.samples * _spot_map(centres, xs, ys, ps, s.radius)
            )
        out["laser_recent"][k] = recent
        out["scan_path"][k] = path
        out["material"][k] = material
        eps = emissivity(solver.liquid_fraction, oxide, cam)
        scene = radiance(solver.temperature, eps, s.ambient, cam)
        pixels = downsample(blur(scene, cam.psf_sigma / s.dx), s.factor)
        out["ir"][k] = sensor_reading(pixels, cam, rng)
    return out


def ir_from_path(
    points: np.ndarray, power: float, speed: float, size: int, rng: np.random.Generator, settings: IRSettings
) -> dict[str, np.ndarray]:
    """One frame at the end of a scan along ``points`` (``(N, 2)`` in sensor pixels) at ``power`` W and
    ``speed`` m/s, on a bare plate; ``(1, size, size)`` arrays of :data:`IR_FIELDS`.

    Heat laid down more than :data:`MEMORY` cooling time constants (``rho cp / beta`` of the plate's sink)
    before the end has decayed below ``exp(-MEMORY)`` of its size, so the solver starts there on an ambient
    plate and a long drawn path costs no more than a short one; the earlier path still marks ``scan_path``.
    """
    pitch = settings.dx * settings.factor
    pts = np.asarray(points, float) * pitch
    strokes = path_strokes(pts, speed, power)
    if not strokes:
        raise ValueError("the laser path needs at least two distinct points")
    duration = sum(st.duration for st in strokes)
    n = size * settings.factor
    m = Material()
    beta = settings.lateral * m.conductivity / settings.layer**2
    tau = m.density * m.specific_heat / beta if beta > 0 else float("inf")
    end = duration * (1.0 - 1e-9)
    run = IRRun(size, strokes, np.zeros((n, n)), end, settings, solve_from=max(0.0, end - MEMORY * tau))
    return simulate_ir(run, 1, rng)
