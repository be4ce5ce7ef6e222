"""The Play panel's simulation, without Qt: a backend (a model or the reference solver) stepped under the
user's controls, with an optional reference solver running beside it for comparison.

The stepper thread and ``benchmarks/play.py`` both drive :meth:`Simulation.advance`, so what the benchmark
measures is what the panel runs. Arrays are (nx, ny), x first and y up; velocities cells/frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from fieldcast.app.play.controls import ControlSnapshot, ControlState
from fieldcast.app.play.scenes import DEFAULT_SCENE, make_scene
from fieldcast.engine.metrics import divergence_norm, rmse
from fieldcast.engine.systems.smoke import SmokeParams, SmokeScene, SmokeSolver, SmokeState

__all__ = ["BOUNDS_READOUT", "Backend", "Frame", "ModelBackend", "Simulation", "SolverBackend"]

#: what Play's safety bounds changed in a model's last step, as a rollout reports it (see impose_controls)
BOUNDS_READOUT = ("bounded_cells", "advection_cells", "budget_cells", "speed_cells", "smoke_removed")


@dataclass(frozen=True)
class Frame:
    """One finished frame, owned by whoever receives it (the stepper never writes into it again)."""

    index: int  # simulated frames since the start
    density: np.ndarray  # (nx, ny)
    velocity: np.ndarray  # (nx, ny, 2) cells/frame
    emitter: np.ndarray  # (nx, ny) the controls this frame was stepped with
    collider: np.ndarray
    ms_model: float = 0.0  # time inside the model (or solver), ms
    ms_total: float = 0.0  # time of the whole step, ms
    stats: dict[str, float] = field(default_factory=dict)
    reference_density: np.ndarray | None = None  # the reference solver's frame, when comparing
    reference_velocity: np.ndarray | None = None
    error: float | None = None  # density RMSE against the reference

    @property
    def finite(self) -> bool:
        return bool(self.stats.get("finite", 1.0))


class Backend(Protocol):
    """Something that steps smoke: the reference solver or an exported model."""

    name: str
    provider: str
    frames_per_step: int  # simulated frames one step advances

    def reset(
        self,
        density: np.ndarray,
        velocity: np.ndarray,
        collider: np.ndarray,
        emitter: np.ndarray | None = None,
        emitter_velocity: np.ndarray | None = None,
    ) -> None: ...

    def step(self, controls: ControlSnapshot) -> tuple[np.ndarray, np.ndarray, float]:
        """Advance one frame; returns (density, velocity, ms spent computing)."""
        ...


class SolverBackend:
    """Fieldcast's reference smoke solver as a backend (exact projection, factorisations cached)."""

    name = "Reference solver"
    provider = "numpy/scipy (CPU)"
    frames_per_step = 1

    def __init__(self, nx: int, ny: int, params: SmokeParams | None = None) -> None:
        self.solver = SmokeSolver(nx, ny, params or SmokeParams(buoyancy=0.03 * nx / 128.0))
        self.state = SmokeState.zeros(nx, ny)

    def reset(self, density, velocity, collider, emitter=None, emitter_velocity=None) -> None:
        # The solver imposes the emitters itself in its first step.
        self.state = self.solver.initial_state(density, velocity, collider)

    def step(self, controls: ControlSnapshot) -> tuple[np.ndarray, np.ndarray, float]:
        t0 = time.perf_counter()
        state = self.state
        if controls.force is not None:
            kick = SmokeState.from_cell_velocity(np.zeros(controls.force.shape[:2]), controls.force)
            state = SmokeState(state.density, state.u + kick.u, state.v + kick.v, state.frame)
        self.state = self.solver.step(state, controls.solver_controls())
        ms = (time.perf_counter() - t0) * 1e3
        return self.state.density.copy(), self.state.velocity(), ms


class ModelBackend:
    """An exported Fieldcast model stepped by :class:`fieldcast.engine.rollout.Rollout`.

    Parameters
    ----------
    path : the ``.onnx`` file; validated here (``ModelError`` for a file that is not a Fieldcast model).
    providers : execution providers to ask for, fastest first; default every usable one.
    bounds : apply Play's safety bounds after each step (see ``impose_controls`` of the smoke system);
        what they changed is in :attr:`readout` after each step. Changeable at any time.
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None, bounds: bool = True) -> None:
        from fieldcast.engine.rollout import Rollout
        from fieldcast.engine.runtime import ModelError, ModelSession

        self.session = ModelSession(path, providers=providers)
        if self.session.info.system != "smoke":
            raise ModelError(path, f"a {self.session.info.system!r} model; the Play panel plays smoke models")
        self.rollout = Rollout(self.session, bounds=bounds)
        self.frames_per_step = self.rollout.frames_per_step
        self.readout: dict[str, float] = {}
        self.info = self.session.info
        self.name = Path(path).name
        self.provider = ", ".join(p.removesuffix("ExecutionProvider") for p in self.session.providers)

    def check_grid(self, nx: int, ny: int) -> str | None:
        """None when the model runs on an ``nx`` × ``ny`` grid, else why it does not."""
        return self.info.check_grid(nx, ny)

    def reset(self, density, velocity, collider, emitter=None, emitter_velocity=None) -> None:
        """Start from a state; with ``emitter`` and ``emitter_velocity`` the emitters' velocity is imposed
        on it first, as on every later input (a model's first step from rest sees its emitters blowing)."""
        solid = np.asarray(collider) > 0.5
        density = np.where(solid, 0.0, density)
        velocity = np.asarray(velocity, float)
        if emitter is not None and emitter_velocity is not None:
            mask = np.clip(np.asarray(emitter, float), 0.0, 1.0)[..., None]
            velocity = velocity + mask * (np.asarray(emitter_velocity, float) - velocity)
        velocity = np.where(solid[..., None], 0.0, velocity)
        self.rollout.reset({"density": density, "velocity": velocity})

    def step(self, controls: ControlSnapshot) -> tuple[np.ndarray, np.ndarray, float]:
        force = None if controls.force is None else controls.force.astype(np.float32)
        result = self.rollout.step(controls.model_controls(), force)
        self.readout = {k: float(result.stats[k]) for k in BOUNDS_READOUT if k in result.stats}
        return result.fields["density"], result.fields["velocity"], result.ms_model

    @property
    def bounds(self) -> bool:
        return self.rollout.bounds

    @bounds.setter
    def bounds(self, on: bool) -> None:
        self.rollout.bounds = bool(on)


def frame_stats(density: np.ndarray, velocity: np.ndarray) -> dict[str, float]:
    """Readouts of one frame: total smoke, maximum density, divergence norm, finite (1.0 or 0.0)."""
    finite = bool(np.isfinite(density).all() and np.isfinite(velocity).all())
    return {
        "total_smoke": float(np.sum(density, dtype=np.float64)),
        "max_density": float(np.max(density)) if finite else float("nan"),
        "divergence_norm": float(divergence_norm(velocity[..., 0], velocity[..., 1]))
        if finite
        else float("nan"),
        "finite": 1.0 if finite else 0.0,
    }


class Simulation:
    """A scene stepped by a backend under the user's controls.

    Only one thread may call the methods (the stepper's); painting goes through :attr:`controls`, which is
    thread-safe.

    Parameters
    ----------
    size : cells per side.
    scene : title of a starting scene (see :mod:`fieldcast.app.play.scenes`).
    backend_factory : builds the backend for a grid size, ``(nx, ny) -> Backend``; default the solver.
    """

    def __init__(
        self,
        size: int = 128,
        scene: str = DEFAULT_SCENE,
        backend_factory: Callable[[int, int], Backend] | None = None,
    ) -> None:
        self.scene_name = scene
        self.size = size
        self._factory = backend_factory or (lambda nx, ny: SolverBackend(nx, ny))
        self.reference: SolverBackend | None = None
        self.bounds = True
        self._build(size)

    def _build(self, size: int) -> None:
        self.size = size
        self.scene: SmokeScene = make_scene(self.scene_name, size)
        self.controls = ControlState(size, size, emitter_speed=0.5 * size / 128.0)
        self.backend: Backend = self._factory(size, size)
        self._apply_bounds()
        self.reset()

    # Commands ----------------------------------------------------------------------------------------------
    def reset(self) -> Frame:
        """Back to the start of the scene: its masks and initial fields."""
        scene = self.scene
        self.controls.load(scene.controls())
        start = scene.initial_state(SmokeSolver(scene.nx, scene.ny, scene.params))
        return self._restart(start.density, start.velocity())

    def clear(self) -> Frame:
        """No smoke, no flow, no emitters, no colliders."""
        self.controls.clear()
        n = self.size
        return self._restart(np.zeros((n, n)), np.zeros((n, n, 2)))

    def set_scene(self, name: str) -> Frame:
        self.scene_name = name
        self.scene = make_scene(name, self.size)
        return self.reset()

    def set_size(self, size: int) -> Frame:
        """Rebuild everything on a ``size`` × ``size`` grid and restart the scene."""
        comparing = self.reference is not None
        self._build(size)
        if comparing:
            self.set_compare(True)
        return self.frame

    def set_backend(self, factory: Callable[[int, int], Backend]) -> Frame:
        """Swap the backend; it continues from the current frame."""
        self._factory = factory
        self.backend = factory(self.size, self.size)
        self._apply_bounds()
        return self._restart(self.frame.density, self.frame.velocity)

    def set_bounds(self, on: bool) -> Frame:
        """Turn Play's safety bounds on or off for a model backend (the solver needs none)."""
        self.bounds = bool(on)
        self._apply_bounds()
        return self.frame

    def _apply_bounds(self) -> None:
        if hasattr(self.backend, "bounds"):
            self.backend.bounds = self.bounds

    def set_compare(self, on: bool) -> Frame:
        """Start (from the current frame) or stop the reference solver running beside the backend."""
        self.reference = SolverBackend(self.size, self.size, self.scene.params) if on else None
        if self.reference is not None:
            self.reference.reset(self.frame.density, self.frame.velocity, self.frame.collider)
        self.frame = self._with_reference(self.frame)
        return self.frame

    def _restart(self, density: np.ndarray, velocity: np.ndarray) -> Frame:
        emitter, collider = self.controls.masks()
        self.backend.reset(density, velocity, collider, emitter, self.controls.emitter_velocity())
        if self.reference is not None:
            self.reference.reset(density, velocity, collider)
        self.frame = self._with_reference(
            Frame(
                0,
                np.asarray(density, float),
                np.asarray(velocity, float),
                emitter,
                collider,
                0.0,
                0.0,
                frame_stats(density, velocity),
            )
        )
        return self.frame

    def _with_reference(self, frame: Frame, ref: tuple | None = None) -> Frame:
        if self.reference is None:
            return replace(frame, reference_density=None, reference_velocity=None, error=None)
        if ref is None:
            ref = (self.reference.state.density.copy(), self.reference.state.velocity())
        error = float(rmse(frame.density, ref[0]))
        return replace(frame, reference_density=ref[0], reference_velocity=ref[1], error=error)

    # Stepping ----------------------------------------------------------------------------------------------
    def advance(self) -> Frame:
        """Step the backend by one step under the current controls (a model may advance several frames);
        when comparing, the reference solver advances by the same simulated time."""
        t0 = time.perf_counter()
        controls = self.controls.take()
        density, velocity, ms_model = self.backend.step(controls)
        frames = max(1, int(getattr(self.backend, "frames_per_step", 1)))
        ref = None
        if self.reference is not None:
            ref_density, ref_velocity, _ = self.reference.step(controls)
            unforced = replace(controls, force=None)  # a drag acts once, in the step's first frame
            for _ in range(frames - 1):
                ref_density, ref_velocity, _ = self.reference.step(unforced)
            ref = (ref_density, ref_velocity)
        stats = frame_stats(density, velocity)
        stats.update(getattr(self.backend, "readout", {}))
        frame = Frame(
            self.frame.index + frames,
            density,
            velocity,
            controls.emitter,
            controls.collider,
            ms_model,
            (time.perf_counter() - t0) * 1e3,
            stats,
        )
        self.frame = self._with_reference(frame, ref) if ref is not None else frame
        return self.frame
