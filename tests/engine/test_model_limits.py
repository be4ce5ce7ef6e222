"""Models whose metadata lies are refused on load; ONNX Runtime's own errors name the model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from fieldcast.engine.runtime import ModelError, ModelSession, load_checked
from fieldcast.resources import resource_path

SMOKE = resource_path("models") / "smoke_default.onnx"


def _edited(tmp_path, name, edit):
    model = onnx.load(str(SMOKE))
    props = {p.key: p.value for p in model.metadata_props}
    edit(model, props)
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("fieldcast.history", "1000000000", "history must be 1 to 64"),
        ("fieldcast.history", "0", "history must be 1 to 64"),
        ("fieldcast.layout", "[" * 100_000 + "]" * 100_000, "nested 100000 levels"),
        ("fieldcast.dt", "-1", "not a positive time step"),
        ("fieldcast.grid", "[0, 1000000000]", "is not a grid size"),
    ],
    ids=["history-1e9", "history-0", "nested", "dt", "grid"],
)
def test_lying_metadata_is_refused_on_load(tmp_path, key, value, words):
    path = _edited(tmp_path, "lies.onnx", lambda m, p: p.update({key: value}))
    with pytest.raises(ModelError) as info:
        load_checked(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)


def test_an_output_that_differs_from_the_metadata_fails_naming_the_model(tmp_path):
    def keep_two_channels(model, props):
        out = model.graph.output[0]
        for node in model.graph.node:
            node.output[:] = ["raw" if o == out.name else o for o in node.output]
        model.graph.initializer.extend(
            helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("s", 0), ("e", 2), ("a", 1))
        )
        model.graph.node.append(helper.make_node("Slice", ["raw", "s", "e", "a"], [out.name]))
        dim = out.type.tensor_type.shape.dim[1]
        dim.Clear()
        dim.dim_param = "c"

    path = _edited(tmp_path, "two.onnx", keep_two_channels)
    session = ModelSession(path, threads=1)
    n_in = len(session.info.input_channels)
    with pytest.raises(ModelError) as info:
        session.run(np.zeros((1, n_in, 16, 16), np.float32))
    text = str(info.value)
    assert text.startswith(f"{path}: ONNX Runtime failed to run it") and "\n" not in text


def test_external_weights_claiming_more_than_their_file_holds_are_refused(tmp_path):
    model = onnx.load(str(SMOKE))
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    blob = tensor.raw_data
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(1 << 40))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "weights.bin").write_bytes(blob)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="claims bytes 0..1099511627776"):
        load_checked(path)


def test_the_shipped_models_still_load():
    for path in sorted(resource_path("models").glob("*_default.onnx")) + [
        resource_path("models") / "melt_temperature.onnx"
    ]:
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if props.get("fieldcast.format", "").startswith("fieldcast-onnx/"):
            _, info = load_checked(path)
            assert 1 <= info.history <= 64, json.dumps(props.get("fieldcast.history"))
