"""SequenceSession: validated streaming sessions for exported sequence models."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from sequence_model_files import NORM, write_tiny_lstm_model

from fieldcast.engine.jobs import Cancelled, CancelToken
from fieldcast.engine.runtime import ModelError
from fieldcast.engine.sequence_runtime import SequenceSession, is_sequence_model


@pytest.fixture(scope="module")
def lstm_path(tmp_path_factory):
    return write_tiny_lstm_model(tmp_path_factory.mktemp("lstm") / "traj.onnx", hidden=8, layers=2)


def _inputs(n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.normal([100, 100, 0, 0], [30, 30, 60, 60], size=(n, 4))


def test_predict_streams_like_the_torch_model(lstm_path):
    import torch

    from fieldcast.training.models.lstm import LSTMConfig, LSTMNet

    session = SequenceSession(lstm_path)
    info = session.info
    assert info.system == "trajectory" and info.output_channels == ("error_x", "error_y")
    assert (info.layers, info.hidden) == (2, 8) and info.dt == pytest.approx(0.01)
    assert session.providers[-1] == "CPUExecutionProvider"
    x = _inputs()
    errors = session.predict(x)
    assert errors.shape == (40, 2) and errors.dtype == np.float64
    torch.manual_seed(0)
    net = LSTMNet(LSTMConfig(encoder_size=8, hidden_size=8, num_layers=2, dropout=0.0)).eval()
    with torch.no_grad():
        xn = (torch.tensor(x, dtype=torch.float32) - torch.tensor(NORM["in_mean"])) / torch.tensor(
            NORM["in_std"]
        )
        ref = net(xn[None])[0] * torch.tensor(NORM["out_std"]) + torch.tensor(NORM["out_mean"])
    np.testing.assert_allclose(errors, ref.numpy(), rtol=1e-4, atol=1e-4)
    # The state is explicit: a second run from zero gives the same answer, and steps continue a sequence.
    np.testing.assert_allclose(session.predict(x), errors)
    y0, state = session.step(x[0], session.initial_state())
    y1, _ = session.step(x[1], state)
    np.testing.assert_allclose(np.stack([y0, y1]), errors[:2], rtol=1e-5, atol=1e-5)


def test_per_sample_timing_and_cancel(lstm_path):
    session = SequenceSession(lstm_path)
    session.predict(_inputs(300))
    timing = session.timing()
    assert session.last_step_ms.shape == (300,) and 0 < timing["p50"] <= timing["p99"] <= timing["max"]
    assert timing["p50"] < 50.0  # a tiny LSTM step is far below this on any machine
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        session.predict(_inputs(10), cancel=token)
    with pytest.raises(ValueError, match=r"expected inputs \(T, 4\)"):
        session.predict(np.zeros((5, 3)))


def _rewrite(src, dst, edit) -> None:
    model = onnx.load(str(src))
    edit(model)
    onnx.save(model, str(dst))


def _set_prop(key: str, value: str):
    def edit(model) -> None:
        for p in model.metadata_props:
            if p.key == key:
                p.value = value

    return edit


def _drop_prop(key: str):
    def edit(model) -> None:
        keep = [(p.key, p.value) for p in model.metadata_props if p.key != key]
        del model.metadata_props[:]
        for k, v in keep:
            model.metadata_props.add(key=k, value=v)

    return edit


def _rename_input(model) -> None:
    model.graph.input[0].name = "x"
    for node in model.graph.node:
        node.input[:] = ["x" if n == "inputs" else n for n in node.input]


@pytest.mark.parametrize(
    "edit, problem",
    [
        (_set_prop("fieldcast.format", "fieldcast-sequence-onnx/9"), "newer than this Fieldcast"),
        (_set_prop("fieldcast.format", "fieldcast-onnx/1"), "a field model, not a sequence model"),
        (_drop_prop("fieldcast.state_shape"), "metadata fieldcast.state_shape missing"),
        (_set_prop("fieldcast.state_shape", "[3, 8]"), "'h_in' must be a float32 (3, ?, 8) tensor"),
        (_set_prop("fieldcast.input_channels", '["a", "b"]'), "'inputs' must be a float32 (?, 2) tensor"),
        (_set_prop("fieldcast.output_channels", "[oops"), "not valid JSON"),
        (_rename_input, "do not match the sequence signature"),
    ],
)
def test_bad_models_are_one_line_model_errors(lstm_path, tmp_path, edit, problem):
    bad = tmp_path / "bad.onnx"
    _rewrite(lstm_path, bad, edit)
    with pytest.raises(ModelError) as info:
        SequenceSession(bad)
    assert str(info.value).startswith(f"{bad}: ") and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_damaged_missing_and_escaping_files(lstm_path, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX file|not an ONNX model"):
        SequenceSession(junk)
    with pytest.raises(ModelError, match="file not found"):
        SequenceSession(tmp_path / "nope.onnx")
    model = onnx.load(str(lstm_path))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="weights.bin",
              size_threshold=0)  # fmt: skip
    assert SequenceSession(tmp_path / "ext.onnx").predict(_inputs(3)).shape == (3, 2)
    escaping = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for tensor in escaping.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../weights.bin"
    onnx.save(escaping, str(tmp_path / "escape.onnx"))
    with pytest.raises(ModelError, match="outside the model's folder"):
        SequenceSession(tmp_path / "escape.onnx")


def test_is_sequence_model_tells_formats_apart(lstm_path, tmp_path):
    assert is_sequence_model(lstm_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"nope")
    assert not is_sequence_model(junk) and not is_sequence_model(tmp_path / "missing.onnx")
