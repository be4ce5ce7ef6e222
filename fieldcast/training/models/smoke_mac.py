"""The reference solver's operations on its staggered (MAC) grid, written in torch for a model's structure.

A model that advances several solver frames per call can carry the flow the way the solver does: velocity
on the cell faces, traced back along the flow with a midpoint (RK2) step and sampled bilinearly, vorticity
confinement and buoyancy as forces, emitters relaxing the flow towards their velocity, and the exact
open-boundary pressure projection of the face divergence. Everything here works on batches, in physical
units (cells, frames, cells/frame), and exports to ONNX (``grid_sample`` and matrix products only).

Layouts, as in the solver: cell values (B, nx, ny); x-faces ``u`` (B, nx + 1, ny) at x = i - ½; y-faces
``v`` (B, nx, ny + 1) at y = j - ½. Sampling clamps positions to the array, so values beyond the domain
repeat the edge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "advect_mac",
    "boundary_outflow",
    "conserve",
    "cell_velocity",
    "confinement_force",
    "confinement_faces",
    "dirichlet_poisson",
    "emit",
    "face_divergence",
    "faces_from_cells",
    "free_faces",
    "project_open",
]


def confinement_force(
    vx: torch.Tensor, vy: torch.Tensor, strength: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vorticity-confinement force (B, nx, ny) each, cells/frame², from cell-centred velocity: pushes the
    flow around its vortex cores, as the solver's does (central differences, one-sided at the edges)."""

    def ddx(f: torch.Tensor) -> torch.Tensor:
        inner = 0.5 * (f[:, 2:] - f[:, :-2])
        return torch.cat([f[:, 1:2] - f[:, :1], inner, f[:, -1:] - f[:, -2:-1]], dim=1)

    def ddy(f: torch.Tensor) -> torch.Tensor:
        inner = 0.5 * (f[:, :, 2:] - f[:, :, :-2])
        return torch.cat([f[:, :, 1:2] - f[:, :, :1], inner, f[:, :, -1:] - f[:, :, -2:-1]], dim=2)

    omega = ddx(vy) - ddy(vx)
    mag = omega.abs()
    gx, gy = ddx(mag), ddy(mag)
    norm = torch.sqrt(gx * gx + gy * gy + 1e-12)  # inside the root: finite gradients where flat
    return strength * (gy / norm) * omega, -strength * (gx / norm) * omega


def _sine_basis(n: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal type-I sine transform (n, n), its own inverse, and the eigenvalues (n,) of the 1D
    Laplacian (1, -2, 1) with zero values one cell beyond either end."""
    k = torch.arange(1, n + 1, dtype=like.dtype, device=like.device)
    angle = torch.pi / (n + 1)
    basis = torch.sin(angle * k.unsqueeze(1) * k.unsqueeze(0)) * torch.sqrt(2.0 / (k[-1:] + 1.0))
    return basis, 2.0 * torch.cos(angle * k) - 2.0


def dirichlet_poisson(rhs: torch.Tensor) -> torch.Tensor:
    """``p`` (B, nx, ny) with 5-point Laplacian(p) = ``rhs`` on the grid and p = 0 one cell outside it: the
    exact discrete solution, diagonalised by sine transforms along both axes (four matrix products)."""
    nx, ny = rhs.shape[-2:]
    sx, lx = _sine_basis(nx, rhs)
    sy, ly = _sine_basis(ny, rhs)
    spectrum = sx @ rhs @ sy
    return sx @ (spectrum / (lx.unsqueeze(1) + ly.unsqueeze(0))) @ sy


def faces_from_cells(vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell-centred components (B, nx, ny) averaged to the faces; an edge face copies its cell."""
    px = F.pad(vx.unsqueeze(1), (0, 0, 1, 1), mode="replicate").squeeze(1)
    py = F.pad(vy.unsqueeze(1), (1, 1, 0, 0), mode="replicate").squeeze(1)
    return 0.5 * (px[:, 1:] + px[:, :-1]), 0.5 * (py[:, :, 1:] + py[:, :, :-1])


def cell_velocity(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Face velocities averaged to the cell centres, (B, nx, ny) each."""
    return 0.5 * (u[:, 1:] + u[:, :-1]), 0.5 * (v[:, :, 1:] + v[:, :, :-1])


def face_divergence(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Net outflow of every cell through its four faces, (B, nx, ny)."""
    return u[:, 1:] - u[:, :-1] + v[:, :, 1:] - v[:, :, :-1]


def project_open(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Face velocities less the pressure gradient that makes every cell's face divergence zero, with zero
    pressure one cell outside the grid (open sides): the solver's projection where no collider is."""
    p = dirichlet_poisson(face_divergence(u, v)).unsqueeze(1)
    px = F.pad(p, (0, 0, 1, 1)).squeeze(1)  # the ghost pressure outside is 0
    py = F.pad(p, (1, 1, 0, 0)).squeeze(1)
    return u - (px[:, 1:] - px[:, :-1]), v - (py[:, :, 1:] - py[:, :, :-1])


def free_faces(fluid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1 on the faces whose two cells are both fluid (an edge face: its one cell), else 0."""
    px = F.pad(fluid.unsqueeze(1), (0, 0, 1, 1), mode="replicate").squeeze(1)
    py = F.pad(fluid.unsqueeze(1), (1, 1, 0, 0), mode="replicate").squeeze(1)
    return px[:, 1:] * px[:, :-1], py[:, :, 1:] * py[:, :, :-1]


def _sample(field: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor) -> torch.Tensor:
    """Bilinear values of ``field`` (B, C, mx, my) at fractional array indices ``ix``, ``iy`` (B, px, py),
    clamped to the array: (B, C, px, py)."""
    mx, my = field.shape[-2:]
    # grid_sample's last grid axis is (width, height) = (y index, x index), normalised to [-1, 1].
    grid = torch.stack([iy * (2.0 / (my - 1)) - 1.0, ix * (2.0 / (mx - 1)) - 1.0], dim=-1)
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _positions(shape: tuple[int, int], offset: tuple[float, float], like: torch.Tensor):
    ix = torch.arange(shape[0], dtype=like.dtype, device=like.device).view(1, shape[0], 1) - offset[0]
    iy = torch.arange(shape[1], dtype=like.dtype, device=like.device).view(1, 1, shape[1]) - offset[1]
    return ix, iy


def _departure(centre: torch.Tensor, x, y, ux, uy, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the points (x, y), moving at (ux, uy), were ``dt`` frames ago in the cell-centred flow
    ``centre`` (B, 2, nx, ny): a midpoint step, as the solver traces."""
    mid = _sample(centre, x - 0.5 * dt * ux, y - 0.5 * dt * uy)
    return x - dt * mid[:, 0], y - dt * mid[:, 1]


def _corner_range(field: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor) -> torch.Tensor:
    """Min and max (B, 2, px, py) of the four grid values that bilinear sampling of ``field`` (B, 1, mx, my)
    at fractional indices ``ix``, ``iy`` blends, with the solver's clamping: the lower corner is the floor of
    the clamped position, at most the last-but-one index."""
    mx, my = field.shape[-2:]
    high = F.max_pool2d(field, 2, stride=1)
    low = -F.max_pool2d(-field, 2, stride=1)
    i0 = torch.clamp(torch.floor(torch.clamp(ix, 0.0, mx - 1.0)), max=mx - 2.0)
    j0 = torch.clamp(torch.floor(torch.clamp(iy, 0.0, my - 1.0)), max=my - 2.0)
    # Whole indices sampled with ``nearest`` land on their own value: a gather that exports as GridSample.
    grid = torch.stack([j0 * (2.0 / (my - 2)) - 1.0, i0 * (2.0 / (mx - 2)) - 1.0], dim=-1)
    pooled = torch.cat([low, high], dim=1)
    return F.grid_sample(pooled, grid, mode="nearest", padding_mode="border", align_corners=True)


def _advect_on(
    field: torch.Tensor,
    offset: tuple[float, float],
    centre: torch.Tensor,
    ux: torch.Tensor,
    uy: torch.Tensor,
    dt: float,
    maccormack: bool,
) -> torch.Tensor:
    """``field`` (B, mx, my), whose array index is position + ``offset``, advected over ``dt`` frames."""
    shape = tuple(field.shape[-2:])
    x, y = _positions(shape, offset, field)
    bx, by = _departure(centre, x, y, ux, uy, dt)
    planes = field.unsqueeze(1)
    back = _sample(planes, bx + offset[0], by + offset[1])
    if not maccormack:
        return back[:, 0]
    # Limited MacCormack, as the solver: trace forward from each point (its own midpoint), correct the
    # backward value by half the round trip's error, and revert to the semi-Lagrangian value wherever the
    # correction leaves the range of the four values the backward sample blended.
    fx, fy = _departure(centre, x, y, ux, uy, -dt)
    ahead = _sample(back, fx + offset[0], fy + offset[1])
    corrected = back + 0.5 * (planes - ahead)
    bounds = _corner_range(planes, bx + offset[0], by + offset[1])
    outside = (corrected < bounds[:, :1]) | (corrected > bounds[:, 1:])
    return torch.where(outside, back, corrected)[:, 0]


def advect_mac(
    density: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    dt: float,
    density_maccormack: bool = False,
    velocity_maccormack: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Advection of cell ``density`` and face velocities ``u``, ``v`` by the flow over ``dt`` frames: each
    point is traced back (midpoint rule) and takes the bilinear value found there (semi-Lagrangian), or, for
    the fields asked, the solver's limited MacCormack correction of that value (second order, less
    diffusion, three more samplings per field)."""
    uc, vc = cell_velocity(u, v)
    centre = torch.stack([uc, vc], dim=1)
    new_density = _advect_on(density, (0.0, 0.0), centre, uc, vc, dt, density_maccormack)
    vy_u, ux_v = faces_from_cells(vc, uc)  # the other component on each face grid
    new_u = _advect_on(u, (0.5, 0.0), centre, u, vy_u, dt, velocity_maccormack)
    new_v = _advect_on(v, (0.0, 0.5), centre, ux_v, v, dt, velocity_maccormack)
    return new_density, new_u, new_v


def boundary_outflow(density: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Smoke leaving the grid per frame through its four open sides, (B, 1, 1): each edge face carries its
    cell's density at the face's normal velocity (inflow counts negative, bringing the edge's own density
    back in, as advection that repeats the edge beyond the grid does)."""
    out = (u[:, -1] * density[:, -1]).sum(-1) - (u[:, 0] * density[:, 0]).sum(-1)
    out = out + (v[:, :, -1] * density[:, :, -1]).sum(-1) - (v[:, :, 0] * density[:, :, 0]).sum(-1)
    return out.view(-1, 1, 1)


def conserve(density: torch.Tensor, target: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """``density`` (B, nx, ny) scaled so that its total is ``target`` (B, 1, 1), at most 1 per cell.

    Semi-Lagrangian advection does not conserve what it carries: its traces neither cover the grid once nor
    weigh what they sample by volume, so smoke is lost (mostly) or made as it goes. The budget: what the grid
    held, less what left through the open sides (:func:`boundary_outflow`, first order). The step's error is
    spread in proportion to the smoke already there, so no smoke appears where there is none and the density
    stays non-negative; but smoke lost in one place reappears in all others (attempt M14 in the README: held
    to the budget this way, plumes grew and jets reached 3.9x the solver's speed).
    """
    total = density.sum(dim=(-2, -1), keepdim=True)
    scale = torch.where(total > floor, target.clamp(min=0.0) / total.clamp(min=floor), torch.ones_like(total))
    return torch.clamp(density * scale, max=1.0)


def emit(
    density: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    emitter: torch.Tensor,
    rate: torch.Tensor,
    eu: torch.Tensor,
    ev: torch.Tensor,
    dt: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The solver's inflow over ``dt`` frames: smoke added at ``rate`` (density/frame) up to 1, never
    removed, and the face velocities relaxed towards the emitters' (``eu``, ``ev`` on the faces) in
    proportion to the mask."""
    density = torch.maximum(density, torch.clamp(density + dt * rate * emitter, max=1.0))
    mu, mv = faces_from_cells(emitter, emitter)
    return density, u + mu * (eu - u), v + mv * (ev - v)


def confinement_faces(u: torch.Tensor, v: torch.Tensor, strength: float, dt: float):
    """Face velocities after ``dt`` frames of the solver's vorticity-confinement force."""
    uc, vc = cell_velocity(u, v)
    fx, fy = confinement_force(uc, vc, strength)
    fu, fv = faces_from_cells(fx, fy)
    return u + dt * fu, v + dt * fv
