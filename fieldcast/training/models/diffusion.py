"""Conditional denoising UNet whose condition is read by a shifted-window attention (Swin-style) encoder.

The denoiser (``diffusion_unet``) maps a noisy target ``x_t`` (B, 1, nx, ny), its timestep ``t`` (B,) and the
condition maps (B, C, nx, ny) to the network output (``v`` or ``eps``, chosen by the task):

- **timestep**: sinusoidal embedding of ``t`` (Ho et al.), an MLP, then added (per channel) inside every
  residual block of the UNet;
- **condition encoder** (Liu et al. 2021, Swin): a ``patch``×``patch`` patch embedding, stages of window
  self-attention blocks over ``window``×``window`` token windows with a learned relative position bias, the
  windows shifted by half a window on every second block (with the usual mask so shifted windows do not
  mix across the wrap-around), and patch merging (2×2 neighbours → linear) between stages. Each stage's
  features (at grid/2, grid/4, grid/8 for ``patch`` 2) are projected and added to the UNet encoder level of
  the same resolution; the raw condition is also concatenated to ``x_t`` at full resolution;
- **UNet**: ``widths`` channels at grid, grid/2, ... with one residual block per level on each side,
  stride-2 convolutions down, nearest upsampling + convolution up, skip concatenation, GroupNorm + SiLU.

With ``noise_input: false`` the same network reads only the condition (no ``x_t``, no timestep): the
deterministic regression baseline of the generative task, so diffusion is measured against an identical
network trained with plain MSE.

The attention masks are built for the training grid, so an exported model runs at that grid only
(``grid_multiple = 0``). Everything traces to ONNX opset 17 (reshape, transpose, Slice/Concat for the roll,
Gather for the position bias).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from fieldcast.training.models.registry import register_model

__all__ = ["DiffusionUNet", "DiffusionUNetConfig", "timestep_embedding"]


@dataclass
class DiffusionUNetConfig:
    in_channels: int = 2  # condition channels (set from the data)
    out_channels: int = 1  # target channels (set from the data)
    grid: list[int] = field(default_factory=lambda: [64, 64])  # training grid (set from the data)
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])  # UNet channels per level
    time_dim: int = 64  # sinusoidal embedding size
    swin_dim: int = 32  # condition-encoder width after the patch embedding (doubled per merge)
    swin_depths: list[int] = field(default_factory=lambda: [2, 2, 2])  # attention blocks per stage
    swin_heads: list[int] = field(default_factory=lambda: [2, 4, 8])
    window: int = 8  # attention window (tokens per side)
    patch: int = 2  # patch size of the embedding
    noise_input: bool = True  # False: the regression baseline (condition only)
    groups: int = 8

    def __post_init__(self) -> None:
        if len(self.swin_depths) != len(self.swin_heads) or not self.swin_depths:
            raise ValueError("DiffusionUNetConfig: swin_depths and swin_heads need one entry per stage")
        if len(self.swin_depths) > len(self.widths) - 1:
            raise ValueError(
                "DiffusionUNetConfig: more encoder stages than UNet levels below full resolution"
            )
        if self.patch != 2:
            raise ValueError("DiffusionUNetConfig: patch must be 2 (stage i lands on UNet level i + 1)")
        nx, ny = self.grid
        step = 2 ** (len(self.widths) - 1)
        if nx % step or ny % step:
            raise ValueError(f"DiffusionUNetConfig: grid {self.grid} must be a multiple of {step}")
        for i, h in enumerate(self.swin_heads):
            if (self.swin_dim * 2**i) % h:
                raise ValueError(f"DiffusionUNetConfig: stage {i} width {self.swin_dim * 2**i} % heads {h}")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of timesteps ``t`` (B,), as in the transformer and DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


# ---------------------------------------------------------------- condition encoder (Swin-style)


def _partition(x: torch.Tensor, w: int, nx: int, ny: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.view(-1, nx // w, w, ny // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)  # (B * windows, w*w, C)


def _reverse(win: torch.Tensor, w: int, nx: int, ny: int) -> torch.Tensor:
    c = win.shape[-1]
    x = win.view(-1, nx // w, ny // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, nx, ny, c)  # (B, nx, ny, C)


def _shift_mask(nx: int, ny: int, w: int, s: int) -> torch.Tensor:
    """(windows, w*w, w*w) additive mask: -100 between tokens that came from different sides of the roll."""
    region = torch.zeros(1, nx, ny, 1)
    label = 0
    for xs in (slice(0, -w), slice(-w, -s), slice(-s, None)):
        for ys in (slice(0, -w), slice(-w, -s), slice(-s, None)):
            region[:, xs, ys, :] = label
            label += 1
    win = _partition(region, w, nx, ny)[..., 0]  # (windows, w*w)
    diff = win[:, None, :] - win[:, :, None]
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative position bias."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
        flat = coords.flatten(1)  # (2, w*w)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (window - 1)  # (w*w, w*w, 2)
        self.register_buffer("bias_index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n, c = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(-1, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B*W, heads, n, d)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (B*W, heads, n, n)
        bias = self.bias_table[self.bias_index.reshape(-1)].reshape(n, n, self.heads).permute(2, 0, 1)
        attn = attn + bias[None]
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(-1, windows, self.heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.heads, n, n)
        out = attn.softmax(dim=-1) @ v  # (B*W, heads, n, d)
        return self.proj(out.transpose(1, 2).reshape(-1, n, c))


class SwinBlock(nn.Module):
    """Window attention (optionally on windows shifted by ``shift``) and an MLP, each with a residual."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, res: tuple[int, int]) -> None:
        super().__init__()
        if min(res) <= window:  # one window covers the map: nothing to shift
            window, shift = min(res), 0
        while res[0] % window or res[1] % window:  # windows tile the map: the largest that fits
            window -= 1
        shift = min(shift, window // 2)
        self.window, self.shift, self.res = window, shift, res
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        mask = _shift_mask(*res, window, shift) if shift else None
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, nx, ny, C)
        nx, ny = self.res
        h = self.norm1(x)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = _reverse(self.attn(_partition(h, self.window, nx, ny), self.mask), self.window, nx, ny)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2×2 neighbouring tokens concatenated and projected: half the resolution, twice the width."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduce = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, nx, ny, C) -> (B, nx/2, ny/2, 2C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduce(self.norm(x))


class SwinEncoder(nn.Module):
    """Multi-scale features of the condition: one (B, C_i, nx_i, ny_i) map per stage."""

    def __init__(self, cfg: DiffusionUNetConfig) -> None:
        super().__init__()
        nx, ny = cfg.grid[0] // cfg.patch, cfg.grid[1] // cfg.patch
        self.embed = nn.Conv2d(cfg.in_channels, cfg.swin_dim, cfg.patch, stride=cfg.patch)
        self.embed_norm = nn.LayerNorm(cfg.swin_dim)
        self.stages, self.merges = nn.ModuleList(), nn.ModuleList()
        dim = cfg.swin_dim
        for i, (depth, heads) in enumerate(zip(cfg.swin_depths, cfg.swin_heads, strict=True)):
            if i > 0:
                self.merges.append(PatchMerging(dim))
                dim, nx, ny = 2 * dim, nx // 2, ny // 2
            blocks = [
                SwinBlock(dim, heads, cfg.window, 0 if b % 2 == 0 else cfg.window // 2, (nx, ny))
                for b in range(depth)
            ]
            self.stages.append(nn.Sequential(*blocks, nn.LayerNorm(dim)))
        self.dims = [cfg.swin_dim * 2**i for i in range(len(cfg.swin_depths))]

    def forward(self, c: torch.Tensor) -> list[torch.Tensor]:
        x = self.embed_norm(self.embed(c).permute(0, 2, 3, 1))  # (B, nx/2, ny/2, D)
        feats = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.merges[i - 1](x)
            x = stage(x)
            feats.append(x.permute(0, 3, 1, 2))  # (B, C_i, nx_i, ny_i)
        return feats


# ---------------------------------------------------------------- UNet


def _gn(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the timestep embedding added between, with a residual path."""

    def __init__(self, c_in: int, c_out: int, t_dim: int | None, groups: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _gn(c_in, groups), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out) if t_dim else None
        self.norm2, self.conv2 = _gn(c_out, groups), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time is not None and temb is not None:
            h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


@register_model("diffusion_unet", DiffusionUNetConfig)
class DiffusionUNet(nn.Module):
    """``forward(condition, x_t=None, t=None) -> (B, out_channels, nx, ny)`` in normalised units."""

    grid_multiple = 0  # the attention masks fix the grid

    def __init__(self, config: DiffusionUNetConfig) -> None:
        super().__init__()
        self.config = cfg = config
        w, g = list(cfg.widths), cfg.groups
        t_dim = 4 * cfg.time_dim if cfg.noise_input else None
        if cfg.noise_input:
            self.time_mlp = nn.Sequential(nn.Linear(cfg.time_dim, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.encoder = SwinEncoder(cfg)
        first_in = cfg.in_channels + (cfg.out_channels if cfg.noise_input else 0)
        self.stem = nn.Conv2d(first_in, w[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([ResBlock(w[0], w[0], t_dim, g)])
        self.downs, self.cond_proj = nn.ModuleList(), nn.ModuleList()
        for i in range(1, len(w)):
            self.downs.append(nn.Conv2d(w[i - 1], w[i], 3, stride=2, padding=1))
            feat = self.encoder.dims[i - 1] if i - 1 < len(self.encoder.dims) else None
            self.cond_proj.append(nn.Conv2d(feat, w[i], 1) if feat else nn.Identity())
            self.down_blocks.append(ResBlock(w[i], w[i], t_dim, g))
        self.mid = ResBlock(w[-1], w[-1], t_dim, g)
        self.ups, self.up_blocks = nn.ModuleList(), nn.ModuleList()
        for i in range(len(w) - 1, 0, -1):
            self.ups.append(nn.Conv2d(w[i], w[i - 1], 3, padding=1))
            self.up_blocks.append(ResBlock(2 * w[i - 1], w[i - 1], t_dim, g))
        self.out_norm = _gn(w[0], g)
        self.out = nn.Conv2d(w[0], cfg.out_channels, 3, padding=1)
        self.n_feats = len(self.encoder.dims)

    def forward(
        self, condition: torch.Tensor, x_t: torch.Tensor | None = None, t: torch.Tensor | None = None
    ) -> torch.Tensor:
        cfg = self.config
        temb = None
        if cfg.noise_input:
            if x_t is None or t is None:
                raise ValueError("this denoiser needs x_t and t")
            temb = self.time_mlp(timestep_embedding(t, cfg.time_dim))  # (B, 4*time_dim)
            h = self.stem(torch.cat([x_t, condition], dim=1))
        else:
            h = self.stem(condition)
        feats = self.encoder(condition)
        h = self.down_blocks[0](h, temb)
        skips = [h]
        for i, (down, proj) in enumerate(zip(self.downs, self.cond_proj, strict=True)):
            h = down(h)
            if i < self.n_feats:
                h = h + proj(feats[i])
            h = self.down_blocks[i + 1](h, temb)
            skips.append(h)
        h = self.mid(h, temb)
        skips.pop()
        for up, block in zip(self.ups, self.up_blocks, strict=True):
            h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
        return self.out(F.silu(self.out_norm(h)))
