"""Streaming ONNX export of a sequence LSTM: one sample per call, recurrent state as explicit tensors.

Signature (float32, batch ``B``, usually 1)::

    inputs  (B, 4)  reference motion in physical units (mm, mm/s)   → errors (B, 2) in µm
    h_in    (layers, B, hidden)                                       → h_out
    c_in    (layers, B, hidden)                                       → c_out

Normalisation is inside the graph, and the state starts at zero. ``metadata_props`` carry the system,
channel names and units, time step, model record, normalisation provenance and metrics under the
``fieldcast.`` prefix; the format is ``fieldcast-sequence-onnx/1`` because the field-model format's layout
(a next-state model whose state is among its inputs) does not describe a sequence regressor.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fieldcast.training.models.lstm import LSTMNet

__all__ = ["FORMAT", "StreamingLSTM", "export_streaming_onnx"]

FORMAT = "fieldcast-sequence-onnx/1"


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


def export_streaming_onnx(
    net: LSTMNet,
    norm: dict[str, list[float]],
    path: str | Path,
    *,
    system: str = "trajectory",
    inputs: tuple[tuple[str, str], ...] = (
        ("x_ref", "mm"),
        ("y_ref", "mm"),
        ("vx_ref", "mm/s"),
        ("vy_ref", "mm/s"),
    ),
    outputs: tuple[tuple[str, str], ...] = (("error_x", "um"), ("error_y", "um")),
    dt: float = 0.01,
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write the streaming ONNX model of ``net`` (eval mode, CPU) to ``path`` and check it loads."""
    import onnx

    net = net.eval().to("cpu")
    module = StreamingLSTM(net, norm).eval()
    cfg = net.config
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
            opset_version=17,
        )
    model = onnx.load_from_string(buf.getvalue())
    meta = {
        "format": FORMAT,
        "system": system,
        "kind": "sequence",
        "input_channels": [n for n, _ in inputs],
        "input_units": [u for _, u in inputs],
        "output_channels": [n for n, _ in outputs],
        "output_units": [u for _, u in outputs],
        "dt": dt,
        "time_units": "s",
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
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = "fieldcast." + key, value if isinstance(value, str) else json.dumps(value)
    model.producer_name = "fieldcast"
    model.doc_string = f"Fieldcast {system} streaming LSTM; one sample per call, physical units"
    onnx.checker.check_model(model)
    path = Path(path)
    path.write_bytes(model.SerializeToString())
    return path
