"""Melt scenes: random scan paths over the plate surface, and one simulated trajectory per scene.

A scan path is a list of passes along x over the top surface, each with its own power and speed, back and
forth with short pauses (laser off) at the turns, so later passes remelt earlier tracks. Frame ``k`` of a
trajectory is the state at ``k * frame_dt``; ``laser[k]`` is the absorbed surface flux averaged over the
interval that follows it (``k`` to ``k + 1``), i.e. the control that drives the step a surrogate predicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fieldcast.engine.systems.melt.grains import GrainField, GrainParams
from fieldcast.engine.systems.melt.thermal import Laser, Material, ThermalParams, ThermalSolver

__all__ = ["MeltScene", "ScanPass", "laser_at", "sample_scene", "simulate_scene", "simulate_trajectory"]


@dataclass(frozen=True)
class ScanPass:
    """One straight move of the beam along the surface: from ``x0`` to ``x1`` (m) at ``speed`` (m/s) and
    ``power`` (W), followed by ``pause`` seconds with the laser off."""

    x0: float
    x1: float
    speed: float
    power: float
    pause: float = 0.0

    @property
    def duration(self) -> float:
        return abs(self.x1 - self.x0) / self.speed


@dataclass
class MeltScene:
    """Everything one trajectory depends on besides the random stream of the grain automaton.

    Lengths in m, times in s; ``nx`` × ``ny`` cells of side ``dx``; ``passes`` run back to back from t = 0.
    """

    nx: int
    ny: int
    dx: float = 5e-6
    frame_dt: float = 2e-5
    radius: float = 50e-6
    absorptivity: float = 0.35
    passes: list[ScanPass] = field(default_factory=list)
    material: Material = field(default_factory=Material)
    thermal: ThermalParams = field(default_factory=ThermalParams)
    grains: GrainParams = field(default_factory=GrainParams)


def laser_at(passes: list[ScanPass], t: float) -> tuple[float, float]:
    """Beam position (m) and power (W) at time ``t`` (s); power 0 during pauses and after the last pass."""
    start = 0.0
    x = passes[0].x0 if passes else 0.0
    for p in passes:
        if t < start + p.duration:
            return p.x0 + (p.x1 - p.x0) * (t - start) / p.duration, p.power
        start += p.duration
        x = p.x1
        if t < start + p.pause:
            return x, 0.0
        start += p.pause
    return x, 0.0


def sample_scene(
    rng: np.random.Generator,
    size: int,
    frames: int,
    *,
    depth: int | None = None,
    dx: float = 5e-6,
    frame_dt: float = 2e-5,
    power: tuple[float, float] = (100.0, 220.0),
    speed: tuple[float, float] = (0.3, 0.6),
    radius: float = 50e-6,
    absorptivity: float = 0.35,
    max_pause_frames: int = 4,
) -> MeltScene:
    """Draw a scene: a plate ``size`` × ``depth`` cells (depth defaults to ``size // 2``) and scan passes
    covering ``frames`` frames, with powers (W) and speeds (m/s) uniform in the given ranges."""
    ny = int(depth) if depth is not None else max(8, size // 2)
    length = size * dx
    margin = 0.1 * length
    x = rng.uniform(margin, length - margin)
    heading = rng.choice([-1.0, 1.0])
    passes: list[ScanPass] = []
    total = 0.0
    while total < frames * frame_dt:
        # Run at least 40 % of the plate, turning back when the edge is closer than that.
        span = 0.4 * length
        if (heading > 0 and length - margin - x < span) or (heading < 0 and x - margin < span):
            heading = -heading
        far = length - margin if heading > 0 else margin
        x1 = x + heading * rng.uniform(span, max(span, abs(far - x)))
        pause = rng.integers(0, max_pause_frames + 1) * frame_dt
        p = ScanPass(
            float(x), float(x1), float(rng.uniform(*speed)), float(rng.uniform(*power)), float(pause)
        )
        passes.append(p)
        total += p.duration + p.pause
        x, heading = x1, -heading
    return MeltScene(size, ny, dx, frame_dt, radius, absorptivity, passes)


def simulate_scene(scene: MeltScene, frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Run ``scene`` for ``frames`` frames; float32 ``temperature`` (K), ``ipf_*`` (1) and ``laser`` (W/m²).

    The grain automaton updates after every thermal sub-step, so fronts advance at most a cell per update
    while the isotherms move a fraction of a cell.
    """
    from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS

    solver = ThermalSolver(scene.nx, scene.ny, scene.dx, scene.material, scene.thermal)
    grains = GrainField(scene.nx, scene.ny, scene.grains, rng)
    grains.fill_substrate()
    beam = Laser(radius=scene.radius, absorptivity=scene.absorptivity)
    m = scene.material
    temperature = np.zeros((frames, scene.nx, scene.ny), np.float32)
    ipf = np.zeros((frames, 9, scene.nx, scene.ny), np.float32)
    laser = np.zeros((frames, scene.nx, scene.ny), np.float32)
    n_sub = max(1, int(np.ceil(scene.frame_dt / (0.9 * solver.dt_limit))))
    h = scene.frame_dt / n_sub
    for k in range(frames):
        temperature[k] = solver.temperature
        ipf[k] = grains.ipf()
        flux = np.zeros(scene.nx)
        for i in range(n_sub):
            t = k * scene.frame_dt + i * h
            xa, _ = laser_at(scene.passes, t)
            xb, power = laser_at(scene.passes, t + h)
            solver.step(h, xa, xb, power, beam)
            line = beam.line_power(scene.thermal.thickness, power)
            flux += solver.laser_flux(0.5 * (xa + xb), line, beam.radius) / n_sub
            grains.update(solver.temperature, m.solidus, m.liquidus)
        laser[k, :, -1] = flux
    out = {"temperature": temperature, "laser": laser}
    out.update({name: ipf[:, c] for c, name in enumerate(IPF_CHANNELS)})
    return out


def simulate_trajectory(seed, frames: int, size: int, **options) -> dict[str, np.ndarray]:
    """One trajectory for dataset generation: a scene drawn from ``seed`` and its simulated fields.

    ``seed`` is anything :func:`numpy.random.default_rng` accepts; ``options`` go to :func:`sample_scene`.
    """
    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, size, frames, **options)
    return simulate_scene(scene, frames, rng)
