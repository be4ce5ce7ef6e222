"""Smoke scenes: emitters, colliders and initial flow, a seeded scenario sampler, and trajectories.

The sampler follows the spirit of the Mantaflow scenes behind the original smoke surrogate: one to three
emitters, obstacles (boxes, discs, random blobs) in about half the scenes, and some scenes with no emitter
at all, only an initial swirl carrying a few puffs of smoke. Lengths and speeds scale with the grid so a
scene looks alike at 64 and at 256 cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from fieldcast.engine.systems.smoke.solver import SmokeControls, SmokeParams, SmokeSolver, SmokeState

__all__ = ["Emitter", "SmokeScene", "sample_scene", "simulate_trajectory"]


def _coords(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float), indexing="ij")


def disc_mask(nx: int, ny: int, center: tuple[float, float], radius: float) -> np.ndarray:
    """(nx, ny) mask of a disc with a one-cell soft edge (values in [0, 1]); lengths in cells."""
    x, y = _coords(nx, ny)
    return np.clip(radius + 0.5 - np.hypot(x - center[0], y - center[1]), 0.0, 1.0)


def box_mask(nx: int, ny: int, center: tuple[float, float], half: tuple[float, float]) -> np.ndarray:
    """(nx, ny) mask of an axis-aligned box with half-widths ``half`` (cells) and a one-cell soft edge."""
    x, y = _coords(nx, ny)
    mx = np.clip(half[0] + 0.5 - np.abs(x - center[0]), 0.0, 1.0)
    my = np.clip(half[1] + 0.5 - np.abs(y - center[1]), 0.0, 1.0)
    return mx * my


def blob_mask(
    nx: int, ny: int, center: tuple[float, float], radius: float, rng: np.random.Generator
) -> np.ndarray:
    """A random star-shaped blob: a disc whose radius wobbles with a few random harmonics of the angle."""
    x, y = _coords(nx, ny)
    dx, dy = x - center[0], y - center[1]
    theta = np.arctan2(dy, dx)
    edge = np.ones_like(theta)
    for k in range(2, 6):
        edge += rng.uniform(-0.15, 0.15) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.clip(radius * edge + 0.5 - np.hypot(dx, dy), 0.0, 1.0)


@dataclass(frozen=True)
class Emitter:
    """A smoke source.

    Attributes
    ----------
    center : (x, y) in cells.
    radius : disc radius or box half-width, cells.
    shape : ``"disc"`` or ``"box"``.
    rate : density added per frame at the centre (mask 1).
    velocity : (vx, vy) imposed inside the emitter, cells/frame.
    """

    center: tuple[float, float]
    radius: float
    shape: str = "disc"
    rate: float = 0.2
    velocity: tuple[float, float] = (0.0, 0.5)

    def mask(self, nx: int, ny: int) -> np.ndarray:
        if self.shape == "disc":
            return disc_mask(nx, ny, self.center, self.radius)
        if self.shape == "box":
            return box_mask(nx, ny, self.center, (self.radius, self.radius))
        raise ValueError(f"unknown emitter shape {self.shape!r}")


@dataclass
class SmokeScene:
    """Everything needed to run one smoke trajectory: emitters, colliders, initial fields and parameters.

    ``collider`` is an (nx, ny) float mask (cells above 0.5 are solid); ``initial_density`` (nx, ny) and
    ``initial_velocity`` (nx, ny, 2, cells/frame) may be None for empty and at rest.
    """

    nx: int
    ny: int
    emitters: tuple[Emitter, ...] = ()
    collider: np.ndarray | None = None
    initial_density: np.ndarray | None = None
    initial_velocity: np.ndarray | None = None
    params: SmokeParams = field(default_factory=SmokeParams)

    def collider_mask(self) -> np.ndarray:
        """Binary (nx, ny) collider mask, 1.0 in solid cells."""
        if self.collider is None:
            return np.zeros((self.nx, self.ny))
        return (np.asarray(self.collider) > 0.5).astype(float)

    def controls(self) -> SmokeControls:
        """Solver controls: the union of the emitter masks with per-cell rate and velocity."""
        nx, ny = self.nx, self.ny
        total = np.zeros((nx, ny))
        rate = np.zeros((nx, ny))
        velocity = np.zeros((nx, ny, 2))
        for e in self.emitters:
            m = e.mask(nx, ny)
            total += m
            rate += m * e.rate
            velocity += m[..., None] * np.asarray(e.velocity, float)
        # Where emitters overlap, rate and velocity are mask-weighted means rather than sums.
        weight = np.maximum(total, 1e-12)
        return SmokeControls(
            emitter=np.clip(total, 0.0, 1.0),
            collider=self.collider_mask(),
            emitter_rate=rate / weight,
            emitter_velocity=velocity / weight[..., None],
        )

    def solver(self) -> SmokeSolver:
        return SmokeSolver(self.nx, self.ny, self.params)

    def initial_state(self, solver: SmokeSolver) -> SmokeState:
        """The projected starting state (initial velocity made divergence-free around the colliders)."""
        return solver.initial_state(self.initial_density, self.initial_velocity, self.collider_mask())


def _vortex_field(rng: np.random.Generator, nx: int, ny: int, scale: float, amplitude: float) -> np.ndarray:
    """A few Gaussian vortices, (nx, ny, 2) in cells/frame, from a stream function (so divergence-free)."""
    x, y = _coords(nx, ny)
    vel = np.zeros((nx, ny, 2))
    for _ in range(rng.integers(2, 6)):
        cx, cy = rng.uniform(0.1, 0.9) * nx, rng.uniform(0.1, 0.9) * ny
        sigma = rng.uniform(6, 20) * scale
        peak = rng.uniform(0.3, 1.0) * amplitude * rng.choice([-1.0, 1.0])
        g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        # psi = peak * sigma * sqrt(e) * g has peak speed `peak` at r = sigma; u = dpsi/dy, v = -dpsi/dx.
        k = peak * np.sqrt(np.e) / sigma
        vel[..., 0] += -k * (y - cy) * g
        vel[..., 1] += k * (x - cx) * g
    return vel


def _puffs(rng: np.random.Generator, nx: int, ny: int, scale: float) -> np.ndarray:
    x, y = _coords(nx, ny)
    density = np.zeros((nx, ny))
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0.2, 0.8) * nx, rng.uniform(0.2, 0.8) * ny
        sigma = rng.uniform(4, 12) * scale
        density += rng.uniform(0.5, 1.0) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return np.clip(density, 0.0, 1.0)


def _sample_emitter(rng: np.random.Generator, nx: int, ny: int, scale: float) -> Emitter:
    radius = max(1.5, rng.uniform(3, 9) * scale)
    speed = rng.uniform(0.2, 1.0) * scale
    if rng.random() < 0.2:  # a side jet
        side = rng.choice([-1.0, 1.0])
        center = (nx * (0.08 if side > 0 else 0.92), rng.uniform(0.15, 0.6) * ny)
        angle = np.deg2rad(rng.uniform(-20, 20)) + (0.0 if side > 0 else np.pi)
    else:  # a source near the floor
        center = (rng.uniform(0.15, 0.85) * nx, rng.uniform(0.05, 0.3) * ny)
        angle = np.pi / 2 + np.deg2rad(rng.uniform(-25, 25))
    shape = "disc" if rng.random() < 0.7 else "box"
    rate = rng.uniform(0.1, 0.4)
    return Emitter(center, radius, shape, rate, (speed * np.cos(angle), speed * np.sin(angle)))


def _sample_colliders(rng: np.random.Generator, nx: int, ny: int, scale: float) -> np.ndarray:
    solid = np.zeros((nx, ny))
    for _ in range(rng.integers(1, 4)):
        center = (rng.uniform(0.15, 0.85) * nx, rng.uniform(0.35, 0.8) * ny)
        kind = rng.choice(["box", "disc", "blob"])
        if kind == "box":
            half = (rng.uniform(4, 16) * scale, rng.uniform(3, 10) * scale)
            solid = np.maximum(solid, box_mask(nx, ny, center, half))
        elif kind == "disc":
            solid = np.maximum(solid, disc_mask(nx, ny, center, rng.uniform(5, 14) * scale))
        else:
            solid = np.maximum(solid, blob_mask(nx, ny, center, rng.uniform(6, 16) * scale, rng))
    return (solid > 0.5).astype(float)


def sample_scene(
    rng: np.random.Generator,
    size: int,
    *,
    empty_fraction: float = 0.1,
    collider_fraction: float = 0.55,
    vorticity: float = 0.05,
    buoyancy: float | None = None,
    viscosity: float = 0.0,
    boundary: str = "open",
    advection: str = "maccormack",
) -> SmokeScene:
    """Draw one random scene on a ``size`` × ``size`` grid; the same generator state gives the same scene.

    Parameters
    ----------
    rng : the random generator (consumed).
    size : cells per side.
    empty_fraction : share of scenes without emitters or colliders, only an initial swirl and puffs.
    collider_fraction : share of emitter scenes with obstacles (about half of all scenes by default).
    vorticity, viscosity, boundary, advection : solver settings (see :class:`SmokeParams`).
    buoyancy : cells/frame² per unit density; default 0.03 scaled by ``size / 128``.
    """
    scale = size / 128.0
    params = SmokeParams(
        buoyancy=0.03 * scale if buoyancy is None else buoyancy,
        vorticity=vorticity,
        viscosity=viscosity,
        boundary=boundary,
        advection=advection,
    )
    if rng.random() < empty_fraction:
        return SmokeScene(
            size,
            size,
            initial_density=_puffs(rng, size, size, scale),
            initial_velocity=_vortex_field(rng, size, size, scale, amplitude=1.0 * scale),
            params=params,
        )
    n_emitters = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
    emitters = tuple(_sample_emitter(rng, size, size, scale) for _ in range(n_emitters))
    collider = None
    if rng.random() < collider_fraction:
        collider = _sample_colliders(rng, size, size, scale)
        near_emitter = np.zeros((size, size), bool)
        for e in emitters:
            near_emitter |= e.mask(size, size) > 0
        # Obstacles must not swallow a source: keep a 3-cell gap around every emitter.
        collider[ndimage.binary_dilation(near_emitter, iterations=3)] = 0.0
    initial_velocity = None
    if rng.random() < 0.3:
        initial_velocity = _vortex_field(rng, size, size, scale, amplitude=0.3 * scale)
    return SmokeScene(size, size, emitters, collider, None, initial_velocity, params)


def simulate_trajectory(
    seed: int | np.random.SeedSequence | np.random.Generator,
    frames: int,
    size: int,
    *,
    warmup: int = 0,
    stride: int = 1,
    impose_emitters: bool = False,
    store_rate: bool = False,
    **scene_options,
) -> dict[str, np.ndarray]:
    """Sample a scene from ``seed`` and simulate it.

    Parameters
    ----------
    seed : anything :func:`numpy.random.default_rng` accepts; equal seeds give bit-identical trajectories.
    frames : number of stored frames T (frame 0 is the state after ``warmup`` frames).
    size : cells per side.
    warmup : frames simulated before the first stored one.
    stride : solver frames between stored frames (the dataset's time step, in frames).
    impose_emitters : store each frame's velocity with the emitters' velocity imposed inside them, which is
        how Play hands a model its input (after the solver's projection the flow inside an emitter is a
        little slower than the emitter's own velocity, and at rest it is zero).
    store_rate : also return ``emitter_rate`` (T, size, size), density per frame, 0 outside emitters.
    scene_options : passed to :func:`sample_scene`.

    Returns
    -------
    float32 arrays: ``density`` (T, size, size), ``velocity`` (T, size, size, 2) cell-centred in cells/frame,
    ``emitter`` and ``collider`` masks (T, size, size).
    """
    if frames < 1 or size < 8:
        raise ValueError("need at least 1 frame and a grid of at least 8 cells")
    scene = sample_scene(np.random.default_rng(seed), size, **scene_options)
    solver = scene.solver()
    controls = scene.controls()
    state = scene.initial_state(solver)
    for _ in range(warmup):
        state = solver.step(state, controls)
    density = np.empty((frames, size, size), np.float32)
    velocity = np.empty((frames, size, size, 2), np.float32)
    for t in range(frames):
        for _ in range(stride if t else 0):
            state = solver.step(state, controls)
        density[t] = state.density
        velocity[t] = state.velocity()
        if impose_emitters:
            mask = controls.emitter[..., None]
            velocity[t] += mask * (np.asarray(controls.emitter_velocity) - velocity[t])
    out = {
        "density": density,
        "velocity": velocity,
        "emitter": np.repeat(controls.emitter[None].astype(np.float32), frames, axis=0),
        "collider": np.repeat(controls.collider[None].astype(np.float32), frames, axis=0),
    }
    if store_rate:
        rate = np.where(controls.emitter > 0, controls.emitter_rate, 0.0).astype(np.float32)
        out["emitter_rate"] = np.repeat(rate[None], frames, axis=0)
    return out
