"""LSTM family: shapes, registry round trip, step equals the sequence pass, streaming ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.training.models import build_model, model_metadata
from fieldcast.training.models.lstm import LSTMConfig, LSTMNet

torch.set_num_threads(1)


def _net(**kw) -> LSTMNet:
    torch.manual_seed(0)
    return build_model("lstm", {"hidden_size": 16, "encoder_size": 8, **kw}).eval()


def test_defaults_follow_the_reference_model():
    cfg = LSTMConfig()
    assert (cfg.input_size, cfg.output_size, cfg.encoder_size, cfg.hidden_size, cfg.num_layers) == (
        4,
        2,
        32,
        56,
        2,
    )
    with pytest.raises(ValueError):
        LSTMConfig(dropout=1.0)


def test_shapes_and_registry_metadata():
    net = _net()
    y = net(torch.randn(3, 20, 4))  # (B, T, 4) -> (B, T, 2)
    assert y.shape == (3, 20, 2)
    meta = model_metadata(net)
    assert meta["name"] == "lstm" and meta["args"]["hidden_size"] == 16
    rebuilt = build_model(meta["name"], meta["args"])
    rebuilt.load_state_dict(net.state_dict())


@pytest.mark.parametrize("encoder_size", [0, 8])
def test_step_by_step_equals_whole_sequence(encoder_size):
    net = _net(encoder_size=encoder_size)
    x = torch.randn(2, 15, 4)
    with torch.no_grad():
        whole = net(x)
        state = net.initial_state(2)
        steps = []
        for t in range(15):
            y, state = net.step(x[:, t], state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), whole, rtol=1e-5, atol=1e-6)


def test_streaming_onnx_matches_torch(tmp_path):
    import onnx
    import onnxruntime as ort

    from fieldcast.training.models.lstm_export import StreamingLSTM, export_streaming_onnx

    net = _net()
    norm = {"in_mean": [100.0, 100.0, 0.0, 0.0], "in_std": [50.0, 50.0, 80.0, 80.0],
            "out_mean": [1.0, -2.0], "out_std": [20.0, 25.0]}  # fmt: skip
    path = export_streaming_onnx(net, norm, tmp_path / "traj.onnx", metrics={"r2": 0.5})
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert props["fieldcast.system"] == "trajectory" and props["fieldcast.kind"] == "sequence"
    assert '"error_x"' in props["fieldcast.output_channels"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal([100, 100, 0, 0], [30, 30, 60, 60], size=(25, 4)).astype(np.float32)
    h = np.zeros((2, 1, 16), np.float32)
    c = np.zeros_like(h)
    out = []
    for t in range(25):
        y, h, c = sess.run(None, {"inputs": x[t : t + 1], "h_in": h, "c_in": c})
        out.append(y[0])
    with torch.no_grad():
        xn = (torch.from_numpy(x) - torch.tensor(norm["in_mean"])) / torch.tensor(norm["in_std"])
        ref = net(xn[None])[0] * torch.tensor(norm["out_std"]) + torch.tensor(norm["out_mean"])
        wrapped = StreamingLSTM(net, norm)(torch.from_numpy(x[:1]), *net.initial_state(1))[0]
    np.testing.assert_allclose(np.stack(out), ref.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[0], wrapped[0].numpy(), rtol=1e-5, atol=1e-5)
