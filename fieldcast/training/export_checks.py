"""What export checks: model inputs from the data, torch-vs-ONNX Runtime parity, INT8 calibration data.

Relative error is measured per output channel against that channel's scale and the worst channel reported:
``max_c max|ort_c - torch_c| / max(max|torch_c|, std_c)``, where ``std_c`` is the channel's train-split
standard deviation. A channel that is nearly zero everywhere (still air) is thus not judged on round-off
relative to nothing, and one with large values is not excused by another channel's scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from fieldcast.training.rollout import ChannelLayout

__all__ = ["CalibrationReader", "dataset_inputs", "parity", "synthetic_inputs", "torch_outputs"]


def dataset_inputs(
    dataset: Any, layout: ChannelLayout, split: str, n: int, seed: int = 0
) -> np.ndarray | None:
    """``n`` model inputs (n, C_in, nx, ny) in physical units from ``split``; None if it has no window."""
    windows = dataset.windows(split, layout.history)
    if not windows:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(windows), size=min(n, len(windows)), replace=False)
    out = []
    state, ctrl = list(layout.state), list(layout.controls)
    for i in sorted(picks):
        traj, start = windows[i]
        w = dataset.read_window(traj, start, layout.history)  # (h, C, nx, ny), oldest first
        parts = [w[-1, state]]
        for lag in range(2, layout.history + 1):
            parts.append(w[-lag, state][list(layout.history_state)])
        parts.append(w[-1, ctrl])
        out.append(np.concatenate(parts, axis=0))
    return np.stack(out).astype(np.float32)


def synthetic_inputs(norm: dict, grid: tuple[int, int], n: int, seed: int = 0) -> np.ndarray:
    """Random inputs with each channel's training mean and spread, for runs whose data is gone."""
    rng = np.random.default_rng(seed)
    mean = np.asarray(norm["in_mean"], np.float32)[None, :, None, None]
    std = np.asarray(norm["in_std"], np.float32)[None, :, None, None]
    noise = rng.standard_normal((n, mean.shape[1], *grid)).astype(np.float32)
    return mean + std * noise


@torch.no_grad()
def torch_outputs(module: torch.nn.Module, inputs: np.ndarray, batch: int = 4) -> np.ndarray:
    """The torch reference: ``module`` on ``inputs`` in small batches, float32 numpy."""
    outs = [module(torch.from_numpy(inputs[i : i + batch])).numpy() for i in range(0, len(inputs), batch)]
    return np.concatenate(outs)


def parity(reference: np.ndarray, candidate: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """Maximum absolute error and per-channel relative error (module docstring) of ``candidate``."""
    ref = reference.astype(np.float64)
    diff = np.abs(candidate.astype(np.float64) - ref)
    if not np.isfinite(diff).all():
        return {"max_abs": float("inf"), "max_rel": float("inf")}
    per_abs = diff.max(axis=(0, 2, 3))
    per_ref = np.maximum(np.abs(ref).max(axis=(0, 2, 3)), np.asarray(scale, np.float64))
    return {"max_abs": float(diff.max()), "max_rel": float((per_abs / per_ref).max())}


def _calibration_base():
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class CalibrationReader(_calibration_base()):
    """Feeds training-data inputs, one sample at a time, to ONNX Runtime's static INT8 calibration."""

    def __init__(self, inputs: np.ndarray, input_name: str = "fields") -> None:
        self.inputs = inputs
        self.input_name = input_name
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = ({self.input_name: self.inputs[i : i + 1]} for i in range(len(self.inputs)))
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None
