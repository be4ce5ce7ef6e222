"""The smoke reference solver: 2D incompressible buoyant smoke on a MAC grid.

One :meth:`SmokeSolver.step` advances one frame (optionally in substeps): advect density and velocity
(limited MacCormack), inject emitter density and velocity, add buoyancy and vorticity confinement, apply
implicit viscosity, then project the face velocities onto divergence-free fields with an exact sparse solve.

Units: lengths in cells, time in frames, velocity in cells/frame, density is a concentration in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fieldcast.engine.systems.smoke.advect import advect, cell_velocity, to_x_faces, to_y_faces
from fieldcast.engine.systems.smoke.pressure import Projector, face_divergence, parse_boundary

__all__ = ["SmokeControls", "SmokeParams", "SmokeSolver", "SmokeState"]


@dataclass(frozen=True)
class SmokeParams:
    """Physical and numerical parameters of the smoke solver.

    Attributes
    ----------
    buoyancy : upward acceleration per unit density, cells/frame².
    vorticity : vorticity-confinement strength (dimensionless, Fedkiw et al. 2001, scaled by the cell size).
    viscosity : kinematic viscosity, cells²/frame (0 = inviscid, only numerical diffusion).
    boundary : ``"open"``, ``"closed"``, ``"open_top"`` or four open-side flags
        (x_low, x_high, y_low, y_high).
    advection : ``"maccormack"`` (limited, second order) or ``"semi_lagrangian"``.
    substeps : solver steps per frame (each of length 1/substeps frame).
    density_max : emitters never raise density above this.
    """

    buoyancy: float = 0.03
    vorticity: float = 0.05
    viscosity: float = 0.0
    boundary: str | tuple[bool, bool, bool, bool] = "open"
    advection: str = "maccormack"
    substeps: int = 1
    density_max: float = 1.0

    def __post_init__(self) -> None:
        parse_boundary(self.boundary)
        if self.advection not in ("maccormack", "semi_lagrangian"):
            raise ValueError(f"advection must be 'maccormack' or 'semi_lagrangian', not {self.advection!r}")
        if self.substeps < 1:
            raise ValueError("substeps must be at least 1")


@dataclass
class SmokeState:
    """Solver state: density at cell centres and velocity on the MAC faces.

    Attributes
    ----------
    density : (nx, ny) smoke concentration.
    u : (nx + 1, ny) x-velocity on x-faces, cells/frame.
    v : (nx, ny + 1) y-velocity on y-faces, cells/frame.
    frame : number of frames simulated.
    """

    density: np.ndarray
    u: np.ndarray
    v: np.ndarray
    frame: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.density.shape  # type: ignore[return-value]

    @classmethod
    def zeros(cls, nx: int, ny: int) -> SmokeState:
        """No smoke and fluid at rest on an ``nx`` × ``ny`` grid."""
        return cls(np.zeros((nx, ny)), np.zeros((nx + 1, ny)), np.zeros((nx, ny + 1)))

    @classmethod
    def from_cell_velocity(cls, density: np.ndarray, velocity: np.ndarray, frame: int = 0) -> SmokeState:
        """Build a state from cell-centred fields, e.g. a dataset frame.

        ``velocity`` has shape (nx, ny, 2) in cells/frame; it is averaged to the faces, so run it through
        :meth:`SmokeSolver.project` (or one step) before relying on it being divergence-free.
        """
        density = np.asarray(density, float)
        velocity = np.asarray(velocity, float)
        return cls(density.copy(), to_x_faces(velocity[..., 0]), to_y_faces(velocity[..., 1]), frame)

    def velocity(self) -> np.ndarray:
        """Cell-centred velocity, (nx, ny, 2) in cells/frame: the mean of each cell's two opposite faces.

        The faces are divergence-free to round-off, but a central-difference divergence of this averaged
        field is not (it measures a wider stencil): expect about 1e-2 for a lively plume.
        """
        uc, vc = cell_velocity(self.u, self.v)
        return np.stack([uc, vc], axis=-1)

    def copy(self) -> SmokeState:
        return SmokeState(self.density.copy(), self.u.copy(), self.v.copy(), self.frame)


@dataclass
class SmokeControls:
    """What a user or a scenario imposes on the flow during a frame.

    Attributes
    ----------
    emitter : (nx, ny) mask in [0, 1]; where it is 1 smoke is added at ``emitter_rate`` and the velocity is
        set to ``emitter_velocity``; fractional values blend.
    collider : (nx, ny) mask; cells above 0.5 are solid (no flow through them, no smoke inside).
    emitter_rate : density added per frame where the mask is 1 (scalar or (nx, ny)).
    emitter_velocity : velocity imposed inside emitters, cells/frame: ``(vx, vy)`` or an (nx, ny, 2) array.
    """

    emitter: np.ndarray
    collider: np.ndarray
    emitter_rate: float | np.ndarray = 0.2
    emitter_velocity: tuple[float, float] | np.ndarray = (0.0, 0.5)

    @classmethod
    def empty(cls, nx: int, ny: int) -> SmokeControls:
        """No emitters and no colliders."""
        return cls(np.zeros((nx, ny)), np.zeros((nx, ny)))

    @property
    def solid(self) -> np.ndarray:
        """Boolean (nx, ny) layout of solid cells."""
        return np.asarray(self.collider) > 0.5


@dataclass
class SmokeSolver:
    """Steps a :class:`SmokeState` on an ``nx`` × ``ny`` grid.

    The pressure (and viscosity) factorisations are cached per collider layout, so repeated steps with the
    same colliders cost only triangular solves; keep one solver per grid and reuse it.
    """

    nx: int
    ny: int
    params: SmokeParams = field(default_factory=SmokeParams)

    def __post_init__(self) -> None:
        if self.nx < 2 or self.ny < 2:
            raise ValueError("the smoke grid needs at least 2 × 2 cells")
        self._projector = Projector(parse_boundary(self.params.boundary))

    def with_params(self, **changes) -> SmokeSolver:
        """A solver with some parameters changed (shares nothing mutable with this one)."""
        return SmokeSolver(self.nx, self.ny, replace(self.params, **changes))

    def project(self, u: np.ndarray, v: np.ndarray, collider: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Divergence-free face velocities with zero flow through colliders and closed sides."""
        return self._projector.project(u, v, np.asarray(collider) > 0.5)

    def initial_state(self, density: np.ndarray | None, velocity: np.ndarray | None, collider) -> SmokeState:
        """A projected starting state from optional cell-centred density (nx, ny) and velocity (nx, ny, 2)."""
        nx, ny = self.nx, self.ny
        density = np.zeros((nx, ny)) if density is None else np.asarray(density, float)
        velocity = np.zeros((nx, ny, 2)) if velocity is None else np.asarray(velocity, float)
        state = SmokeState.from_cell_velocity(density, velocity)
        solid = np.asarray(collider) > 0.5
        state.u, state.v = self._projector.project(state.u, state.v, solid)
        state.density[solid] = 0.0
        return state

    def step(self, state: SmokeState, controls: SmokeControls) -> SmokeState:
        """Advance ``state`` by one frame under ``controls``; returns a new state (the input is unchanged)."""
        if state.shape != (self.nx, self.ny):
            raise ValueError(f"state is {state.shape}, solver grid is {(self.nx, self.ny)}")
        solid = controls.solid
        emitter = np.where(solid, 0.0, np.clip(np.asarray(controls.emitter, float), 0.0, 1.0))
        density, u, v = state.density, state.u, state.v
        h = 1.0 / self.params.substeps
        for _ in range(self.params.substeps):
            density, u, v = self._substep(density, u, v, emitter, controls, solid, h)
        return SmokeState(density, u, v, state.frame + 1)

    def _substep(self, density, u, v, emitter, controls, solid, h):
        p = self.params
        density, u, v = advect(density, u, v, h, maccormack=p.advection == "maccormack")
        if p.vorticity:
            # From the advected flow, before other forces: confinement reinforces the swirl the flow carries,
            # not the divergent kick buoyancy is about to give (which the projection mostly removes).
            fx, fy = _confinement(u, v, p.vorticity)
            u = u + h * to_x_faces(fx)
            v = v + h * to_y_faces(fy)
        if p.buoyancy:
            v = v + (h * p.buoyancy) * to_y_faces(density)
        if emitter.any():
            density, u, v = self._emit(density, u, v, emitter, controls, h)
        if p.viscosity:
            u, v = self._projector.diffuse(u, v, solid, p.viscosity * h)
        u, v = self._projector.project(u, v, solid)
        density[solid] = 0.0
        return density, u, v

    def _emit(self, density, u, v, emitter, controls, h):
        rate = np.asarray(controls.emitter_rate, float)
        cap = self.params.density_max
        # Never lowers existing density: emitters add smoke up to the cap, like a Mantaflow inflow.
        density = np.maximum(density, np.minimum(density + h * rate * emitter, cap))
        ev = np.asarray(controls.emitter_velocity, float)
        evx, evy = (ev[..., 0], ev[..., 1]) if ev.ndim == 3 else (ev[0], ev[1])
        mu, mv = to_x_faces(emitter), to_y_faces(emitter)
        # Relax towards the emitter velocity in proportion to the mask: fully imposed where the mask is 1.
        u = u + mu * (to_x_faces(np.broadcast_to(evx, emitter.shape)) - u)
        v = v + mv * (to_y_faces(np.broadcast_to(evy, emitter.shape)) - v)
        return density, u, v

    @staticmethod
    def divergence(state: SmokeState) -> np.ndarray:
        """Face divergence of ``state`` per cell, (nx, ny) in cells/frame per cell (~1e-12 after a step)."""
        return face_divergence(state.u, state.v)


def _confinement(u: np.ndarray, v: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Vorticity-confinement force at cell centres, cells/frame², pushing flow around vortex cores."""
    uc, vc = cell_velocity(u, v)
    omega = np.gradient(vc, axis=0) - np.gradient(uc, axis=1)
    mag = np.abs(omega)
    gx = np.gradient(mag, axis=0)
    gy = np.gradient(mag, axis=1)
    # The small constant keeps flat regions (zero gradient) force-free instead of dividing by zero.
    norm = np.sqrt(gx * gx + gy * gy) + 1e-12
    return strength * (gy / norm) * omega, -strength * (gx / norm) * omega
