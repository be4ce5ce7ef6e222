import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_models import make_model, smoke_info

from fieldcast.engine.runtime import ModelError, ModelSession, find_variants, load_checked


def test_session_runs_reports_providers_and_reuses_buffers(tmp_path):
    s = ModelSession(make_model(tmp_path / "model.onnx"))
    assert s.providers[-1] == "CPUExecutionProvider" and s.threads >= 1
    assert s.info.system == "smoke" and s.info.variant == "fp32" and s.info.grid_multiple == 4
    assert s.info.input_units[1] == "cells/frame" and s.info.provenance["run"] == "test"
    x = np.random.default_rng(0).standard_normal((1, 6, 16, 16)).astype(np.float32)
    first = s.run(x)["next_fields"]
    np.testing.assert_allclose(first[0, 0], x[0, 0], rtol=1e-6)
    np.testing.assert_allclose(first[0, 1], x[0, 1] + 0.5, rtol=1e-6)
    second = s.run(x * 2)["next_fields"]
    assert second is first  # the same buffer, refilled
    assert s.run(np.zeros((2, 6, 8, 8), np.float32))["next_fields"].shape == (2, 3, 8, 8)


def test_find_variants(tmp_path):
    make_model(tmp_path / "model.onnx")
    make_model(tmp_path / "model.int8.onnx")
    assert find_variants(tmp_path / "model.onnx") == {
        "fp32": tmp_path / "model.onnx",
        "int8": tmp_path / "model.int8.onnx",
    }
    assert set(find_variants(tmp_path)) == {"fp32", "int8"}


def _foreign(path, inputs=("x",)):
    nodes = [helper.make_node("Relu", [inputs[0]], ["y"])]
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 4, 4]) for n in inputs]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])]
    model = helper.make_model(
        helper.make_graph(nodes, "foreign", ins, out), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_foreign_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError) as err:
        ModelSession(_foreign(tmp_path / "other.onnx"))
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "other.onnx") + ": ") and "not a Fieldcast model" in msg
    assert "\n" not in msg


def test_wrong_signature_is_a_clear_error(tmp_path):
    path = _foreign(tmp_path / "wrong.onnx")
    model = onnx.load(str(path))
    from fieldcast.engine.model_format import build_metadata

    for k, v in build_metadata(smoke_info()).items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="do not match the Fieldcast signature"):
        load_checked(path)


@pytest.mark.parametrize("damage", ["truncated", "text", "empty", "missing"])
def test_damaged_files_are_clear_errors(tmp_path, damage):
    path = make_model(tmp_path / "model.onnx")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "text":
        path.write_text("hello, I am not a model\n" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(ModelError) as err:
        ModelSession(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def _with_external(tmp_path, location):
    (tmp_path / "m").mkdir()
    path = make_model(tmp_path / "m" / "model.onnx")
    model = onnx.load(str(path))
    w = model.graph.initializer[0]
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    w.ClearField("float_data")
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "link.bin"])
def test_external_data_must_stay_in_the_folder(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(np.zeros(18, np.float32).tobytes())
    path = _with_external(tmp_path, location)
    if location == "link.bin":
        os.symlink(tmp_path / "secret.bin", path.parent / "link.bin")
    with pytest.raises(ModelError, match="outside the model's folder"):
        ModelSession(path)


def test_cpu_fallback_with_the_gpu_wheel_is_clean(tmp_path):
    """In a fresh process (ORT logs to the process's stderr), ask for CUDA first on a machine without it."""
    path = make_model(tmp_path / "model.onnx")
    code = (
        "import sys, numpy as np\n"
        "from fieldcast.engine.runtime import ModelSession\n"
        f"s = ModelSession({str(path)!r}, providers=['CUDAExecutionProvider', 'CPUExecutionProvider'])\n"
        "s.run(np.zeros((1, 6, 8, 8), np.float32))\n"
        "print(','.join(s.providers))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from fieldcast.engine.devices import usable_providers

    if "CUDAExecutionProvider" in usable_providers():
        pytest.skip("this machine has a CUDA device")
    assert proc.stdout.strip() == "CPUExecutionProvider"
    assert "CUDA" not in proc.stderr and "error" not in proc.stderr.lower(), proc.stderr
