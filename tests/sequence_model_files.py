"""A tiny exported trajectory LSTM for engine and app tests (torch is imported here, never by the app)."""

from __future__ import annotations

from pathlib import Path

NORM = {
    "in_mean": [100.0, 100.0, 0.0, 0.0],
    "in_std": [40.0, 40.0, 60.0, 60.0],
    "out_mean": [0.0, 0.0],
    "out_std": [20.0, 25.0],
}


def write_tiny_lstm_model(path: Path, seed: int = 0, hidden: int = 8, layers: int = 1) -> Path:
    """An untrained streaming LSTM in ``fieldcast-sequence-onnx/1``; returns ``path``."""
    import torch

    from fieldcast.training.models.lstm import LSTMConfig, LSTMNet
    from fieldcast.training.models.lstm_export import export_streaming_onnx

    torch.manual_seed(seed)
    net = LSTMNet(LSTMConfig(encoder_size=8, hidden_size=hidden, num_layers=layers, dropout=0.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_streaming_onnx(net, NORM, path, metrics={"r2": 0.0})
