"""Streaming ONNX export of a sequence LSTM: one sample per call, recurrent state as explicit tensors.

Signature (float32, batch ``B``, usually 1)::

    inputs  (B, C_in)   per-sample inputs in physical units (for the printer: mm, mm/s)  → errors (B, C_out)
    h_in    (layers, B, hidden)                                                              → h_out
    c_in    (layers, B, hidden)                                                              → c_out

Normalisation is inside the graph, and the state starts at zero. A model trained behind an engine feature
pipeline (``fieldcast.features``, e.g. ``trajectory-physics/1``) reads that pipeline's features, which have
the raw channels' width, and outputs the residual of its base; the engine's sequence session runs the pipeline
around the graph, so callers still feed the raw channels listed in ``input_channels``. ``metadata_props``
carry, under the ``fieldcast.`` prefix, everything ``fieldcast eval``, ``fieldcast bench`` and Play need
without the run: the system and its spec (``fieldcast.spec``, so a system this installation does not know
still names its fields), channel names and units, time step, variant, the recurrent state's shape, the model
record, normalisation, provenance and metrics. The format is ``fieldcast-sequence-onnx/1`` because the
field-model format's layout (a next-state model whose state is among its inputs) does not describe a sequence
regressor.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from fieldcast.training.models.lstm import LSTMNet

__all__ = [
    "FORMAT",
    "StreamingLSTM",
    "export_streaming_onnx",
    "sequence_metadata",
    "set_sequence_metadata",
    "streaming_model",
]

FORMAT = "fieldcast-sequence-onnx/1"
OPSET = 17
_TRAJECTORY_INPUTS = (("x_ref", "mm"), ("y_ref", "mm"), ("vx_ref", "mm/s"), ("vy_ref", "mm/s"))
_TRAJECTORY_OUTPUTS = (("error_x", "um"), ("error_y", "um"))


class StreamingLSTM(nn.Module):
    """``LSTMNet.step`` with the normalisation baked in: physical units in and out."""

    def __init__(self, net: LSTMNet, norm: dict[str, list[float]]) -> None:
        super().__init__()
        self.net = net
        for key in ("in_mean", "in_std", "out_mean", "out_std"):
            self.register_buffer(key, torch.tensor(norm[key], dtype=torch.float32)[None])

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        y, (h2, c2) = self.net.step((x - self.in_mean) / self.in_std, (h, c))  # (B, out)
        return y * self.out_std + self.out_mean, h2, c2


def _trace(module: StreamingLSTM) -> onnx.ModelProto:
    """Trace ``module`` (eval, CPU) into the streaming signature."""
    cfg = module.net.config
    state = torch.zeros(cfg.num_layers, 1, cfg.hidden_size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter needs no extra packages; its deprecation notice is expected here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, cfg.input_size), state, state.clone()),
            buf,
            dynamo=False,
            input_names=["inputs", "h_in", "c_in"],
            output_names=["errors", "h_out", "c_out"],
            dynamic_axes={
                "inputs": {0: "batch"},
                "errors": {0: "batch"},
                "h_in": {1: "batch"},
                "c_in": {1: "batch"},
                "h_out": {1: "batch"},
                "c_out": {1: "batch"},
            },  # fmt: skip
            opset_version=OPSET,
        )
    return onnx.load_from_string(buf.getvalue())


def sequence_metadata(
    net: LSTMNet,
    norm: dict[str, Any],
    *,
    system: str = "trajectory",
    inputs: Sequence[tuple[str, str]] = _TRAJECTORY_INPUTS,
    outputs: Sequence[tuple[str, str]] = _TRAJECTORY_OUTPUTS,
    dt: float = 0.01,
    time_units: str = "s",
    spec: dict[str, Any] | None = None,
    variant: str = "fp32",
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``fieldcast.*`` metadata values (before JSON encoding) of a streaming model of ``net``."""
    cfg = net.config
    meta = {
        "format": FORMAT,
        "system": system,
        "kind": "sequence",
        "task": "sequence",
        "variant": variant,
        "input_channels": [n for n, _ in inputs],
        "input_units": [u for _, u in inputs],
        "output_channels": [n for n, _ in outputs],
        "output_units": [u for _, u in outputs],
        "dt": dt,
        "time_units": time_units,
        "recurrent": [
            {"input": "h_in", "output": "h_out", "shape": ["layers", "batch", "hidden"]},
            {"input": "c_in", "output": "c_out", "shape": ["layers", "batch", "hidden"]},
        ],  # fmt: skip
        "state_shape": [cfg.num_layers, cfg.hidden_size],
        "model": {"name": "lstm", "args": getattr(net, "model_args", vars(cfg)), "version": "1"},
        "normalisation": norm,
        "provenance": {"exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(provenance or {})},
        "metrics": metrics or {},
    }
    features = getattr(net, "model_args", {}).get("features") or ""
    if features:
        # The graph reads the features of this engine-side pipeline (same width as the raw channels) and
        # predicts the residual of its base; the engine's sequence session runs the pipeline around it.
        meta["features"] = features
    if spec is not None:
        meta["spec"] = spec
    return meta


def set_sequence_metadata(model: onnx.ModelProto, meta: dict[str, Any]) -> onnx.ModelProto:
    """Replace ``model``'s Fieldcast metadata with ``meta`` (:func:`sequence_metadata`)."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("fieldcast.")]
    del model.metadata_props[:]
    encoded = {
        "fieldcast." + k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in meta.items()
    }
    for key, value in [*keep, *encoded.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "fieldcast"
    model.doc_string = (
        f"Fieldcast {meta['system']} streaming LSTM ({meta.get('variant', 'fp32')}); one sample per call, "
        "physical units"
    )
    return model


def streaming_model(net: LSTMNet, norm: dict[str, Any], **meta: Any) -> onnx.ModelProto:
    """The checked streaming ONNX model of ``net`` with metadata (``meta``: see :func:`sequence_metadata`)."""
    net = net.eval().to("cpu")
    model = _trace(StreamingLSTM(net, norm).eval())
    set_sequence_metadata(model, sequence_metadata(net, norm, **meta))
    onnx.checker.check_model(model)
    return model


def export_streaming_onnx(net: LSTMNet, norm: dict[str, Any], path: str | Path, **meta: Any) -> Path:
    """Write the streaming ONNX model of ``net`` to ``path`` (atomically) and return ``path``."""
    from fieldcast.training.checkpoint import atomic_write

    path = Path(path)
    atomic_write(path, streaming_model(net, norm, **meta).SerializeToString())
    return path
