"""What the user paints: emitter and collider masks and a decaying force field, shared between threads.

The GUI thread paints into a :class:`ControlState` while the stepper thread takes a
:class:`ControlSnapshot` at the start of every step; a lock guards the arrays, so painting never waits for
inference (only for a copy of a few (nx, ny) planes) and a stroke is picked up at the next step.
Coordinates are grid cells, x first and y up; lengths are cells; velocities cells/frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from fieldcast.engine.systems.smoke import SmokeControls

__all__ = ["ControlSnapshot", "ControlState"]


@dataclass(frozen=True)
class ControlSnapshot:
    """The controls of one step, owned by the stepper (copies, never written by the GUI)."""

    emitter: np.ndarray  # (nx, ny) in [0, 1]
    collider: np.ndarray  # (nx, ny), solid above 0.5
    emitter_rate: np.ndarray  # (nx, ny) density/frame
    emitter_velocity: np.ndarray  # (nx, ny, 2) cells/frame
    force: np.ndarray | None  # (nx, ny, 2) cells/frame added this step, None when there is none

    def solver_controls(self) -> SmokeControls:
        """The same controls in the reference solver's terms."""
        return SmokeControls(self.emitter, self.collider, self.emitter_rate, self.emitter_velocity)

    def model_controls(self) -> dict[str, np.ndarray]:
        """The same controls in a rollout's terms (masks and emitter extras by name)."""
        return {
            "emitter": self.emitter,
            "collider": self.collider,
            "emitter_rate": self.emitter_rate,
            "emitter_velocity": self.emitter_velocity,
        }


class ControlState:
    """Masks and forces the user edits, for an ``nx`` × ``ny`` grid.

    Parameters
    ----------
    nx, ny : grid size, cells.
    emitter_rate : density per frame a painted emitter adds where its mask is 1.
    emitter_speed : upward velocity a painted emitter imposes, cells/frame.
    """

    def __init__(self, nx: int, ny: int, emitter_rate: float = 0.25, emitter_speed: float = 0.5) -> None:
        self.nx, self.ny = nx, ny
        self.paint_rate = emitter_rate
        self.paint_velocity = (0.0, emitter_speed)
        #: fraction of the force kept from one step to the next (0: a drag acts for one step only)
        self.force_decay = 0.8
        #: largest velocity a drag adds, cells/frame
        self.max_push = max(0.5, 1.5 * nx / 128.0)
        self._lock = threading.Lock()
        self._x, self._y = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5, indexing="ij")
        self._version = 0
        self.clear()

    # Whole-state changes ---------------------------------------------------------------------------------
    def clear(self) -> None:
        """No emitters, no colliders, no force."""
        with self._lock:
            self._emitter = np.zeros((self.nx, self.ny))
            self._collider = np.zeros((self.nx, self.ny))
            self._rate = np.zeros((self.nx, self.ny))
            self._velocity = np.zeros((self.nx, self.ny, 2))
            self._force = np.zeros((self.nx, self.ny, 2))
            self._version += 1

    def load(self, controls: SmokeControls) -> None:
        """Replace the masks by a scene's controls (forces are dropped)."""
        nx, ny = self.nx, self.ny
        with self._lock:
            self._emitter = np.array(controls.emitter, float)
            self._collider = (np.asarray(controls.collider) > 0.5).astype(float)
            self._rate = np.broadcast_to(np.asarray(controls.emitter_rate, float), (nx, ny)).copy()
            self._velocity = np.broadcast_to(np.asarray(controls.emitter_velocity, float), (nx, ny, 2)).copy()
            self._force = np.zeros((nx, ny, 2))
            self._version += 1

    # Painting (GUI thread) ----------------------------------------------------------------------------------
    def _disc(self, x: float, y: float, radius: float) -> np.ndarray:
        # Soft one-cell edge, as the scene masks have, so painted and scene emitters look alike.
        return np.clip(radius + 0.5 - np.hypot(self._x - x, self._y - y), 0.0, 1.0)

    def paint(self, kind: str, x: float, y: float, radius: float) -> None:
        """Paint a disc of ``kind`` (``emitter``, ``collider`` or ``erase``) centred at (x, y) cells."""
        disc = self._disc(x, y, radius)
        inside = disc > 0
        with self._lock:
            if kind == "emitter":
                self._emitter = np.maximum(self._emitter, disc)
                self._rate[inside] = self.paint_rate
                self._velocity[inside] = self.paint_velocity
                self._collider[disc > 0.5] = 0.0
            elif kind == "collider":
                self._collider[disc > 0.5] = 1.0
                self._emitter[disc > 0.5] = 0.0
            elif kind == "erase":
                keep = 1.0 - disc
                self._emitter *= keep
                self._collider[disc > 0.5] = 0.0
            else:
                raise ValueError(f"unknown paint kind {kind!r}")
            self._version += 1

    def push(self, x0: float, y0: float, x1: float, y1: float, radius: float, strength: float) -> None:
        """Add force along the segment (x0, y0) → (x1, y1): the drag direction times ``strength``.

        ``strength`` is the velocity (cells/frame) added per cell of drag, so a fast drag pushes harder.
        """
        dx, dy = x1 - x0, y1 - y0
        length = float(np.hypot(dx, dy))
        if length == 0.0:
            return
        n = max(1, int(np.ceil(length)))
        weight = np.zeros((self.nx, self.ny))
        for t in np.linspace(0.0, 1.0, n + 1):
            cx, cy = x0 + t * dx, y0 + t * dy
            # A Gaussian footprint keeps the injected velocity smooth (a hard disc makes the flow ring).
            g = np.exp(-((self._x - cx) ** 2 + (self._y - cy) ** 2) / max(radius, 1.0) ** 2)
            np.maximum(weight, g, out=weight)
        with self._lock:
            self._force[..., 0] += strength * dx * weight
            self._force[..., 1] += strength * dy * weight
            # Overlapping segments add up; past a few cells/frame the flow only splashes, so cap the push.
            speed = np.hypot(self._force[..., 0], self._force[..., 1])
            over = speed > self.max_push
            self._force[over] *= (self.max_push / speed[over])[:, None]
            self._version += 1

    # Reading ------------------------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """Increases with every change; the canvas redraws its overlays when it moves."""
        return self._version

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the emitter and collider masks, for the overlays."""
        with self._lock:
            return self._emitter.copy(), self._collider.copy()

    def emitter_velocity(self) -> np.ndarray:
        """A copy of the velocity emitters impose, (nx, ny, 2) cells/frame."""
        with self._lock:
            return self._velocity.copy()

    def force_field(self) -> np.ndarray:
        """A copy of the force pending for the next step, (nx, ny, 2) cells/frame."""
        with self._lock:
            return self._force.copy()

    def take(self) -> ControlSnapshot:
        """The controls of the next step; the pending force decays by :attr:`force_decay` afterwards."""
        with self._lock:
            force = None
            if self._force.any():
                force = self._force.copy()
                self._force *= self.force_decay
                # Forget forces too weak to see, so an idle canvas stops paying for them.
                if np.abs(self._force).max() < 1e-4:
                    self._force[:] = 0.0
            return ControlSnapshot(
                self._emitter.copy(), self._collider.copy(), self._rate.copy(), self._velocity.copy(), force
            )
