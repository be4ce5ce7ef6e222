"""Interactive laser melting: a beam the user steers, advanced by the solver or by exported surrogates.

:class:`MeltPlay` advances one frame (the melt system's ``frame_dt``) at a time from three possible parts:

* the reference: the enthalpy solver and the grain automaton (:mod:`fieldcast.engine.systems.melt`), run
  when the temperature comes from the solver or when the comparison is on;
* a temperature surrogate: a melt model with ``temperature`` among its state and the ``laser`` flux among
  its controls (a UNet exported by the generic exporter), stepped by
  :class:`~fieldcast.engine.rollout.Rollout`;
* a microstructure surrogate: the CNN-ConvLSTM (``ipf(t), T(t), T(t+1) -> ipf(t+1)`` with explicit recurrent
  state), run as it was trained: from a zero state over the last three transitions, feeding back its own
  predictions of the orientation channels.

When the temperature comes from a model and the microstructure from the automaton, an automaton of its own
follows the model's temperature, interpolated between frames. The beam's path is planned once per frame and
shared, so the surrogates and the reference always see the same laser. Fields are ``(nx, ny)`` with y up
(row ``[:, -1]`` under the surface), temperatures in K, lengths in m unless a name says cells.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fieldcast.engine.model_format import OUTPUT, ModelInfo, parse_metadata
from fieldcast.engine.rollout import Rollout
from fieldcast.engine.runtime import ModelError, ModelSession
from fieldcast.engine.systems.melt import (
    IPF_CHANNELS,
    GrainField,
    Laser,
    Material,
    MeltScene,
    ThermalSolver,
)
from fieldcast.engine.systems.melt.play import step_stats

__all__ = [
    "MICROSTRUCTURE_INPUTS",
    "SOLVER",
    "Beam",
    "epitaxial_choice",
    "MeltFrame",
    "MeltPlay",
    "MicrostructureModel",
    "melt_model_kind",
    "open_melt_model",
]

SOLVER = "solver"
MICROSTRUCTURE_INPUTS = (*IPF_CHANNELS, "temperature", "temperature@t+1")
_CONTEXT = 3  # transitions the microstructure model sees when its metadata does not say (older exports)
_AUTOMATON_UPDATES = 8  # grain updates per frame when the automaton follows a model's temperature


class Beam:
    """The laser the user steers: position along the surface (m), power (W) and scan speed (m/s).

    Two ways to steer it. *Drag*: :meth:`follow` switches the beam on and sends it towards a point, at most
    at the scan speed; :meth:`release` switches it off. *Draw*: :meth:`start_path` jumps the beam to the
    start of a path (a scanner's off-beam jump), :meth:`add_point` extends it, and the beam runs the path at
    the scan speed, then switches off, or runs it back and forth when :attr:`repeat` is set.
    The GUI thread steers and the stepping thread moves the beam: every method holds the lock.
    """

    def __init__(self, x: float, length: float, power: float = 180.0, speed: float = 0.45) -> None:
        self._lock = threading.Lock()
        self.length = float(length)
        self.x = self._clamp(x)
        self.power = float(power)
        self.speed = float(speed)
        self.repeat = False
        self._queue: deque[float] = deque()
        self._drawn: list[float] = []
        self._dragging = False

    def _clamp(self, x: float) -> float:
        return min(max(float(x), 0.0), self.length)

    def set_power(self, watts: float) -> None:
        with self._lock:
            self.power = max(0.0, float(watts))

    def set_speed(self, metres_per_second: float) -> None:
        with self._lock:
            self.speed = max(1e-6, float(metres_per_second))

    def set_repeat(self, on: bool) -> None:
        with self._lock:
            self.repeat = bool(on)

    def follow(self, x: float) -> None:
        """Drag: the beam is on and heads for ``x``."""
        with self._lock:
            self._dragging = True
            self._drawn = []
            self._queue.clear()
            self._queue.append(self._clamp(x))

    def release(self) -> None:
        """End a drag: the beam switches off where it is."""
        with self._lock:
            self._dragging = False
            self._queue.clear()

    def start_path(self, x: float) -> None:
        """Begin a drawn path at ``x``: the beam jumps there and runs the points added after."""
        with self._lock:
            self._dragging = False
            self.x = self._clamp(x)
            self._drawn = [self.x]
            self._queue.clear()
            self._queue.append(self.x)

    def add_point(self, x: float, min_step: float = 0.0) -> None:
        """Extend the drawn path to ``x`` (ignored within ``min_step`` m of the last point)."""
        with self._lock:
            x = self._clamp(x)
            if self._drawn and abs(x - self._drawn[-1]) <= min_step:
                return
            self._drawn.append(x)
            self._queue.append(x)

    def clear(self, x: float | None = None) -> None:
        """Forget any path and drag, beam off (and moved to ``x`` when given)."""
        with self._lock:
            self._dragging = False
            self._queue.clear()
            self._drawn = []
            if x is not None:
                self.x = self._clamp(x)

    @property
    def on(self) -> bool:
        with self._lock:
            return self._dragging or bool(self._queue)

    def path(self) -> list[float]:
        """Where the beam will go: its position, then the points still ahead (m)."""
        with self._lock:
            return [self.x, *self._queue]

    def drawn(self) -> list[float]:
        """The path drawn last (m), empty after a drag or a clear."""
        with self._lock:
            return list(self._drawn)

    def advance(self, dt: float) -> tuple[float, float, float]:
        """Move the beam for ``dt`` seconds; returns ``(x_start, x_end, power)``, power 0 when off."""
        with self._lock:
            x0 = self.x
            on = self._dragging or bool(self._queue)
            budget = self.speed * dt
            while budget > 0.0 and self._queue:
                target = self._queue[0]
                gap = target - self.x
                if abs(gap) <= budget:
                    self.x = target
                    budget -= abs(gap)
                    if self._dragging and len(self._queue) == 1:
                        break  # a dragged beam waits at the mouse
                    self._queue.popleft()
                else:
                    self.x += math.copysign(budget, gap)
                    budget = 0.0
            if not self._queue and not self._dragging and self.repeat and len(self._drawn) > 1:
                self._drawn.reverse()
                self._queue.extend(self._drawn[1:])
            return x0, self.x, (self.power if on else 0.0)


@dataclass
class MeltFrame:
    """One frame of interactive melting, for drawing and readouts.

    ``temperature`` (nx, ny) K and ``ipf`` (9, nx, ny) are what the chosen sources computed;
    ``reference_*`` the solver's frame when it runs alongside (else None). ``beam_x`` and ``path`` are in
    cells; ``power`` W (0 when off); errors: temperature RMSE (K) and IPF MSE over the section.
    """

    index: int
    time: float
    temperature: np.ndarray
    ipf: np.ndarray
    beam_x: float
    power: float
    path: list[float]
    ms_temperature: float = 0.0
    ms_microstructure: float = 0.0
    stats: dict[str, float | bool] = field(default_factory=dict)
    reference_temperature: np.ndarray | None = None
    reference_ipf: np.ndarray | None = None
    error_temperature: float | None = None
    error_ipf: float | None = None

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.temperature).all() and np.isfinite(self.ipf).all())

    @property
    def error(self) -> float | None:
        """The headline error against the solver (IPF MSE when the microstructure differs, else K)."""
        return self.error_ipf if self.error_ipf else self.error_temperature


def _kind(info: ModelInfo) -> str | None:
    """``"temperature"``, ``"microstructure"`` or None: which part of the melt page a model can drive."""
    if info.system != "melt":
        return None
    if tuple(info.input_channels) == MICROSTRUCTURE_INPUTS:
        ok = tuple(info.output_channels) == IPF_CHANNELS and bool(info.recurrent)
        return "microstructure" if ok else None
    layout = info.layout or {}
    if "temperature" in layout.get("state", ()) and "laser" in layout.get("controls", ()):
        return "temperature"
    return None


def melt_model_kind(path: str | os.PathLike) -> str | None:
    """What a file's metadata says it is (a cheap look for listing models, not validation); None when it
    is unreadable or not a melt model."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        return _kind(parse_metadata({p.key: p.value for p in model.metadata_props}))
    except Exception:  # unreadable files are simply not listed; opening one explicitly reports why
        return None


def open_melt_model(path: str | os.PathLike, providers: list[str] | None = None) -> tuple[str, ModelSession]:
    """Open a melt model and say what it is: ``("temperature" | "microstructure", session)``.

    Raises :class:`ModelError` naming the file when it is not a melt model this page can run.
    """
    session = ModelSession(path, providers)
    kind = _kind(session.info)
    if kind is not None:
        return kind, session
    if session.info.system != "melt":
        raise ModelError(path, f"it is a {session.info.system!r} model; the melt page needs a melt model")
    raise ModelError(
        path,
        "it is neither a temperature model (state 'temperature', control 'laser') nor a microstructure "
        f"model (inputs {', '.join(MICROSTRUCTURE_INPUTS)} with recurrent state)",
    )


def epitaxial_choice(
    pred: np.ndarray, ipf_now: np.ndarray, solidifying: np.ndarray, max_passes: int = 16
) -> None:
    """Replace ``pred`` (9, nx, ny) in place, where ``solidifying``, by the orientation of a solid
    neighbour (of 8) nearest to it in IPF colours. Growth proceeds in passes, as the automaton's does within
    a frame: cells next to solid ones (in ``ipf_now``) first, then cells next to those, up to
    ``max_passes``; cells never reached keep ``pred`` (a new grain nucleated in the melt)."""
    nx, ny = solidifying.shape
    shifts = [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]
    solid = ipf_now.copy()
    left = solidifying.copy()
    for _ in range(max_passes):
        if not left.any():
            return
        pad = np.pad(solid, ((0, 0), (1, 1), (1, 1)))
        # (8, 9, nx, ny): the colours of each of the 8 neighbours of every cell
        neighbours = np.stack([pad[:, 1 + i : 1 + i + nx, 1 + j : 1 + j + ny] for i, j in shifts])
        distance = ((neighbours - pred[None]) ** 2).sum(axis=1)  # (8, nx, ny)
        distance[~(neighbours > 0).any(axis=1)] = np.inf
        grows = left & np.isfinite(distance.min(axis=0))
        if not grows.any():
            return
        nearest = np.take_along_axis(neighbours, distance.argmin(axis=0)[None, None], axis=0)[0]
        pred[:, grows] = nearest[:, grows]
        solid[:, grows] = nearest[:, grows]
        left &= ~grows


class MicrostructureModel:
    """The ConvLSTM run over a sliding window: ``step(T(t+1))`` returns ``ipf(t+1)`` (9, nx, ny).

    The rules of the grain automaton hold on every prediction, as Play's bounds do for smoke: a cell
    liquid at ``t+1`` has no orientation (0); a cell solid at ``t`` that stays below the liquidus keeps its
    orientation (grains change only by melting and solidifying again); and a cell that solidifies next to
    solid cells grows from one of them (epitaxy), the one whose colours are nearest the network's
    prediction (:func:`epitaxial_choice`). The network decides where the melt solidifies and into which
    neighbouring grain; where no neighbour is solid its colours stand. With ``keep_solid=False`` it
    predicts every cell, as it was scored in training.
    """

    def __init__(self, session: ModelSession, keep_solid: bool = True) -> None:
        self.session = session
        self.keep_solid = keep_solid
        self.liquidus = Material().liquidus
        # The sliding window of transitions, as long as the model's training windows (fieldcast.context).
        self.context = int(getattr(session.info, "context", 0) or _CONTEXT)
        self._frames: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.context)

    def reset(self, ipf: np.ndarray, temperature: np.ndarray) -> None:
        """Start from a plate at rest: the first frame stands for the earlier ones of the window."""
        problem = self.session.info.check_grid(*temperature.shape)
        if problem:
            raise ValueError(problem)
        self._frames.clear()
        for _ in range(self.context):
            self._frames.append((ipf.astype(np.float32), temperature.astype(np.float32)))

    def step(self, t_next: np.ndarray) -> np.ndarray:
        frames = list(self._frames)
        ipf_now = frames[-1][0]
        if self.keep_solid and (t_next < self.liquidus).all() and (ipf_now > 0).any(axis=0).all():
            # All solid now and next: by the rules nothing can change, and the network is not asked.
            self._frames.append((ipf_now, t_next.astype(np.float32)))
            return ipf_now.copy()
        nx, ny = t_next.shape
        states = {r.input: np.zeros(r.shape(1, nx, ny), np.float32) for r in self.session.info.recurrent}
        x = np.empty((1, len(MICROSTRUCTURE_INPUTS), nx, ny), np.float32)
        for s, (ipf, temp) in enumerate(frames):
            x[0, :9] = ipf
            x[0, 9] = temp
            x[0, 10] = frames[s + 1][1] if s + 1 < len(frames) else t_next
            out = self.session.run({"fields": x, **states})
            states = {r.input: out[r.output].copy() for r in self.session.info.recurrent}
        ipf_next = np.clip(out[OUTPUT][0], 0.0, 1.0)
        liquid = t_next >= self.liquidus
        if self.keep_solid:
            solid_now = (ipf_now > 0).any(axis=0)
            ipf_next[:, ~liquid & solid_now] = ipf_now[:, ~liquid & solid_now]
            epitaxial_choice(ipf_next, ipf_now, ~liquid & ~solid_now)
        ipf_next[:, liquid] = 0.0
        self._frames.append((ipf_next, t_next.astype(np.float32)))
        return ipf_next.copy()


class MeltPlay:
    """A plate section under a steerable beam, advanced frame by frame (see the module docstring).

    Parameters
    ----------
    nx, ny : grid in cells (96 × 48 is what the shipped models were trained on).
    seed : seeds the substrate grains and the automaton's nucleation (a reset repeats them).
    scene : cell size, frame interval, spot radius, absorptivity, material and grain settings.
    """

    def __init__(self, nx: int = 96, ny: int = 48, seed: int = 0, scene: MeltScene | None = None) -> None:
        self.scene = scene or MeltScene(nx, ny)
        self.scene.nx, self.scene.ny = nx, ny
        self.nx, self.ny, self.seed = nx, ny, seed
        self.dx = self.scene.dx
        self.beam = Beam(0.2 * nx * self.dx, nx * self.dx)
        self.laser = Laser(radius=self.scene.radius, absorptivity=self.scene.absorptivity)
        self.temperature_session: ModelSession | None = None
        self.microstructure_session: ModelSession | None = None
        self.compare = False
        self._flux = ThermalSolver(nx, ny, self.dx, self.scene.material, self.scene.thermal)
        self._n_sub = max(1, math.ceil(self.scene.frame_dt / (0.9 * self._flux.dt_limit)))
        self.frame = self.reset()

    # Sources -------------------------------------------------------------------------------------------
    @property
    def temperature_source(self) -> str:
        return SOLVER if self.temperature_session is None else self.temperature_session.path.name

    @property
    def microstructure_source(self) -> str:
        return SOLVER if self.microstructure_session is None else self.microstructure_session.path.name

    def set_temperature_session(self, session: ModelSession | None) -> MeltFrame:
        """Advance the temperature with ``session`` (None: the solver); restarts the scene."""
        self.temperature_session = session
        return self._restart()

    def set_microstructure_session(self, session: ModelSession | None) -> MeltFrame:
        """Predict the grains with ``session`` (None: the automaton); restarts the scene."""
        self.microstructure_session = session
        return self._restart()

    def set_compare(self, on: bool) -> MeltFrame:
        """Run the reference solver alongside (restarts so both start from the same state)."""
        self.compare = bool(on)
        return self._restart()

    # Life cycle ----------------------------------------------------------------------------------------
    def _grains(self) -> GrainField:
        grains = GrainField(self.nx, self.ny, self.scene.grains, np.random.default_rng(self.seed))
        grains.fill_substrate()
        return grains

    def reset(self) -> MeltFrame:
        """Back to a cold plate with fresh substrate grains; the beam is off where it was, its path gone."""
        self.beam.clear()
        return self._restart()

    def _restart(self) -> MeltFrame:
        """A cold plate with fresh substrate grains; the beam keeps its path (a source or comparison
        changed and the new parts must start from the same state)."""
        s = self.scene
        self.index = 0
        uses_solver = self.temperature_session is None or self.compare
        self.solver = ThermalSolver(self.nx, self.ny, self.dx, s.material, s.thermal) if uses_solver else None
        self.ref_grains = self._grains() if uses_solver else None
        self.temperature = np.full((self.nx, self.ny), s.thermal.ambient, np.float32)
        ipf = self._grains().ipf()
        self.ipf = ipf
        self.rollout: Rollout | None = None
        if self.temperature_session is not None:
            self.rollout = Rollout(self.temperature_session, "melt")
            start = {"temperature": self.temperature, **dict(zip(IPF_CHANNELS, ipf, strict=True))}
            self.rollout.reset({k: start[k] for k in self.rollout.blank_state(self.nx, self.ny)})
        self.micro = None
        self.own_grains = None
        if self.microstructure_session is not None:
            self.micro = MicrostructureModel(self.microstructure_session)
            self.micro.reset(ipf, self.temperature)
        elif self.temperature_session is not None:
            self.own_grains = self._grains()  # the automaton follows the model's temperature
        self.frame = self._make_frame(0.0, 0.0)
        return self.frame

    # Stepping ------------------------------------------------------------------------------------------
    def advance(self) -> MeltFrame:
        s, n = self.scene, self._n_sub
        h = s.frame_dt / n
        plan = [self.beam.advance(h) for _ in range(n)]
        m = s.material
        ref_t = ref_ipf = None
        t_solver = time.perf_counter()
        if self.solver is not None:
            for xa, xb, power in plan:
                self.solver.step(h, xa, xb, power, self.laser)
                self.ref_grains.update(self.solver.temperature, m.solidus, m.liquidus)
            ref_t = self.solver.temperature.astype(np.float32)
            ref_ipf = self.ref_grains.ipf()
        t0 = time.perf_counter()
        previous = self.temperature
        if self.rollout is not None:
            flux = np.zeros((self.nx, self.ny), np.float32)
            for xa, xb, power in plan:
                line = self.laser.line_power(s.thermal.thickness, power)
                flux[:, -1] += self._flux.laser_flux(0.5 * (xa + xb), line, self.laser.radius) / n
            self.temperature = self.rollout.step({"laser": flux}).fields["temperature"]
        else:
            self.temperature = ref_t
            t0 = t_solver  # the solver's time is the temperature source's
        t1 = time.perf_counter()
        if self.micro is not None:
            self.ipf = self.micro.step(self.temperature)
        elif self.own_grains is not None:
            for k in range(1, _AUTOMATON_UPDATES + 1):
                w = k / _AUTOMATON_UPDATES
                self.own_grains.update((1 - w) * previous + w * self.temperature, m.solidus, m.liquidus)
            self.ipf = self.own_grains.ipf()
        else:
            self.ipf = ref_ipf
        t2 = time.perf_counter()
        self.index += 1
        frame = self._make_frame((t1 - t0) * 1e3, (t2 - t1) * 1e3)
        if self.compare and ref_t is not None:
            frame.reference_temperature, frame.reference_ipf = ref_t, ref_ipf
            frame.error_temperature = float(np.sqrt(np.mean((self.temperature - ref_t) ** 2)))
            frame.error_ipf = float(np.mean((self.ipf - ref_ipf) ** 2))
        self.frame = frame
        return frame

    def _make_frame(self, ms_temperature: float, ms_microstructure: float) -> MeltFrame:
        path = [x / self.dx for x in self.beam.path()]
        on = self.beam.on
        fields = {"temperature": self.temperature}
        return MeltFrame(
            index=self.index,
            time=self.index * self.scene.frame_dt,
            temperature=self.temperature,
            ipf=self.ipf,
            beam_x=path[0],
            power=self.beam.power if on else 0.0,
            path=path,
            ms_temperature=ms_temperature,
            ms_microstructure=ms_microstructure,
            stats=step_stats(fields, self.dx),
        )
