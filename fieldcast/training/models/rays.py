"""Straight-ray features from a point source through a mask: what a direct path meets on its way.

For every cell centre ``p`` of the grid and the source's cell centre ``s`` (where the source map peaks), the
segment ``s -> p`` is sampled at ``samples`` evenly spaced points (the midpoints of equal pieces) with
nearest-cell lookups of the mask, giving three maps:

- ``log_distance``: ``log(max(|p - s|, 1)) / log(diagonal)``, in cells, so 0 at the source and 1 across
  the grid: the free-space loss of a direct path is affine in it;
- ``crossings``: mask edges met along the segment (``sum |m_k+1 - m_k|``, plus one when the receiver
  itself lies in the mask and the first sample does not) over 4: the walls a direct ray goes through;
- ``inside``: the segment's length inside the mask (mean sample times length), over the grid's size.

Used by the generative task's ``rays`` option for the radio source, where the received power of a direct
path is the free-space loss plus the loss of each wall crossed plus a loss per metre inside buildings; the
network still has to learn the constants, the reflections and everything the sampling misses. Everything is
plain tensor algebra plus ``grid_sample`` (nearest), so it traces to ONNX (opset 16 or later) and runs
inside the exported model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["RAY_FEATURES", "ray_features", "source_position"]

#: the maps :func:`ray_features` returns, in order
RAY_FEATURES = ("log_distance", "crossings", "inside")


def source_position(source: torch.Tensor) -> torch.Tensor:
    """Cell-centre position ``(B, 2)`` (x, y in cells) where each ``(B, 1, nx, ny)`` source map peaks."""
    b, _, nx, ny = source.shape
    idx = torch.argmax(source.reshape(b, nx * ny), dim=1)
    ix = torch.div(idx, ny, rounding_mode="floor")
    iy = idx - ix * ny
    return torch.stack([ix, iy], dim=1).to(source.dtype) + 0.5


def ray_features(mask: torch.Tensor, source: torch.Tensor, samples: int | None = None) -> torch.Tensor:
    """``(B, 3, nx, ny)`` maps (see the module) for mask and source maps of shape ``(B, 1, nx, ny)``.

    ``mask`` counts as inside where it exceeds 0.5. ``samples`` defaults to twice the grid's longer side, so
    consecutive samples are at most about 0.7 cells apart and a one-cell wall is rarely stepped over.
    """
    b, _, nx, ny = mask.shape
    n = int(samples or 2 * max(nx, ny))
    dtype = mask.dtype
    solid = (mask > 0.5).to(dtype)
    src = source_position(source)  # (B, 2)
    px = torch.arange(nx, dtype=dtype, device=mask.device) + 0.5
    py = torch.arange(ny, dtype=dtype, device=mask.device) + 0.5
    gx, gy = torch.meshgrid(px, py, indexing="ij")  # (nx, ny) receiver centres
    frac = (torch.arange(n, dtype=dtype, device=mask.device) + 0.5) / n  # (n,)
    sx = src[:, 0].view(b, 1, 1, 1)
    sy = src[:, 1].view(b, 1, 1, 1)
    f = frac.view(1, n, 1, 1)
    qx = sx + f * (gx.view(1, 1, nx, ny) - sx)  # (B, n, nx, ny) sample points, x in cells
    qy = sy + f * (gy.view(1, 1, nx, ny) - sy)
    # grid_sample: the last grid coordinate indexes the input's height (x here), the first its width (y);
    # align_corners=False maps cell units c to 2 c / size - 1.
    grid = torch.stack([2.0 * qy / ny - 1.0, 2.0 * qx / nx - 1.0], dim=-1).reshape(b, n * nx, ny, 2)
    hits = F.grid_sample(solid, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    hits = hits.reshape(b, n, nx, ny)
    # The receiver's own cell closes the sequence, so a receiver inside a building counts the wall it is
    # behind even when the last sample fell short of the building's edge.
    seq = torch.cat([hits, solid], dim=1)
    crossings = (seq[:, 1:] - seq[:, :-1]).abs().sum(dim=1, keepdim=True)
    dist = torch.sqrt((gx.view(1, 1, nx, ny) - sx) ** 2 + (gy.view(1, 1, nx, ny) - sy) ** 2)
    inside = hits.mean(dim=1, keepdim=True) * dist
    diag = math.log(math.hypot(nx, ny))
    log_distance = torch.log(torch.clamp(dist, min=1.0)) / diag
    return torch.cat([log_distance, crossings / 4.0, inside / max(nx, ny)], dim=1)
