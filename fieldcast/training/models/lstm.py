"""LSTM for sequence systems: reference motion in, tracking error out, one sample at a time if need be.

Layout (as in the 3D-printer trajectory-error LSTM): ``Linear(input → encoder) → ReLU → LSTM(layers,
hidden) → Linear(hidden → output)`` over ``[B, T, input]``. The same weights run a whole sequence
(:meth:`LSTMNet.forward`) or stream one sample per call with explicit state (:meth:`LSTMNet.step`), which is
what the ONNX streaming export wraps. Inputs and outputs are in normalised units; the caller (dataset,
exporter) applies the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fieldcast.training.models.registry import register_model

__all__ = ["LSTMConfig", "LSTMNet"]


@dataclass
class LSTMConfig:
    input_size: int = 4  # x_ref, y_ref, vx_ref, vy_ref
    output_size: int = 2  # error_x, error_y
    encoder_size: int = 32  # Linear(4 → 32) front end; 0 feeds the inputs to the LSTM directly
    hidden_size: int = 56
    num_layers: int = 2
    dropout: float = 0.1  # between LSTM layers (ignored with one layer)
    # Engine-side input pipeline the network was trained behind ("" = raw channels; "trajectory-physics/1":
    # the printer's physics filter makes the features and the network predicts its residual; see
    # fieldcast.engine.systems.trajectory.features). Carried in the model record so exports declare it.
    features: str = ""

    def __post_init__(self) -> None:
        if min(self.input_size, self.output_size, self.hidden_size, self.num_layers) < 1:
            raise ValueError("LSTMConfig: sizes and num_layers must be >= 1")
        if self.encoder_size < 0:
            raise ValueError("LSTMConfig: encoder_size must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("LSTMConfig: dropout must be in [0, 1)")


State = tuple[torch.Tensor, torch.Tensor]


@register_model("lstm", LSTMConfig)
class LSTMNet(nn.Module):
    """Sequence-to-sequence LSTM regressor; see the module docstring for the layout."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        width = config.encoder_size or config.input_size
        self.encoder = (
            nn.Sequential(nn.Linear(config.input_size, config.encoder_size), nn.ReLU())
            if config.encoder_size
            else nn.Identity()
        )
        self.lstm = nn.LSTM(
            width,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden_size, config.output_size)

    def initial_state(self, batch: int = 1, device: torch.device | None = None) -> State:
        """Zero ``(h, c)``, each ``(layers, B, hidden)``."""
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """``x`` (B, T, input) → (B, T, output), starting from ``state`` (zeros by default)."""
        z = self.encoder(x)  # (B, T, encoder)
        y, _ = self.lstm(z, state)  # (B, T, hidden)
        return self.head(y)  # (B, T, output)

    def forward_with_state(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """As :meth:`forward`, also returning the final ``(h, c)`` to continue from."""
        y, new_state = self.lstm(self.encoder(x), state)
        return self.head(y), new_state

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One sample: ``x_t`` (B, input) and ``(h, c)`` → (B, output) and the next ``(h, c)``."""
        y, new_state = self.lstm(self.encoder(x_t)[:, None, :], state)  # (B, 1, hidden)
        return self.head(y[:, 0]), new_state
