"""Stepping an exported model autoregressively, with history, controls and recurrent state.

:class:`Rollout` is what the Play panel and the benchmark drive. It keeps the model's input in one
preallocated ``(1, C_in, nx, ny)`` buffer: each step writes the controls into it, runs the session, re-imposes
the controls on the prediction through the system's play hook (``impose_controls`` in
``fieldcast.engine.systems.<system>.play``, or the generic rule of the model's layout), shifts the history
and measures the frame. All fields are in physical units, arrays ``(nx, ny)`` (x then y, y up).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fieldcast.engine.model_format import OUTPUT
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.base import SystemSpec, resolve_spec

__all__ = ["Rollout", "StepResult", "generic_impose", "play_hooks"]

_PLAY_MODULES = {
    "smoke": "fieldcast.engine.systems.smoke.play",
    "melt": "fieldcast.engine.systems.melt.play",
}


@dataclass(frozen=True)
class StepResult:
    """One frame of a rollout.

    Attributes
    ----------
    fields : state fields in physical units, (nx, ny) scalars and (nx, ny, 2) vectors; owned by the caller.
    ms_model : time inside the model (ONNX Runtime), ms.
    ms_total : time of the whole step, ms.
    stats : ``total_smoke``, ``max_density``, ``divergence_norm`` (system-specific names for other systems)
        and ``finite`` (no NaN or infinity in the state), plus what the play hook's safety bounds changed
        (for smoke ``bounded_cells``, the share of cells a bound moved, and ``smoke_removed``).
    """

    fields: dict[str, np.ndarray]
    ms_model: float
    ms_total: float
    stats: dict[str, float | bool]


def generic_impose(layout: Mapping) -> Callable:
    """The training-time rule of a layout: vector state zeroed inside the solid mask, clamps at 0."""
    solid_name = layout.get("solid")
    vectors = [list(v) for v in layout.get("vectors", [])]
    nonneg = list(layout.get("nonnegative", []))

    def impose(fields, controls, force=None, previous=None, *, bounds=True, frames=1) -> None:
        if force is not None and vectors and len(vectors[0]) == 2:
            fields[vectors[0][0]] += force[..., 0]
            fields[vectors[0][1]] += force[..., 1]
        mask = controls.get(solid_name) if solid_name else None
        if mask is not None:
            solid = mask > 0.5
            for comps in vectors:
                for name in comps:
                    fields[name][solid] = 0.0
        for name in nonneg:
            np.maximum(fields[name], 0.0, out=fields[name])

    return impose


def _generic_stats(fields: Mapping[str, np.ndarray]) -> dict[str, float | bool]:
    first = next(iter(fields.values()))
    finite = all(bool(np.isfinite(a).all()) for a in fields.values())
    return {"total": float(first.sum(dtype=np.float64)), "max": float(first.max()), "finite": finite}


def play_hooks(system: str, layout: Mapping) -> tuple[Callable, Callable]:
    """``(impose_controls, step_stats)`` of ``system``, or the generic ones of ``layout``."""
    module = _PLAY_MODULES.get(system)
    if module is None:
        return generic_impose(layout), _generic_stats
    mod = importlib.import_module(module)
    return mod.impose_controls, mod.step_stats


class Rollout:
    """Step a model from a state, frame after frame, under changing controls.

    Parameters
    ----------
    session : a :class:`ModelSession` (shared sessions are fine: it is thread-safe).
    spec_or_system : the system's spec or name, used to group channels into fields (``velocity_x`` and
        ``velocity_y`` become ``velocity`` (nx, ny, 2)); default the spec the model carries, else the
        built-in spec of its system.
    rules : ``"system"`` re-imposes controls through the system's play hook (the generic rule of the
        layout for systems without one); ``"layout"`` applies only the layout's rule (vectors zeroed in the
        solid mask, ``nonnegative`` channels clamped at 0), whatever the system.
    bounds : let the play hook apply its safety bounds (for smoke: advection maximum principle, smoke budget,
        speed limit) on top of the controls; off, the model runs alone. Changeable later (:attr:`bounds`).

    One call advances :attr:`frames_per_step` simulated frames (the model's ``dt`` in frames).

    One instance is safe to use from several threads (steps are serialised); each rollout has its own state.
    """

    def __init__(
        self,
        session: ModelSession,
        spec_or_system: SystemSpec | str | None = None,
        rules: str = "system",
        bounds: bool = True,
    ) -> None:
        self.session = session
        info = session.info
        self.info = info
        lay = info.layout
        self.state_names = list(lay["state"])
        self.control_names = list(lay["controls"])
        self.history = info.history
        self.frames_per_step = info.frames_per_step
        self.bounds = bool(bounds)
        self._hist_idx = [self.state_names.index(n) for n in lay["history_state"]]
        self._fields = self._group_fields(spec_or_system or info.system)
        if rules not in ("system", "layout"):
            raise ValueError(f"rules must be 'system' or 'layout', not {rules!r}")
        self._impose, self._stats = play_hooks(info.system if rules == "system" else "", lay)
        self._lock = threading.Lock()
        self._x: np.ndarray | None = None
        self._recurrent: dict[str, np.ndarray] = {}
        self._controls: dict[str, np.ndarray] = {}
        self.frame = 0

    def _group_fields(self, spec_or_system: SystemSpec | str) -> dict[str, list[int]]:
        """Field name -> positions of its components among the state channels."""
        spec = spec_or_system
        if isinstance(spec, str):
            carried = self.info.spec if spec == self.info.system else None
            try:
                spec = resolve_spec(spec, carried)
            except KeyError:
                spec = None
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.state_names):
            field = name
            if spec is not None:
                match = next((c.field for c in spec.channels("state") if c.name == name), None)
                field = match or name
            groups.setdefault(field, []).append(i)
        return groups

    def blank_state(self, nx: int, ny: int) -> dict[str, np.ndarray]:
        """Zero fields for every state field of the model: (nx, ny) scalars, (nx, ny, k) vectors."""
        return {
            f: np.zeros((nx, ny) if len(idx) == 1 else (nx, ny, len(idx)), np.float32)
            for f, idx in self._fields.items()
        }

    @property
    def grid(self) -> tuple[int, int] | None:
        return None if self._x is None else (self._x.shape[2], self._x.shape[3])

    def _state_views(self) -> dict[str, np.ndarray]:
        n = len(self.state_names)
        return {name: self._x[0, i] for i, name in zip(range(n), self.state_names, strict=True)}

    def _channels(self, state_fields: Mapping[str, np.ndarray], fields: list[str]) -> dict[str, np.ndarray]:
        """Channel -> (nx, ny) plane of the ``fields`` in ``state_fields`` (KeyError for a missing one)."""
        unknown = set(state_fields) - set(self._fields)
        if unknown:
            raise KeyError(f"reset got unknown field(s) {', '.join(sorted(unknown))}")
        arrays = {}
        for field in fields:
            idx = self._fields[field]
            if field not in state_fields:
                raise KeyError(f"reset needs field {field!r} (fields: {', '.join(self._fields)})")
            a = np.asarray(state_fields[field], np.float32)
            arrays.update(
                {self.state_names[i]: (a[..., k] if len(idx) > 1 else a) for k, i in enumerate(idx)}
            )
        return arrays

    def reset(
        self, state_fields: Mapping[str, np.ndarray], earlier: Sequence[Mapping[str, np.ndarray]] = ()
    ) -> None:
        """Start from ``state_fields`` (physical units): every state field, (nx, ny) or (nx, ny, 2).

        ``earlier`` are the frames before this one, newest first, for a model that sees a history: each
        needs the fields of the history channels. Earlier frames not given repeat the oldest one known
        (this one when none is given); recurrent state starts at zero.
        """
        arrays = self._channels(state_fields, list(self._fields))
        hist_names = [self.state_names[j] for j in self._hist_idx]
        hist_fields = [
            f for f, idx in self._fields.items() if any(self.state_names[i] in hist_names for i in idx)
        ]
        past = [self._channels(frame, hist_fields) for frame in list(earlier)[: max(self.history - 1, 0)]]
        nx, ny = next(iter(arrays.values())).shape[:2]
        problem = self.info.check_grid(nx, ny)
        if problem:
            raise ValueError(problem)
        for frame in past:
            for name in hist_names:
                if frame[name].shape != (nx, ny):
                    raise ValueError(f"an earlier frame of {name!r} is {frame[name].shape}, not {(nx, ny)}")
        n_in = len(self.info.input_channels)
        with self._lock:
            if self._x is None or self._x.shape != (1, n_in, nx, ny):
                self._x = np.zeros((1, n_in, nx, ny), np.float32)
                self._controls = {}
            self._x.fill(0.0)
            for i, name in enumerate(self.state_names):
                self._x[0, i] = arrays[name]
            for lag in range(1, self.history):
                if lag <= len(past):
                    for k, name in enumerate(hist_names):
                        self._x[0, self._hist_slice(lag).start + k] = past[lag - 1][name]
                else:  # repeat the oldest frame known
                    source = self._hist_slice(lag - 1) if lag > 1 else self._hist_idx
                    self._x[0, self._hist_slice(lag)] = self._x[0, source]
            self._recurrent = {r.input: np.zeros(r.shape(1, nx, ny), np.float32) for r in self.info.recurrent}
            self.frame = 0

    def _hist_slice(self, lag: int) -> slice:
        start = len(self.state_names) + (lag - 1) * len(self._hist_idx)
        return slice(start, start + len(self._hist_idx))

    def _write_controls(self, controls: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy the control masks into the input; missing ones keep their previous value (zero at first)."""
        base = len(self.state_names) + (self.history - 1) * len(self._hist_idx)
        planes = {}
        for k, name in enumerate(self.control_names):
            plane = self._x[0, base + k]
            if name in controls:
                np.copyto(plane, controls[name], casting="unsafe")
            planes[name] = plane
        extras = {k: v for k, v in controls.items() if k not in planes}
        return {**planes, **extras}

    def step(self, controls: Mapping[str, np.ndarray], force: np.ndarray | None = None) -> StepResult:
        """Advance one frame under ``controls`` (masks (nx, ny) by control name, plus system extras such as
        ``emitter_rate``) and an optional user ``force`` (nx, ny, 2) in velocity units."""
        with self._lock:
            if self._x is None:
                raise RuntimeError("call reset() before step()")
            t0 = time.perf_counter()
            ctrl = self._write_controls(controls)
            feeds = {"fields": self._x, **self._recurrent} if self._recurrent else self._x
            t1 = time.perf_counter()
            out = self.session.run(feeds)
            t2 = time.perf_counter()
            for r in self.info.recurrent:
                np.copyto(self._recurrent[r.input], out[r.output])
            # Shift the history oldest-first, then the prediction becomes the current state.
            for lag in range(self.history - 1, 1, -1):
                self._x[0, self._hist_slice(lag)] = self._x[0, self._hist_slice(lag - 1)]
            if self.history > 1:
                self._x[0, self._hist_slice(1)] = self._x[0, self._hist_idx]
            np.copyto(self._x[0, : len(self.state_names)], out[OUTPUT][0])
            views = self._state_views()
            previous = None
            if self.history > 1:  # the frame just replaced, for rules bounding what one step may change
                hist = self._x[0, self._hist_slice(1)]
                previous = {self.state_names[j]: hist[k] for k, j in enumerate(self._hist_idx)}
            readout = self._impose(
                views, ctrl, force, previous, bounds=self.bounds, frames=self.frames_per_step
            )
            stats = self._stats(views)
            if readout:
                stats.update(readout)
            fields = self._export_fields()
            self.frame += 1
            t3 = time.perf_counter()
        return StepResult(fields, (t2 - t1) * 1e3, (t3 - t0) * 1e3, stats)

    def _export_fields(self) -> dict[str, np.ndarray]:
        state = self._x[0]
        out = {}
        for field, idx in self._fields.items():
            out[field] = state[idx[0]].copy() if len(idx) == 1 else np.stack([state[i] for i in idx], axis=-1)
        return out

    def fields(self) -> dict[str, np.ndarray]:
        """A copy of the current state fields."""
        with self._lock:
            if self._x is None:
                raise RuntimeError("call reset() first")
            return self._export_fields()

    def model_input(self) -> np.ndarray:
        """The model's current input buffer (read-only view), e.g. for benchmarking the bare session."""
        view = self._x.view()
        view.flags.writeable = False
        return view
