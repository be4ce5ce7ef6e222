"""Tiny Fieldcast-format ONNX models built with onnx.helper (no torch), for runtime and rollout tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fieldcast.engine.model_format import INPUT, OUTPUT, ModelInfo, RecurrentState, build_metadata

SMOKE_INPUTS = ("density", "velocity_x", "velocity_y", "density@t-1", "emitter", "collider")
SMOKE_STATE = ("density", "velocity_x", "velocity_y")


def smoke_info(recurrent: bool = False) -> ModelInfo:
    return ModelInfo(
        system="smoke",
        input_channels=SMOKE_INPUTS,
        output_channels=SMOKE_STATE,
        history=2,
        layout={
            "state": list(SMOKE_STATE),
            "history_state": ["density"],
            "controls": ["emitter", "collider"],
            "vectors": [["velocity_x", "velocity_y"]],
            "solid": "collider",
            "nonnegative": ["density"],
        },
        input_units=("1", "cells/frame", "cells/frame", "1", "1", "1"),
        output_units=("1", "cells/frame", "cells/frame"),
        grid=(16, 16),
        grid_multiple=4,
        provenance={"run": "test"},
        recurrent=(RecurrentState("recurrent_in_0", "recurrent_out_0", 2, 2),) if recurrent else (),
    )


def make_model(path: Path, info: ModelInfo | None = None, weight: np.ndarray | None = None) -> Path:
    """next = W · fields (a 1×1 convolution, 6 -> 3 channels); default W copies the state and adds 0.5 to
    velocity_x so that a collider's effect is visible. Recurrent models also output state_in + 1."""
    info = info or smoke_info()
    if weight is None:
        weight = np.zeros((3, 6, 1, 1), np.float32)
        for i in range(3):
            weight[i, i] = 1.0
    return make_conv_model(path, info, weight, np.array([0.0, 0.5, 0.0], np.float32))


def make_conv_model(path: Path, info: ModelInfo, weight: np.ndarray, bias: np.ndarray) -> Path:
    """A Fieldcast-format model computing next = weight · fields + bias (weight (C_out, C_in, 1, 1));
    each recurrent output is its input + 1."""
    c_out, c_in = weight.shape[:2]
    nodes = [helper.make_node("Conv", [INPUT, "W", "B"], [OUTPUT])]
    inits = [
        numpy_helper.from_array(weight.astype(np.float32), "W"),
        numpy_helper.from_array(bias.astype(np.float32), "B"),
    ]
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", c_in, "nx", "ny"])]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", c_out, "nx", "ny"])]
    if info.recurrent:
        inits.append(numpy_helper.from_array(np.ones((1,), np.float32), "one"))
    for r in info.recurrent:
        nodes.append(helper.make_node("Add", [r.input, "one"], [r.output]))
        dims = ["batch", r.channels, "hx", "hy"]
        inputs.append(helper.make_tensor_value_info(r.input, TensorProto.FLOAT, dims))
        outputs.append(helper.make_tensor_value_info(r.output, TensorProto.FLOAT, dims))
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in build_metadata(info).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


# Melt ------------------------------------------------------------------------------------------------------
IPF = tuple(f"ipf_{axis}_{c}" for axis in "xyz" for c in "rgb")


def write_melt_temperature_model(path: Path, heating: float = 2e-8) -> Path:
    """A melt temperature model: next T = 0.9 T + 0.1 · 300 K + ``heating`` · laser flux (W/m²)."""
    info = ModelInfo(
        system="melt",
        input_channels=("temperature", "temperature@t-1", "laser"),
        output_channels=("temperature",),
        history=2,
        layout={
            "state": ["temperature"],
            "history_state": ["temperature"],
            "controls": ["laser"],
            "vectors": [],
            "solid": None,
            "nonnegative": [],
        },
        input_units=("K", "K", "W/m^2"),
        output_units=("K",),
        grid=(96, 48),
        grid_multiple=8,
        dt=2e-5,
        time_units="s",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    weight = np.array([0.9, 0.0, heating], np.float32).reshape(1, 3, 1, 1)
    return make_conv_model(path, info, weight, np.array([30.0], np.float32))


def write_melt_microstructure_model(path: Path) -> Path:
    """A melt microstructure model in the ConvLSTM's signature that keeps ipf(t) (persistence)."""
    info = ModelInfo(
        system="melt",
        input_channels=(*IPF, "temperature", "temperature@t+1"),
        output_channels=IPF,
        history=1,
        layout={
            "state": list(IPF),
            "history_state": [],
            "controls": ["temperature", "temperature@t+1"],
            "vectors": [],
            "solid": None,
            "nonnegative": list(IPF),
        },
        input_units=("1",) * 9 + ("K", "K"),
        output_units=("1",) * 9,
        grid=(96, 48),
        grid_multiple=8,
        dt=2e-5,
        time_units="s",
        recurrent=(
            RecurrentState("recurrent_in_0", "recurrent_out_0", 2, 8),
            RecurrentState("recurrent_in_1", "recurrent_out_1", 2, 8),
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    weight = np.zeros((9, 11, 1, 1), np.float32)
    for i in range(9):
        weight[i, i] = 1.0
    return make_conv_model(path, info, weight, np.zeros(9, np.float32))
