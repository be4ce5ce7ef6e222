"""Tiny ONNX models for the Play tests: a Fieldcast smoke model and a foreign one (both via onnx.helper)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from onnx_models import SMOKE_INPUTS, smoke_info

from fieldcast.engine.model_format import build_metadata


def write_tiny_smoke_model(path: Path, seed: int = 0, frames_per_step: int = 1) -> Path:
    """A valid Fieldcast smoke model built with onnx.helper: next state = state + small 3×3 convolution.

    It is not trained; it only has the exported signature and metadata, so the panel and the benchmark
    can be exercised before the shipped default model exists. ``frames_per_step`` sets its time step in
    frames (a model that advances several solver frames per call).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((3, len(SMOKE_INPUTS), 3, 3)) * 0.002).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["fields", "w"], ["delta"], pads=[1, 1, 1, 1]),
        helper.make_node("Slice", ["fields", "starts", "ends", "axes"], ["state"]),
        helper.make_node("Add", ["state", "delta"], ["next_fields"]),
    ]
    inits = [
        numpy_helper.from_array(weight, "w"),
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([3], np.int64), "ends"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
    ]
    x = helper.make_tensor_value_info("fields", TensorProto.FLOAT, ["batch", len(SMOKE_INPUTS), "nx", "ny"])
    y = helper.make_tensor_value_info("next_fields", TensorProto.FLOAT, ["batch", 3, "nx", "ny"])
    graph = helper.make_graph(nodes, "tiny_smoke", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    # The engine tests' smoke signature, at the Play panel's grid and without a size constraint.
    info = dataclasses.replace(smoke_info(), grid=(64, 64), grid_multiple=1, dt=float(frames_per_step))
    for key, value in build_metadata(info).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_foreign_model(path: Path) -> Path:
    """A valid ONNX file with no Fieldcast metadata (what someone else's model looks like)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "foreign", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path
