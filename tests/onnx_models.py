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
    bias = np.array([0.0, 0.5, 0.0], np.float32)
    nodes = [helper.make_node("Conv", [INPUT, "W", "B"], [OUTPUT])]
    inits = [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")]
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 6, "nx", "ny"])]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 3, "nx", "ny"])]
    for r in info.recurrent:
        nodes.append(helper.make_node("Add", [r.input, "one"], [r.output]))
        inits.append(numpy_helper.from_array(np.ones((1,), np.float32), "one"))
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
