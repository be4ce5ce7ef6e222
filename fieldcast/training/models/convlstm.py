"""Dual-encoder CNN-ConvLSTM for microstructure prediction (after LASERNet's MicrostructureCNN_LSTM).

One step maps the microstructure and temperature of frame ``t`` and the temperature of frame ``t+1`` to the
microstructure of frame ``t+1``::

    x = [ipf(t) (9), T(t), T(t+1)]                          (B, 11, H, W), normalised
    context = [T(t), ipf(t)] -> encoder 10->16->32->64        (B, 64, H/8, W/8)
    h, c = ConvLSTM(context, h, c)                           (B, 64, H/8, W/8) each
    future = encoder(T(t+1)) 1->16->32->64                   (B, 64, H/8, W/8)
    y = decoder([h, future]) 128->64->32->16 -> 1x1 -> 9     (B, 9, H, W)

Run over three context frames from a zero state it is the original model (440,425 parameters in the default
size); carried from step to step it streams, which is how the exported graph runs: the recurrent state
``(h, c)`` is an explicit input/output pair (``recurrent_states``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from fieldcast.training.models.registry import register_model

__all__ = ["ConvLSTM", "ConvLSTMCell", "ConvLSTMConfig"]


@dataclass
class ConvLSTMConfig:
    in_channels: int = 11  # ipf(t) + T(t) + T(t+1)
    out_channels: int = 9  # ipf(t+1)
    temperature_channels: int = 1  # T(t) and T(t+1) each, the last channels of the input
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])  # encoder widths, one MaxPool2 each
    hidden: int = 64  # ConvLSTM hidden channels
    decoder_widths: list[int] = field(default_factory=lambda: [64, 32, 16])
    kernel: int = 3
    residual: bool = False  # add the input microstructure to the output (predict the change); not in LASERNet

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.decoder_widths) or not self.widths:
            raise ValueError("ConvLSTMConfig: widths and decoder_widths need the same (non-zero) length")
        if self.in_channels <= 2 * self.temperature_channels:
            raise ValueError("ConvLSTMConfig: in_channels must exceed the two temperature inputs")
        if self.kernel % 2 != 1:
            raise ValueError("ConvLSTMConfig: kernel must be odd")


def _block(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    # Bias-free: the batch norm's shift plays its part.
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def _encoder(c_in: int, widths: list[int], kernel: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [*_block(c_in, w, kernel), nn.MaxPool2d(2)]
        c_in = w
    return nn.Sequential(*layers)


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell: all four gates from one convolution of ``[x, h]``."""

    def __init__(self, c_in: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(c_in + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)  # (B, hidden, h, w) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


@register_model("convlstm", ConvLSTMConfig, version="1")
class ConvLSTM(nn.Module):
    """Dual-encoder CNN-ConvLSTM; ``forward(x, h, c) -> (y, h, c)``, state zero when omitted."""

    def __init__(self, config: ConvLSTMConfig) -> None:
        super().__init__()
        self.config = config
        nt = config.temperature_channels
        self.n_micro = config.in_channels - 2 * nt
        self.context_encoder = _encoder(self.n_micro + nt, config.widths, config.kernel)
        self.future_encoder = _encoder(nt, config.widths, config.kernel)
        self.cell = ConvLSTMCell(config.widths[-1], config.hidden, config.kernel)
        layers: list[nn.Module] = []
        c_in = config.hidden + config.widths[-1]
        for w in config.decoder_widths:
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
            layers += _block(c_in, w, config.kernel)
            c_in = w
        self.decoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, config.out_channels, 1)
        self.downsample = 2 ** len(config.widths)
        # Read by the ONNX export: two state tensors at 1/downsample resolution, and the grid multiple.
        self.recurrent_states = [(config.hidden, self.downsample)] * 2
        self.grid_multiple = self.downsample

    def zero_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) for input ``x`` (B, C, H, W)."""
        b, _, hh, ww = x.shape
        z = x.new_zeros(b, self.config.hidden, hh // self.downsample, ww // self.downsample)
        return z, z

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        nt = self.config.temperature_channels
        h, c = states if states else self.zero_state(x)
        micro = x[:, : self.n_micro]  # (B, 9, H, W)
        t_now = x[:, self.n_micro : self.n_micro + nt]  # (B, 1, H, W)
        t_next = x[:, self.n_micro + nt :]  # (B, 1, H, W)
        e = self.context_encoder(torch.cat([t_now, micro], dim=1))  # (B, 64, H/8, W/8)
        h, c = self.cell(e, h, c)  # (B, 64, H/8, W/8) each
        f = self.future_encoder(t_next)  # (B, 64, H/8, W/8)
        y = self.decoder(torch.cat([h, f], dim=1))  # (B, 16, H, W) when H, W are multiples of 8
        y = self.head(y)  # (B, 9, ., .)
        if y.shape[-2:] != x.shape[-2:]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, 9, H, W)
        if self.config.residual:
            y = y + micro  # both normalised with the same IPF statistics
        return y, h, c

    def forward_sequence(self, context: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """The original form: ``context`` (B, S, 10, H, W) as [T, ipf] frames, ``future`` (B, 1, H, W).

        Runs the ConvLSTM over the S frames from a zero state and decodes once, (B, 9, H, W).
        """
        nt = self.config.temperature_channels
        states: tuple[torch.Tensor, ...] = ()
        y = context.new_zeros(())
        for s in range(context.shape[1]):
            frame = context[:, s]
            t_next = future if s == context.shape[1] - 1 else context[:, s + 1, :nt]
            x = torch.cat([frame[:, nt:], frame[:, :nt], t_next], dim=1)  # (B, 11, H, W)
            y, *states = self(x, *states)
        return y

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
