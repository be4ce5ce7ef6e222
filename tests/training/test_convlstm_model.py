"""The dual-encoder CNN-ConvLSTM: size, shapes, streaming = sequence form, ONNX export with explicit state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fieldcast.training.models import build_model, model_metadata
from fieldcast.training.models.convlstm import ConvLSTM, ConvLSTMConfig

torch.set_num_threads(1)


def test_default_size_matches_the_original():
    model = ConvLSTM(ConvLSTMConfig())
    assert model.n_parameters() == 440_425
    assert model.recurrent_states == [(64, 8), (64, 8)]


def test_shapes_and_grids_that_are_not_multiples_of_eight():
    model = build_model("convlstm", {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4]}).eval()
    assert model_metadata(model)["name"] == "convlstm"
    for grid in ((32, 16), (30, 13)):
        y, h, c = model(torch.randn(2, 11, *grid))
        assert y.shape == (2, 9, *grid)
        assert h.shape == c.shape == (2, 8, grid[0] // 8, grid[1] // 8)


def test_streaming_equals_the_sequence_form():
    torch.manual_seed(0)
    model = build_model("convlstm", {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4]}).eval()
    context = torch.randn(1, 3, 10, 16, 16)  # [T, ipf] per frame
    future = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        expected = model.forward_sequence(context, future)
        states = ()
        for s in range(3):
            t_next = future if s == 2 else context[:, s + 1, :1]
            x = torch.cat([context[:, s, 1:], context[:, s, :1], t_next], dim=1)
            y, *states = model(x, *states)
    torch.testing.assert_close(y, expected)


def test_onnx_export_carries_the_recurrent_state(tmp_path):
    pytest.importorskip("onnxruntime")
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.training.checkpoint import save_checkpoint
    from fieldcast.training.export import export_run

    torch.manual_seed(0)
    model = build_model("convlstm", {"widths": [4, 8, 8], "hidden": 8, "decoder_widths": [8, 8, 4]}).eval()
    names = [f"ipf_{a}_{c}" for a in "xyz" for c in "rgb"]
    norm = {
        "in_mean": [0.4] * 9 + [900.0, 900.0],
        "in_std": [0.3] * 9 + [500.0, 500.0],
        "out_mean": [0.4] * 9,
        "out_std": [0.3] * 9,
        "input_names": [*names, "temperature", "temperature@t+1"],
        "output_names": names,
    }
    side = {
        "step": 1,
        "epoch": 0,
        "task": "recurrent_field",
        "system": "melt",
        "normalisation": norm,
        "grid": [32, 16],
        "state_channels": names,
        "condition_channels": ["temperature"],
        "context": 3,
        "liquidus": 1723.0,
        "dt": 2e-5,
    }
    save_checkpoint(tmp_path / "checkpoints", "best", model, side)
    job = export_run(tmp_path)
    with pytest.raises(StopIteration) as done:
        while True:
            next(job)
    parity = done.value.value["variants"]["fp32"]["parity"]
    assert parity["ok"] and parity["streamed_steps"] >= 3 and parity["max_abs"] < 1e-4
    session = ModelSession(tmp_path / "model.onnx", threads=1)
    info = session.info
    assert [r.channels for r in info.recurrent] == [8, 8]
    assert info.kind == "recurrent_field" and info.context == 3 and info.system_spec().name == "melt"
    assert info.layout["controls"] == ["temperature", "temperature@t+1"] and info.input_units[-1] == "K"
    fields = np.zeros((1, 11, 32, 16), np.float32)
    fields[:, 9:] = 2000.0  # all liquid at t+1: no orientation anywhere
    feeds = {r.input: np.zeros(r.shape(1, 32, 16), np.float32) for r in info.recurrent}
    out = session.run({"fields": fields, **feeds})
    np.testing.assert_allclose(out["next_fields"], 0.0, atol=1e-6)
