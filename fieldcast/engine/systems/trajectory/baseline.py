"""The trajectory system's physics baseline: the best linear filter of the reference motion, and the error
metrics every trajectory report uses.

A learned tracking-error model is judged against two baselines measured on the same trajectories:

* ``zero``: predict no error at all (what a printer without compensation assumes);
* ``linear``: the best linear second-order filter of the reference motion, fitted by least squares on the
  training trajectories. Per axis, ``e_k = a1·e_{k−1} + a2·e_{k−2} + b0·v_k + b1·v_{k−1} + b2·v_{k−2} + d``
  (the sampled form of ``m·ë + c·ė + k·e = −m·a``, an ARX(2, 3) model) is fitted in equation-error form and
  run recursively on its own predictions; a finite-impulse-response filter of the velocity over 0.3 s is
  fitted too and the better of the two on the training data is the baseline. A learned model that does not
  beat it has learned nothing the linear physics did not already give.

Errors are in micrometres: MAE, RMSE, R² overall and per axis, percentiles 50/90/95/99 of the absolute error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BASELINE_NAME", "LinearBaseline", "error_metrics", "fit_baseline"]

BASELINE_NAME = "linear filter"
_AXES = ("x", "y")
_FIR_TAPS = 30
# The channels the filter reads and predicts: reference velocities in, tracking errors out.
_VELOCITIES = ("vx_ref", "vy_ref")
_ERRORS = ("error_x", "error_y")


def error_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² (overall, per axis) and absolute-error percentiles of ``pred`` vs ``truth`` (N, 2) µm."""
    pred = np.asarray(pred, np.float64).reshape(-1, 2)
    truth = np.asarray(truth, np.float64).reshape(-1, 2)
    res = pred - truth
    out: dict[str, float] = {}

    def r2(r: np.ndarray, t: np.ndarray) -> float:
        ss = float(np.sum((t - t.mean(axis=0)) ** 2))
        return 1.0 - float(np.sum(r**2)) / ss if ss > 0 else float("nan")

    out["mae_um"] = float(np.mean(np.abs(res)))
    out["rmse_um"] = float(np.sqrt(np.mean(res**2)))
    out["r2"] = r2(res, truth)
    for i, axis in enumerate(_AXES):
        out[f"mae_{axis}_um"] = float(np.mean(np.abs(res[:, i])))
        out[f"rmse_{axis}_um"] = float(np.sqrt(np.mean(res[:, i] ** 2)))
        out[f"r2_{axis}"] = r2(res[:, i], truth[:, i])
    for q in (50, 90, 95, 99):
        out[f"p{q}_um"] = float(np.percentile(np.abs(res), q))
    return out


def _lags(a: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Columns ``a[k − lag]`` (zero before the start) for each lag, shape (T, len(lags))."""
    cols = np.zeros((a.size, len(lags)))
    for j, lag in enumerate(lags):
        cols[lag:, j] = a[: a.size - lag]
    return cols


@dataclass
class LinearBaseline:
    """Per-axis linear filter of the reference velocity; see the module docstring.

    ``kind`` is ``"arx2"`` or ``"fir"``; ``coef[axis]`` the fitted coefficients.
    """

    kind: str = "arx2"
    coef: tuple[np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _fir_design(v: np.ndarray) -> np.ndarray:
        dv = np.diff(v, prepend=v[:1])
        return np.hstack([_lags(dv, range(_FIR_TAPS)), v[:, None], np.ones((v.size, 1))])

    @staticmethod
    def _arx_design(v: np.ndarray, e: np.ndarray) -> np.ndarray:
        return np.hstack([_lags(e, (1, 2)), _lags(v, (0, 1, 2)), np.ones((v.size, 1))])

    def _simulate(self, v: np.ndarray, coef: np.ndarray, kind: str) -> np.ndarray:
        if kind == "fir":
            return self._fir_design(v) @ coef
        a1, a2, b0, b1, b2, d = coef.tolist()
        vl = v.tolist()
        e = np.zeros(v.size)
        e1 = e2 = v1 = v2 = 0.0
        for k, vk in enumerate(vl):
            ek = a1 * e1 + a2 * e2 + b0 * vk + b1 * v1 + b2 * v2 + d
            e[k] = ek
            e1, e2, v1, v2 = ek, e1, vk, v1
        return e

    @classmethod
    def fit(cls, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> LinearBaseline:
        """Fit on training trajectories: ``inputs`` (T, 4), velocities in columns 2, 3; ``targets`` (T, 2)."""
        best: dict[str, list[np.ndarray]] = {"arx2": [], "fir": []}
        scores = {"arx2": 0.0, "fir": 0.0}
        for i in range(2):
            vs = [np.asarray(x, np.float64)[:, 2 + i] for x in inputs]
            es = [np.asarray(y, np.float64)[:, i] for y in targets]
            for kind in ("arx2", "fir"):
                design = [
                    cls._arx_design(v, e) if kind == "arx2" else cls._fir_design(v)
                    for v, e in zip(vs, es, strict=True)
                ]
                coef = np.linalg.lstsq(np.vstack(design), np.concatenate(es), rcond=None)[0]
                if kind == "arx2" and np.abs(np.roots([1.0, -coef[0], -coef[1]])).max() >= 1.0:
                    coef = np.zeros_like(coef)  # an unstable fit would diverge when run on its own output
                sim = [cls()._simulate(v, coef, kind) for v in vs]
                scores[kind] += float(sum(np.sum((s - e) ** 2) for s, e in zip(sim, es, strict=True)))
                best[kind].append(coef)
        kind = min(scores, key=scores.get)
        return cls(kind, (best[kind][0], best[kind][1]))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Errors (T, 2) µm for one trajectory of reference motion (T, 4)."""
        if self.coef is None:
            raise RuntimeError("LinearBaseline.fit first")
        x = np.asarray(inputs, np.float64)
        return np.stack([self._simulate(x[:, 2 + i], self.coef[i], self.kind) for i in range(2)], axis=1)


PROFILE_BASELINE_NAME = "printer physics filter (profile known)"


def fit_baseline(
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    input_names: Sequence[str],
    target_names: Sequence[str],
    dt: float | None = None,
):
    """The system's best physics baseline as ``predict(inputs (T, Ci)) -> (T, Co)`` for a model with these
    channels, or None when they are not the reference motion and the tracking error (nothing to compare).

    A model that is given the printer profile is compared with the printer's own dynamics run from that
    profile (the physics filter of :mod:`.features`: shaper, belt axes, friction, backlash), the baseline
    with the same information; otherwise with the linear filter fitted on the training trajectories. The
    returned function's ``name`` says which.
    """
    names_in, names_out = list(input_names), list(target_names)
    if not set(_VELOCITIES) <= set(names_in) or names_out != list(_ERRORS) or not inputs:
        return None
    if dt is not None:
        from fieldcast.engine.systems.trajectory.features import PhysicsFeatures

        try:
            physics = PhysicsFeatures(names_in, dt)
        except ValueError:
            physics = None  # no profile among the inputs: the linear filter below
        if physics is not None:

            def predict_physics(x: np.ndarray) -> np.ndarray:
                return physics.transform(np.asarray(x, np.float64))[1]

            predict_physics.name = PROFILE_BASELINE_NAME
            return predict_physics
    # The filter reads (x_ref, y_ref, vx_ref, vy_ref); only the velocities matter, in columns 2 and 3.
    cols = [names_in.index(_VELOCITIES[0]), names_in.index(_VELOCITIES[1])]

    def arrange(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return np.concatenate([np.zeros((x.shape[0], 2)), x[:, cols]], axis=1)

    linear = LinearBaseline.fit([arrange(x) for x in inputs], targets)

    def predict_linear(x: np.ndarray) -> np.ndarray:
        return linear.predict(arrange(x))

    predict_linear.name = BASELINE_NAME
    return predict_linear
