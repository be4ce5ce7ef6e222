"""Evaluating an exported model on a dataset split: rollout error against horizon, and physics metrics.

The rollout here is the training-time one, batched over trajectories: the controls come from the data, and
after each step vector state is zeroed inside the solid mask and non-negative channels are clamped (no
emitter injection), so the numbers compare with the trainer's rollout test and between fp32, fp16 and int8.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from fieldcast.engine import metrics as em
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.model_format import OUTPUT, ModelInfo

__all__ = ["DataLayout", "iter_evaluate", "session_step"]


class DataLayout:
    """Indices of a model's channels in a dataset's channel order."""

    def __init__(self, info: ModelInfo, channel_names: Sequence[str]) -> None:
        names = list(channel_names)
        lay = info.layout
        missing = [n for n in [*lay["state"], *lay["controls"]] if n not in names]
        if missing:
            raise ValueError(f"the data has no channel(s) {', '.join(missing)} the model needs")
        self.state = [names.index(n) for n in lay["state"]]
        self.controls = [names.index(n) for n in lay["controls"]]
        self.history = info.history
        self.hist = [list(lay["state"]).index(n) for n in lay["history_state"]]
        self.vectors = [[list(lay["state"]).index(n) for n in v] for v in lay.get("vectors", [])]
        self.solid = list(lay["controls"]).index(lay["solid"]) if lay.get("solid") else None
        self.nonneg = [list(lay["state"]).index(n) for n in lay.get("nonnegative", [])]

    def model_input(self, frames: list[np.ndarray], controls: np.ndarray) -> np.ndarray:
        """Stack ``frames`` (the last ``history`` states, oldest first, (B, Cs, nx, ny)) and controls."""
        parts = [frames[-1]] + [frames[-lag][:, self.hist] for lag in range(2, self.history + 1)]
        return np.concatenate([*parts, controls], axis=1).astype(np.float32, copy=False)

    def impose(self, state: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """The training rule, in place on (B, Cs, nx, ny): no flow inside solids, clamped channels."""
        if self.solid is not None:
            fluid = controls[:, self.solid] <= 0.5
            for comps in self.vectors:
                state[:, comps] *= fluid[:, None]
        for j in self.nonneg:
            np.maximum(state[:, j], 0.0, out=state[:, j])
        return state


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


def _metrics_at(pred: np.ndarray, truth: np.ndarray, ctrl: np.ndarray, info: ModelInfo, layout) -> dict:
    names = list(info.output_channels)
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        out[f"rmse/{name}"] = float(np.mean(em.rmse(pred[:, j], truth[:, j])))
    vec = next((v for v in layout.vectors if len(v) == 2), None)
    scalar = next((j for j in range(len(names)) if not any(j in v for v in layout.vectors)), None)
    for tag, fields in (("", pred), ("truth/", truth)):
        if vec is not None:
            out[tag + "divergence_norm"] = float(
                np.mean(em.divergence_norm(fields[:, vec[0]], fields[:, vec[1]]))
            )
            out[tag + "kinetic_energy"] = float(
                np.mean(em.kinetic_energy(fields[:, vec[0]], fields[:, vec[1]]))
            )
        if scalar is not None:
            out[tag + "total_smoke"] = float(np.mean(em.total_smoke(fields[:, scalar])))
            if layout.solid is not None:
                viol = em.collider_violation(fields[:, scalar], ctrl[:, layout.solid])
                out[tag + "collider_violation"] = float(np.mean(viol))
    return out


def iter_evaluate(
    run_step,
    info: ModelInfo,
    dataset: Any,
    split: str = "test",
    horizons: Sequence[int] = (10, 50, 200),
    n_trajectories: int | None = 8,
    token: CancelToken | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Roll the first window of each trajectory in ``split`` out to the longest horizon.

    Parameters
    ----------
    run_step : ``x (B, C_in, nx, ny) -> next state (B, C_out, nx, ny)``, physical units (e.g. a session).
    horizons : frames after the last history frame at which errors are reported (clipped to the data).

    Returns (as the generator's value) ``{"split", "n_trajectories", "steps", "finite", "horizons": {h:
    {"nmse", "rmse/<channel>", physics metrics of prediction and of "truth/"}}}``; nmse is the MSE in units of
    the train-split standard deviation of each channel, as in the trainer's rollout test.
    """
    token = token or CancelToken()
    layout = DataLayout(info, dataset.channel_names)
    h = layout.history
    chosen, length = _start_windows(dataset, split, h + max(horizons), n_trajectories)
    steps = length - h
    if not chosen or steps < 1:
        raise ValueError(f"split {split!r} has no trajectory longer than the model's history ({h} frames)")
    window = np.stack([dataset.read_window(t, s, length) for t, s in chosen])  # (B, L, C, nx, ny)
    std = np.asarray(dataset.stats["std"], np.float64)[layout.state]
    inv_std = (1.0 / np.where(std < 1e-6, 1.0, std))[None, :, None, None]
    done = [0]

    def counted(x: np.ndarray) -> np.ndarray:
        token.raise_if_cancelled()
        done[0] += 1
        return run_step(x)

    preds = []
    frames_h = [window[:, i][:, layout.state] for i in range(h)]
    for k in range(steps):  # one frame at a time, so progress and cancellation are per step
        t = h - 1 + k
        x = layout.model_input(frames_h[-h:], window[:, t][:, layout.controls])
        pred = layout.impose(np.array(counted(x), np.float32), window[:, t + 1][:, layout.controls])
        preds.append(pred)
        frames_h.append(pred)
        yield Progress("evaluate", k + 1, steps, f"{split}: frame {k + 1}/{steps}")
    pred_all = np.stack(preds, axis=1)
    truth = window[:, h:][:, :, layout.state]
    result: dict[str, Any] = {
        "split": split,
        "n_trajectories": len(chosen),
        "steps": steps,
        "finite": bool(np.isfinite(pred_all).all()),
        "horizons": {},
    }
    for hz in sorted({min(int(x), steps) for x in horizons}):
        p, tr = pred_all[:, hz - 1], truth[:, hz - 1]
        record = {"nmse": float(np.mean(((p - tr) * inv_std) ** 2))}
        record.update(_metrics_at(p, tr, window[:, h - 1 + hz][:, layout.controls], info, layout))
        result["horizons"][hz] = record
    return result


def session_step(session) -> Any:
    """``run_step`` for :func:`iter_evaluate` from a :class:`~fieldcast.engine.runtime.ModelSession`."""
    return lambda x: session.run(x)[OUTPUT]
