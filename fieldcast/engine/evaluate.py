"""Evaluating an exported field model on a dataset split: rollout error against horizon, beside the
persistence baseline, and physics metrics.

The rollout here is the training-time one, batched over trajectories. Controls (and the condition channels
of a recurrent model, ``<channel>@t+1`` for the next frame) come from the data; the state is rolled on the
model's own predictions. After each step vector state is zeroed inside the solid mask and non-negative
channels are clamped (no emitter injection), so the numbers compare with the trainer's rollout test and
between fp32, fp16 and int8. Play's safety bounds are not applied: the figures measure the model alone.

A recurrent model (:attr:`ModelInfo.kind` ``recurrent_field``) streams its recurrent tensors: with a
``context`` of N transitions each prediction runs from a zero state over the last N transitions (the frames
it has predicted, the conditions from the data), as it was trained and as Play runs it; with no context its
state is carried through the whole rollout. The first predicted frame follows ``given`` true frames (the
history, or the context).

The persistence baseline (the last true state copied forward) is scored on the same frames in the same
pass. :func:`iter_evaluate_model` is what ``fieldcast eval`` runs: it opens the model (a field model here, a
sequence model in :mod:`fieldcast.engine.evaluate_sequence`), checks that the data fits it and picks the
split.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine import metrics as em
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.model_format import INPUT, OUTPUT, ModelInfo

__all__ = [
    "DataLayout",
    "check_fit",
    "grid_problem",
    "iter_evaluate",
    "iter_evaluate_model",
    "pick_split",
    "session_step",
]

_KEPT_CASES = 8  # test cases whose fields an evaluation keeps with keep_arrays
_OFFSET = re.compile(r"^(?P<name>.+)@t(?P<offset>[+-]\d+)$")


def _control_source(name: str) -> tuple[str, int]:
    """``temperature@t+1`` -> (``temperature``, 1); a plain name is read at ``t`` (offset 0)."""
    m = _OFFSET.match(name)
    if m is None:
        return name, 0
    offset = int(m["offset"])
    if offset < 0:
        raise ValueError(f"control {name!r}: a control must be read at t or later")
    return m["name"], offset


class DataLayout:
    """Indices of a model's channels in a dataset's channel order."""

    def __init__(self, info: ModelInfo, channel_names: Sequence[str]) -> None:
        names = list(channel_names)
        lay = info.layout
        sources = [_control_source(n) for n in lay["controls"]]
        needed = dict.fromkeys([*lay["state"], *(s for s, _ in sources)])
        missing = [n for n in needed if n not in names]
        if missing:
            raise ValueError(f"the data has no channel(s) {', '.join(missing)} the model needs")
        self.state = [names.index(n) for n in lay["state"]]
        self.controls = [names.index(s) for s, _ in sources]
        self.offsets = [off for _, off in sources]
        self.lookahead = max(self.offsets, default=0)
        self.history = info.history
        self.hist = [list(lay["state"]).index(n) for n in lay["history_state"]]
        self.vectors = [[list(lay["state"]).index(n) for n in v] for v in lay.get("vectors", [])]
        self.solid = list(lay["controls"]).index(lay["solid"]) if lay.get("solid") else None
        self.nonneg = [list(lay["state"]).index(n) for n in lay.get("nonnegative", [])]

    def controls_at(self, window: np.ndarray, t: int) -> np.ndarray:
        """The model's control channels for a step from frame ``t`` of ``window`` (B, L, C, nx, ny)."""
        b, _, _, nx, ny = window.shape
        if not self.controls:
            return np.zeros((b, 0, nx, ny), np.float32)
        return np.stack([window[:, t + o, i] for i, o in zip(self.controls, self.offsets, strict=True)], 1)

    def masks_at(self, window: np.ndarray, t: int) -> np.ndarray:
        """The control channels as they stand at frame ``t`` (for the solid mask of that frame)."""
        return window[:, t][:, self.controls]

    def model_input(self, frames: list[np.ndarray], window: np.ndarray, t: int) -> np.ndarray:
        """The input of a step from frame ``t``: ``frames`` are the last ``history`` states (oldest first,
        (B, Cs, nx, ny), the last one at ``t``), the controls come from ``window``."""
        parts = [frames[-1]] + [frames[-lag][:, self.hist] for lag in range(2, self.history + 1)]
        return np.concatenate([*parts, self.controls_at(window, t)], axis=1).astype(np.float32, copy=False)

    def impose(self, state: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """The training rule, in place on (B, Cs, nx, ny): no flow inside solids, clamped channels."""
        if self.solid is not None:
            fluid = controls[:, self.solid] <= 0.5
            for comps in self.vectors:
                state[:, comps] *= fluid[:, None]
        for j in self.nonneg:
            np.maximum(state[:, j], 0.0, out=state[:, j])
        return state


def given_frames(info: ModelInfo) -> int:
    """True frames before the first prediction: the history, or a recurrent model's context."""
    if info.kind == "recurrent_field":
        return max(1, int(info.context))
    return int(info.history)


def _start_windows(dataset: Any, split: str, length: int, n: int | None) -> tuple[list, int]:
    """One window per trajectory of ``split``, as long as the split allows up to ``length`` frames."""
    segments = dataset.split_segments(split)
    longest = max((stop - start for _, start, stop in segments), default=0)
    length = min(length, longest)
    starts: dict[int, int] = {}
    for traj, start, stop in segments:
        if stop - start >= length:
            starts.setdefault(traj, start)
    return list(starts.items())[:n], length


def _errors(pred: np.ndarray, truth: np.ndarray, inv_std: np.ndarray, names: Sequence[str]) -> dict:
    out = {"nmse": float(np.mean(((pred - truth) * inv_std) ** 2))}
    for j, name in enumerate(names):
        out[f"rmse/{name}"] = float(np.mean(em.rmse(pred[:, j], truth[:, j])))
        out[f"mae/{name}"] = float(np.mean(np.abs(pred[:, j] - truth[:, j])))  # in the channel's units
    return out


def _system_metrics(info: ModelInfo) -> tuple[str, ...]:
    """The physics metrics the model's system names (none when its spec is unknown here)."""
    try:
        return tuple(info.system_spec().metrics)
    except (KeyError, ValueError):
        return ()


def _physics(pred: np.ndarray, truth: np.ndarray, ctrl: np.ndarray, info: ModelInfo, layout) -> dict:
    """Flow metrics of any 2D vector state; the smoke metrics where the system names them."""
    names = list(info.output_channels)
    out: dict[str, float] = {}
    vec = next((v for v in layout.vectors if len(v) == 2), None)
    scalar = next((j for j in range(len(names)) if not any(j in v for v in layout.vectors)), None)
    smoke = "total_smoke" in _system_metrics(info)
    for tag, fields in (("", pred), ("truth/", truth)):
        if vec is not None:
            out[tag + "divergence_norm"] = float(
                np.mean(em.divergence_norm(fields[:, vec[0]], fields[:, vec[1]]))
            )
            out[tag + "kinetic_energy"] = float(
                np.mean(em.kinetic_energy(fields[:, vec[0]], fields[:, vec[1]]))
            )
        if scalar is not None and smoke:
            out[tag + "total_smoke"] = float(np.mean(em.total_smoke(fields[:, scalar])))
            if layout.solid is not None:
                viol = em.collider_violation(fields[:, scalar], ctrl[:, layout.solid])
                out[tag + "collider_violation"] = float(np.mean(viol))
    return out


def _nmse_per_frame(pred: np.ndarray, truth: np.ndarray, inv_std: np.ndarray) -> list[float]:
    """nmse of (B, steps, C, nx, ny) fields for each predicted frame: the mean over everything else."""
    return np.mean(((pred - truth) * inv_std[:, None]) ** 2, axis=(0, 2, 3, 4)).tolist()


class _Stepper:
    """One prediction of the next state from the frames so far, for each kind of field model."""

    def __init__(self, run_step, info: ModelInfo, layout: DataLayout) -> None:
        self.run_step, self.info, self.layout = run_step, info, layout
        self.recurrent = info.kind == "recurrent_field"
        self.context = int(info.context) if self.recurrent else 0
        self.states: dict[str, np.ndarray] | None = None
        self.block: list[np.ndarray] = []  # frames of a multi-frame model's last call not yet returned

    def _from_block(self, frames: list[np.ndarray], window: np.ndarray, t: int) -> np.ndarray:
        """A model predicting ``K`` frames per call: one call every ``K`` frames, from the last frame."""
        if not self.block:
            lay = self.layout
            out = np.array(self.run_step(lay.model_input(frames[-lay.history :], window, t)), np.float32)
            b, _, nx, ny = out.shape
            self.block = list(out.reshape(b, self.info.increments, -1, nx, ny).swapaxes(0, 1))
        return self.block.pop(0)

    def _zeros(self, x: np.ndarray) -> dict[str, np.ndarray]:
        b, _, nx, ny = x.shape
        return {r.input: np.zeros(r.shape(b, nx, ny), np.float32) for r in self.info.recurrent}

    def _run(self, x: np.ndarray, states: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
        out = self.run_step({INPUT: x, **states})
        return np.array(out[OUTPUT], np.float32), {
            r.input: np.array(out[r.output]) for r in self.info.recurrent
        }

    def __call__(self, frames: list[np.ndarray], window: np.ndarray, t: int) -> np.ndarray:
        lay = self.layout
        if self.info.increments > 1:
            return self._from_block(frames, window, t)
        if not self.recurrent:
            return np.array(self.run_step(lay.model_input(frames[-lay.history :], window, t)), np.float32)
        if self.context == 0:  # the state is carried from step to step
            x = lay.model_input(frames[-1:], window, t)
            pred, self.states = self._run(x, self.states if self.states is not None else self._zeros(x))
            return pred
        states = None
        for s in range(t - self.context + 1, t + 1):  # from a zero state over the last `context` transitions
            x = lay.model_input([frames[s]], window, s)
            pred, states = self._run(x, states if states is not None else self._zeros(x))
        return pred


def iter_evaluate(
    run_step,
    info: ModelInfo,
    dataset: Any,
    split: str = "test",
    horizons: Sequence[int] = (10, 50, 200),
    n_trajectories: int | None = 8,
    token: CancelToken | None = None,
    keep_arrays: bool = False,
) -> Generator[Progress, None, dict[str, Any]]:
    """Roll the first window of each trajectory in ``split`` out to the longest horizon.

    Parameters
    ----------
    run_step : for a field-rollout model ``x (B, C_in, nx, ny) -> next state (B, C_out, nx, ny)``; for a
        recurrent model ``{"fields": x, <recurrent inputs>} -> {"next_fields": ..., <recurrent outputs>}``;
        physical units (:func:`session_step` makes either from a session).
    horizons : frames after the last given frame at which errors are reported (clipped to the data).

    Returns (as the generator's value) ``{"task", "split", "n_trajectories", "given", "steps", "finite",
    "horizons": {h: {"nmse", "rmse/<channel>", physics metrics of prediction and of "truth/"}},
    "baselines": {"persistence": {h: {"nmse", "rmse/<channel>"}}}, "curve": {"model": [...],
    "persistence": [...]}}``; nmse is the MSE in units of the train-split standard deviation of each
    channel, as in the trainer's rollout test, and ``curve`` holds it for every predicted frame (1 ... steps).
    With ``keep_arrays`` the result also holds ``"arrays"`` (numpy, not JSON) for one test case, the first
    trajectory: ``case`` ``{"trajectory", "start", "horizons": {h: {"truth", "model", "persistence"}}}``
    with (C, nx, ny) fields at each reported horizon, and ``names``, ``units``, ``dt``, ``time_units``.
    """
    token = token or CancelToken()
    layout = DataLayout(info, dataset.channel_names)
    given = given_frames(info)
    extra = max(0, layout.lookahead - 1)  # frames read past the predicted one (conditions at t+2 ...)
    chosen, length = _start_windows(dataset, split, given + max(horizons) + extra, n_trajectories)
    steps = length - given - extra
    if not chosen or steps < 1:
        raise ValueError(f"split {split!r} has no trajectory longer than the model's {given} given frame(s)")
    window = np.stack([dataset.read_window(t, s, length) for t, s in chosen])  # (B, L, C, nx, ny)
    std = np.asarray(dataset.stats["std"], np.float64)[layout.state]
    inv_std = (1.0 / np.where(std < 1e-6, 1.0, std))[None, :, None, None]
    stepper = _Stepper(run_step, info, layout)
    frames = [window[:, i][:, layout.state] for i in range(given)]
    for k in range(steps):  # one frame at a time, so progress and cancellation are per step
        token.raise_if_cancelled()
        t = given - 1 + k
        pred = layout.impose(stepper(frames, window, t), layout.masks_at(window, t + 1))
        frames.append(pred)
        yield Progress("evaluate", k + 1, steps, f"{split}: frame {k + 1}/{steps}")
    pred_all = np.stack(frames[given:], axis=1)
    truth = window[:, given : given + steps][:, :, layout.state]
    last_true = window[:, given - 1][:, layout.state]
    names = list(info.output_channels)
    result: dict[str, Any] = {
        "task": info.kind,
        "split": split,
        "n_trajectories": len(chosen),
        "given": given,
        "steps": steps,
        "finite": bool(np.isfinite(pred_all).all()),
        "units": dict(zip(names, info.output_units or [""] * len(names), strict=True)),
        "horizons": {},
        "baselines": {"persistence": {}},
    }
    reported = sorted({min(int(x), steps) for x in horizons})
    for hz in reported:
        p, tr = pred_all[:, hz - 1], truth[:, hz - 1]
        record = _errors(p, tr, inv_std, names)
        record.update(_physics(p, tr, layout.masks_at(window, given - 1 + hz), info, layout))
        result["horizons"][hz] = record
        result["baselines"]["persistence"][hz] = _errors(last_true, tr, inv_std, names)
    result["curve"] = {
        "model": _nmse_per_frame(pred_all, truth, inv_std),
        "persistence": _nmse_per_frame(last_true[:, None], truth, inv_std),
    }
    if keep_arrays:
        case = {
            hz: {"truth": truth[0, hz - 1], "model": pred_all[0, hz - 1], "persistence": last_true[0]}
            for hz in reported
        }
        result["arrays"] = {
            "names": names,
            "units": list(info.output_units or [""] * len(names)),
            "dt": float(info.dt),
            "time_units": str(info.time_units),
            "case": {"trajectory": int(chosen[0][0]), "start": int(chosen[0][1]), "horizons": case},
            # every evaluated trajectory (at most _KEPT_CASES) at the longest reported horizon, for reports
            "cases": [
                {
                    "trajectory": int(t),
                    "start": int(s),
                    "horizon": reported[-1],
                    "truth": truth[b, reported[-1] - 1],
                    "model": pred_all[b, reported[-1] - 1],
                    "persistence": last_true[b],
                }
                for b, (t, s) in enumerate(chosen[:_KEPT_CASES])
            ],
        }
    return result


def session_step(session) -> Any:
    """``run_step`` for :func:`iter_evaluate` from a :class:`~fieldcast.engine.runtime.ModelSession`."""
    if session.info.recurrent:
        return lambda feeds: {k: v.copy() for k, v in session.run(feeds).items()}
    return lambda x: session.run(x)[OUTPUT]


# The command-line evaluation -------------------------------------------------------------------------------


def apply_model_split(dataset: Any, info: Any) -> str | None:
    """Use the time split the model was trained with (its provenance) when the data allows it.

    Returns a one-line note when the model's split does not fit this file (its own split is used), else None.
    """
    setting = (info.provenance or {}).get("split")
    if not isinstance(setting, list):  # "stored" and "auto" mean the file's own split: nothing to change
        return None
    try:
        dataset.use_split(setting)
    except (KeyError, TypeError, ValueError) as exc:  # DatasetError, a malformed setting: the file's split
        return (
            f"the model's training split {setting!r} does not fit this file ({exc}); using the file's split"
        )
    return None


def pick_split(dataset: Any, split: str, frames: int) -> tuple[str, str | None]:
    """``split``, or ``valid`` when ``split`` is ``test`` and has no trajectory of ``frames`` frames.

    Returns the split to use and a note saying why it is not the one asked for (None when it is).
    """

    def usable(name: str) -> bool:
        return any(stop - start >= frames for _, start, stop in dataset.split_segments(name))

    if usable(split) or split != "test" or not usable("valid"):
        return split, None
    reason = "empty" if not dataset.split_segments("test") else f"shorter than {frames} frames"
    return "valid", f"the test split is {reason}; evaluated on the valid split"


def check_fit(info: ModelInfo, dataset: Any, data: Path) -> DataLayout:
    """The data layout of a field model on ``dataset``; ValueError naming ``data`` when it does not fit."""
    try:
        layout = DataLayout(info, dataset.channel_names)
    except ValueError as exc:
        raise ValueError(f"{data}: {exc}") from None
    problem = grid_problem(info, dataset.grid)
    if problem:
        raise ValueError(f"{data}: {problem}")
    return layout


def grid_problem(info: ModelInfo, grid: Sequence[int]) -> str | None:
    """Why a field model cannot run on ``grid`` (naming the grid), or None when it can."""
    nx, ny = (int(n) for n in grid)
    problem = info.check_grid(nx, ny)
    if problem is None or problem.startswith("grid "):
        return problem
    return f"grid {nx}×{ny}: {problem}"


def iter_evaluate_model(
    model: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "test",
    horizons: Sequence[int] = (10, 50, 200),
    n_trajectories: int | None = 8,
    token: CancelToken | None = None,
    providers: list[str] | None = None,
    keep_arrays: bool = False,
) -> Generator[Progress, None, dict[str, Any]]:
    """Evaluate the exported model file ``model`` (any Fieldcast kind) on dataset file ``data``.

    Raises :class:`~fieldcast.engine.runtime.ModelError` or
    :class:`~fieldcast.engine.data.DatasetError` for a file that cannot be used and ValueError (naming the
    data file) for data that does not fit the model. Returns the result of :func:`iter_evaluate` (or of
    :func:`fieldcast.engine.evaluate_sequence.iter_evaluate_sequence`) with ``model``, ``variant``,
    ``system``, ``split_note`` and ``notes`` added (and the pictures' ``arrays`` with ``keep_arrays``).
    """
    from fieldcast.engine.data import open_dataset
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.engine.sequence_runtime import SequenceSession, is_sequence_model

    model, data = Path(model), Path(data)
    from fieldcast.engine.generative import is_generative_model

    if model.is_file() and is_generative_model(model):
        return (yield from _evaluate_generative(model, data, split, n_trajectories, token, providers))
    sequence = model.is_file() and is_sequence_model(model)
    session = SequenceSession(model, providers) if sequence else ModelSession(model, providers)
    dataset = open_dataset(data)
    notes = [n for n in [apply_model_split(dataset, session.info)] if n]
    if sequence:
        from fieldcast.engine.evaluate_sequence import check_sequence_fit, iter_evaluate_sequence

        check_sequence_fit(session.info, dataset, data)
        chosen, note = pick_split(dataset, split, 2)
        job = iter_evaluate_sequence(session, dataset, chosen, n_trajectories, token, keep_arrays)
    else:
        check_fit(session.info, dataset, data)
        chosen, note = pick_split(dataset, split, given_frames(session.info) + 1)
        job = iter_evaluate(
            session_step(session), session.info, dataset, chosen, horizons, n_trajectories, token, keep_arrays
        )
    notes += [note] if note else []
    try:
        result = yield from job
    except ValueError as exc:
        raise ValueError(f"{data}: {exc}") from None
    result.update(
        model=str(model),
        variant=session.info.variant,
        system=session.info.system,
        split_note=dataset.split_note,
        notes=notes,
    )
    return result


def _evaluate_generative(model: Path, data: Path, split, n_trajectories, token, providers):
    """A generative model (:mod:`fieldcast.engine.evaluate_generative`) on the split's first trajectories."""
    from fieldcast.engine.data import open_dataset
    from fieldcast.engine.evaluate_generative import iter_evaluate_generative
    from fieldcast.engine.generative import GenerativeSession

    session = GenerativeSession(model, providers)
    dataset = open_dataset(data)
    chosen, note = pick_split(dataset, split, 1)
    result = yield from iter_evaluate_generative(session, dataset, data, chosen, n_trajectories, token=token)
    result.update(
        model=str(model),
        variant=session.info.variant,
        system=session.info.system,
        split_note=dataset.split_note,
        notes=[note] if note else [],
    )
    return result
