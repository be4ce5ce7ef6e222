"""What export checks: model inputs from the data, torch-vs-ONNX Runtime parity, INT8 quantisation.

Relative error is measured per output channel against that channel's scale and the worst channel reported:
``max_c max|ort_c - torch_c| / max(max|torch_c|, std_c)``, where ``std_c`` is the channel's train-split
standard deviation. A channel that is nearly zero everywhere (still air) is thus not judged on round-off
relative to nothing, and one with large values is not excused by another channel's scale. Outputs are
``(N, C, ...)``: the channel axis is the second, whatever follows (a grid, nothing for a sequence sample).

A variant that cannot exist for a model raises :class:`VariantNotApplicableError` with the reason, which
the export report and the printed table show instead of a file.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from fieldcast.engine.files import atomic_write
from fieldcast.training.rollout import ChannelLayout

__all__ = [
    "CalibrationReader",
    "VariantNotApplicableError",
    "dataset_inputs",
    "parity",
    "quantize_dynamic_model",
    "quantize_static_model",
    "static_int8_ops",
    "synthetic_inputs",
    "torch_outputs",
]


class VariantNotApplicableError(Exception):
    """A variant that cannot exist for this model; ``str()`` is the reason, in one line."""


def dataset_inputs(
    dataset: Any,
    layout: ChannelLayout,
    split: str,
    n: int,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> np.ndarray | None:
    """``n`` model inputs (n, C_in, nx, ny) in physical units from ``split``; None if it has no window.

    ``names`` are the channels ``layout`` indexes (the training data's order); the dataset's channels are
    then picked by name, so a file with its channels in another order (or without channels the model does
    not read) gives the same inputs.
    """
    windows = dataset.windows(split, layout.history)
    if not windows:
        return None
    state, ctrl = list(layout.state), list(layout.controls)
    if names is not None:
        own = list(dataset.channel_names)
        state = [own.index(names[i]) for i in state]
        ctrl = [own.index(names[i]) for i in ctrl]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(windows), size=min(n, len(windows)), replace=False)
    out = []
    for i in sorted(picks):
        traj, start = windows[i]
        w = dataset.read_window(traj, start, layout.history)  # (h, C, nx, ny), oldest first
        parts = [w[-1, state]]
        for lag in range(2, layout.history + 1):
            parts.append(w[-lag, state][list(layout.history_state)])
        parts.append(w[-1, ctrl])
        out.append(np.concatenate(parts, axis=0))
    return np.stack(out).astype(np.float32)


def synthetic_inputs(norm: dict, grid: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Random inputs with each channel's training mean and spread, for runs whose data is gone.

    ``grid`` is ``(nx, ny)`` for field models, ``()`` for per-sample models: (n, C_in, *grid).
    """
    rng = np.random.default_rng(seed)
    extra = (1,) * len(grid)
    mean = np.asarray(norm["in_mean"], np.float32).reshape(1, -1, *extra)
    std = np.asarray(norm["in_std"], np.float32).reshape(1, -1, *extra)
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
    axes = tuple(a for a in range(ref.ndim) if a != 1)
    per_abs = diff.max(axis=axes)
    per_ref = np.maximum(np.abs(ref).max(axis=axes), np.asarray(scale, np.float64))
    return {"max_abs": float(diff.max()), "max_rel": float((per_abs / per_ref).max())}


def _calibration_base():
    from onnxruntime.quantization import CalibrationDataReader

    return CalibrationDataReader


class CalibrationReader(_calibration_base()):
    """Feeds training-data inputs, one sample at a time, to ONNX Runtime's static INT8 calibration.

    ``inputs`` is an array of ``fields`` samples (fed one at a time as ``input_name``) or a list of complete
    feed dictionaries (a recurrent model's fields with the recurrent tensors of that step).
    """

    def __init__(self, inputs: np.ndarray | Sequence[Mapping[str, np.ndarray]], input_name: str = "fields"):
        if isinstance(inputs, np.ndarray):
            self.feeds = [{input_name: inputs[i : i + 1]} for i in range(len(inputs))]
        else:
            self.feeds = [dict(f) for f in inputs]
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = iter(self.feeds)
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


@contextmanager
def _quiet_quantizer():
    """The quantizer logs advice (pre-processing, biases it leaves in float) on the root logger; the report
    carries what matters, the INT8 parity and error."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_static_model(
    fp32: onnx.ModelProto, calib: np.ndarray | Sequence[Mapping[str, np.ndarray]], folder: Path
) -> onnx.ModelProto:
    """Static INT8 (QDQ, per-channel weights) calibrated on ``calib`` (see :class:`CalibrationReader`)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with _quiet_quantizer(), tempfile.TemporaryDirectory(dir=folder, prefix=".int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        atomic_write(src, fp32.SerializeToString())
        quantize_static(
            str(src),
            str(dst),
            CalibrationReader(calib),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibration_providers=["CPUExecutionProvider"],
        )
        return onnx.load(str(dst))


def quantize_dynamic_model(fp32: onnx.ModelProto, folder: Path, op_types: Sequence[str]) -> onnx.ModelProto:
    """Dynamic INT8: weights of ``op_types`` stored as int8, activations quantised at run time per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_quantizer(), tempfile.TemporaryDirectory(dir=folder, prefix=".int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        atomic_write(src, fp32.SerializeToString())
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=list(op_types))
        return onnx.load(str(dst))


def static_int8_ops() -> frozenset[str]:
    """The operators ONNX Runtime's static (QDQ) quantizer can quantise in this installation."""
    from onnxruntime.quantization.registry import QDQRegistry

    return frozenset(QDQRegistry)
