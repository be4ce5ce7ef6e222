"""Starting scenes of the Play panel, built from the smoke system's scene pieces.

Every scene is a function of the grid size, so the same scene looks alike at 64 and at 256 cells: lengths
and speeds scale with ``size / 128`` as in the dataset sampler.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fieldcast.engine.systems.smoke import Emitter, SmokeParams, SmokeScene
from fieldcast.engine.systems.smoke.scenes import box_mask, disc_mask

__all__ = ["DEFAULT_SCENE", "SCENES", "make_scene", "scene_names"]


def _params(size: int) -> SmokeParams:
    return SmokeParams(buoyancy=0.03 * size / 128.0, vorticity=0.05)


def plume(size: int) -> SmokeScene:
    """One round source near the floor: the classic rising plume."""
    s = size / 128.0
    source = Emitter((0.5 * size, 0.12 * size), 7 * s, "disc", 0.25, (0.0, 0.5 * s))
    return SmokeScene(size, size, (source,), params=_params(size))


def two_emitters(size: int) -> SmokeScene:
    """A floor source and a side jet whose plumes meet in the middle of the box."""
    s = size / 128.0
    floor = Emitter((0.3 * size, 0.12 * size), 6 * s, "disc", 0.25, (0.0, 0.5 * s))
    jet = Emitter((0.9 * size, 0.35 * size), 5 * s, "box", 0.2, (-0.7 * s, 0.15 * s))
    return SmokeScene(size, size, (floor, jet), params=_params(size))


def obstacle_course(size: int) -> SmokeScene:
    """A plume rising through a staggered shelf and a disc."""
    s = size / 128.0
    source = Emitter((0.5 * size, 0.1 * size), 6 * s, "disc", 0.3, (0.0, 0.6 * s))
    solid = np.maximum(
        box_mask(size, size, (0.38 * size, 0.38 * size), (18 * s, 3 * s)),
        box_mask(size, size, (0.68 * size, 0.58 * size), (16 * s, 3 * s)),
    )
    solid = np.maximum(solid, disc_mask(size, size, (0.35 * size, 0.78 * size), 8 * s))
    return SmokeScene(size, size, (source,), (solid > 0.5).astype(float), params=_params(size))


def swirl(size: int) -> SmokeScene:
    """No emitter: two counter-rotating vortices stirring a few puffs of smoke."""
    x, y = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float), indexing="ij")
    s = size / 128.0
    velocity = np.zeros((size, size, 2))
    density = np.zeros((size, size))
    for cx, cy, sign in ((0.35, 0.5, 1.0), (0.65, 0.5, -1.0)):
        cx, cy = cx * size, cy * size
        sigma = 14 * s
        g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        # Velocity from a Gaussian stream function, so the starting flow is divergence-free.
        k = sign * 0.8 * s * np.sqrt(np.e) / sigma
        velocity[..., 0] += -k * (y - cy) * g
        velocity[..., 1] += k * (x - cx) * g
        density += 0.9 * np.exp(-((x - cx) ** 2 + (y - cy - 10 * s) ** 2) / (2 * (7 * s) ** 2))
    return SmokeScene(
        size, size, initial_density=np.clip(density, 0, 1), initial_velocity=velocity, params=_params(size)
    )


def empty(size: int) -> SmokeScene:
    """Nothing at all: a blank box to paint into."""
    return SmokeScene(size, size, params=_params(size))


#: scene title -> builder taking the grid size
SCENES: dict[str, Callable[[int], SmokeScene]] = {
    "Plume": plume,
    "Two emitters": two_emitters,
    "Obstacle course": obstacle_course,
    "Swirl (initial velocity)": swirl,
    "Empty": empty,
}
DEFAULT_SCENE = "Plume"


def scene_names() -> list[str]:
    """Titles of the starting scenes, in menu order."""
    return list(SCENES)


def make_scene(name: str, size: int) -> SmokeScene:
    """Build scene ``name`` on a ``size`` × ``size`` grid; KeyError for an unknown name."""
    return SCENES[name](size)
