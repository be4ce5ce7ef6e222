"""UNet and ResUNet for next-frame prediction on a regular 2D grid.

Input and output are ``(B, C, nx, ny)`` fields. The encoder halves the grid ``depth`` times (stride-2
convolutions, or 2×2 max-pooling) and doubles the width; the decoder upsamples (bilinear + 1×1 conv, or a
transposed convolution), concatenates the skip connection and refines it. Grids whose size is not a multiple
of ``2**depth`` work: each decoder level is resized to its skip's size.

Options shared by every system: the kernel size of the block convolutions, depthwise-separable convolutions
(a ``k×k`` depthwise convolution then a 1×1 pointwise one, as Keras' ``SeparableConv2D``), the weight
initialisation (PyTorch's default, Glorot/Xavier-uniform or Kaiming-normal) and the downsampling. Their
defaults build exactly the network (and parameter names) of earlier versions, so saved checkpoints load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fieldcast.training.models.registry import register_model

__all__ = ["UNet", "UNetConfig"]

_ACTIVATIONS = {"relu": nn.ReLU, "leakyrelu": lambda: nn.LeakyReLU(0.01), "gelu": nn.GELU, "silu": nn.SiLU}


@dataclass
class UNetConfig:
    in_channels: int = 6
    out_channels: int = 3
    depth: int = 3  # number of stride-2 downsamplings
    base_width: int = 32  # channels at full resolution; doubled at each level
    norm: str = "instance"  # batch | instance | group | none
    groups: int = 8  # group count for norm="group" (reduced to divide the width)
    activation: str = "gelu"  # relu | leakyrelu | gelu | silu
    upsampling: str = "bilinear"  # bilinear | transpose
    residual: bool = True  # residual conv blocks (ResUNet)
    bottleneck_blocks: int = 1  # extra blocks at the coarsest level
    dropout: float = 0.0  # 2D dropout inside each block
    padding_mode: str = "replicate"  # zeros | reflect | replicate | circular
    output_clamp: float | None = None  # clamp outputs to [-c, c] (a clamped linear output)
    kernel_size: int = 3  # odd kernel size of the block convolutions
    separable: bool = False  # depthwise k×k + pointwise 1×1 instead of a full k×k convolution
    init: str = "default"  # default (PyTorch) | glorot (Xavier-uniform, zero bias) | kaiming
    downsampling: str = "stride"  # stride (3×3 stride-2 convolution) | maxpool (2×2 max-pooling)

    def __post_init__(self) -> None:
        _check_choice("norm", self.norm, ("batch", "instance", "group", "none"))
        _check_choice("activation", self.activation, tuple(_ACTIVATIONS))
        _check_choice("upsampling", self.upsampling, ("bilinear", "transpose"))
        _check_choice("padding_mode", self.padding_mode, ("zeros", "reflect", "replicate", "circular"))
        if self.depth < 0 or self.base_width < 1:
            raise ValueError("UNetConfig: depth must be >= 0 and base_width >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("UNetConfig: dropout must be in [0, 1)")
        _check_choice("init", self.init, ("default", "glorot", "kaiming"))
        _check_choice("downsampling", self.downsampling, ("stride", "maxpool"))
        if self.kernel_size < 1 or self.kernel_size % 2 == 0 or self.kernel_size > 31:
            raise ValueError(f"UNetConfig: kernel_size must be odd, 1 to 31, got {self.kernel_size}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"UNetConfig.{key}={value!r}; expected one of {', '.join(choices)}")


def _norm(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(math.gcd(groups, channels), channels)
    return nn.Identity()


def _conv(c_in: int, c_out: int, config: UNetConfig, bias: bool) -> nn.Module:
    """A ``k×k`` convolution keeping the grid size, full or depthwise-separable."""
    k = config.kernel_size
    pad = dict(padding=k // 2, padding_mode=config.padding_mode)
    if not config.separable:
        return nn.Conv2d(c_in, c_out, k, bias=bias, **pad)
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, k, groups=c_in, bias=False, **pad),  # depthwise: one k×k filter per channel
        nn.Conv2d(c_in, c_out, 1, bias=bias),  # pointwise: mixes channels
    )


def _initialise(model: nn.Module, scheme: str) -> None:
    if scheme == "default":
        return
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if scheme == "glorot":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ConvBlock(nn.Module):
    """Two ``k×k`` convolutions with norm and activation; with ``residual`` a 1×1 (or identity) shortcut."""

    def __init__(self, c_in: int, c_out: int, config: UNetConfig) -> None:
        super().__init__()
        bias = config.norm == "none"
        self.conv1 = _conv(c_in, c_out, config, bias)
        self.norm1 = _norm(config.norm, c_out, config.groups)
        self.act1 = _ACTIVATIONS[config.activation]()
        self.drop = nn.Dropout2d(config.dropout) if config.dropout > 0 else nn.Identity()
        self.conv2 = _conv(c_out, c_out, config, bias)
        self.norm2 = _norm(config.norm, c_out, config.groups)
        self.act2 = _ACTIVATIONS[config.activation]()
        self.residual = config.residual
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if config.residual and c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act1(self.norm1(self.conv1(x))))  # (B, c_out, nx, ny)
        h = self.norm2(self.conv2(h))
        if self.residual:
            h = h + self.shortcut(x)
        return self.act2(h)


class Down(nn.Module):
    """Halve the grid, then a block: (B, c_in, nx, ny) -> (B, c_out, ceil(nx/2), ceil(ny/2))."""

    def __init__(self, c_in: int, c_out: int, config: UNetConfig) -> None:
        super().__init__()
        if config.downsampling == "maxpool":
            self.down = nn.MaxPool2d(2, ceil_mode=True)
        else:
            self.down = nn.Conv2d(c_in, c_in, 3, stride=2, padding=1, padding_mode=config.padding_mode)
        self.block = ConvBlock(c_in, c_out, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.down(x))


class Up(nn.Module):
    """Upsample, concatenate the skip, refine.

    (B, c_in, nx, ny) and skip (B, c_skip, 2nx, 2ny) -> (B, c_out, 2nx, 2ny).
    """

    def __init__(self, c_in: int, c_skip: int, c_out: int, config: UNetConfig) -> None:
        super().__init__()
        self.mode = config.upsampling
        if self.mode == "transpose":
            self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        else:
            self.up = nn.Conv2d(c_in, c_out, 1)
        self.block = ConvBlock(c_out + c_skip, c_out, config)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "transpose":
            x = self.up(x)  # (B, c_out, 2nx, 2ny)
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        else:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.up(x)  # (B, c_out, 2nx, 2ny)
        return self.block(torch.cat([x, skip], dim=1))  # (B, c_out, 2nx, 2ny)


@register_model("unet", UNetConfig, version="1")
class UNet(nn.Module):
    """UNet (``residual=False``) or ResUNet (``residual=True``): ``in_channels`` -> ``out_channels``."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.base_width * 2**i for i in range(config.depth + 1)]
        self.stem = ConvBlock(config.in_channels, widths[0], config)
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], config) for i in range(config.depth))
        self.bottleneck = nn.Sequential(
            *(ConvBlock(widths[-1], widths[-1], config) for _ in range(config.bottleneck_blocks))
        )
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i], widths[i], config) for i in reversed(range(config.depth))
        )
        self.head = nn.Conv2d(widths[0], config.out_channels, 1)
        _initialise(self, config.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]  # (B, w0, nx, ny)
        for down in self.downs:
            skips.append(down(skips[-1]))  # (B, w_i, nx/2^i, ny/2^i)
        h = self.bottleneck(skips.pop())  # (B, w_depth, nx/2^depth, ny/2^depth)
        for up in self.ups:
            h = up(h, skips.pop())  # back up one level per block
        out = self.head(h)  # (B, out_channels, nx, ny)
        if self.config.output_clamp is not None:
            out = out.clamp(-self.config.output_clamp, self.config.output_clamp)
        return out

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
