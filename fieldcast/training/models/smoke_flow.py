"""A smoke step with physics built in: the network predicts the flow, the density is carried by it.

One call advances ``frames`` solver frames. A small UNet, run on a grid ``coarsen`` times coarser than the
state, predicts two maps: the change of the stream function ψ over the step and the emitters' injection
rate. Everything else is fixed structure, the same operations the reference solver performs:

- **velocity** ``v' = P(A(v)) + curl(Δψ)``, with ψ on the cell corners and the curl taken on the MAC faces,
  so the change the network makes to the flow is divergence-free to round-off (the face divergence of
  ``curl`` is a discrete identity). Optional fixed parts: ``A`` carries the flow along itself
  (``advect_velocity``), ``P`` removes its divergence with a free-space pressure solve (``project``);
  without them both are the identity. Velocity is zero inside colliders, and with ``hold_emitter_velocity``
  emitters keep theirs (the shipped model uses all three). With ``gate_activity`` Δψ is masked to the
  region near smoke, emitters or moving air, so still, empty air stays exactly still;
- **density** is advected semi-Lagrangian (bilinear, values clamped to the domain) or by limited MacCormack
  in ``frames`` sub-steps with the velocity interpolated from ``v`` to ``v'``; then emitters add smoke up to
  saturation, as the solver's inflow does, and colliders hold none. Both schemes stay within the values they
  interpolate, so the step cannot create smoke outside emitters, nor raise density above 1.

With ``grid: mac`` the same network corrects a different structure: the solver's own step on its staggered
grid (face velocities, semi-Lagrangian sub-steps, the solver's forces and inflow, exact open-boundary
projection; see :mod:`fieldcast.training.models.smoke_mac` and the config), optionally with the emitters'
rate as an input channel (``rate_input``).

The network sees normalised inputs; the structure works in physical units (cells, frames, cells/frame). The
input layout is the smoke layout: density, velocity_x, velocity_y, earlier densities, emitter, collider.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fieldcast.training.models import smoke_mac as mac
from fieldcast.training.models.registry import register_model
from fieldcast.training.models.smoke_mac import confinement_force, dirichlet_poisson
from fieldcast.training.models.unet import UNet, UNetConfig

__all__ = [
    "SmokeFlow",
    "SmokeFlowConfig",
    "confinement_force",
    "curl_faces",
    "curl_velocity",
    "dirichlet_poisson",
    "maccormack",
    "semi_lagrangian",
]


@dataclass
class SmokeFlowConfig:
    in_channels: int = 6
    out_channels: int = 3
    frames: int = 1  # solver frames advanced per call (the dataset's time step in frames)
    coarsen: int = 2  # the network runs on a grid this many times coarser than the state
    depth: int = 3
    base_width: int = 16
    norm: str = "batch"
    activation: str = "gelu"
    bottleneck_blocks: int = 1
    padding_mode: str = "replicate"
    psi_scale: float = 1.0  # cells²/frame of Δψ per unit of network output
    max_rate: float = 0.5  # largest emitter injection, density per frame
    advect_velocity: bool = False  # carry the flow along itself first, as the solver does, then add curl(Δψ)
    hold_emitter_velocity: bool = False  # keep the input's velocity inside emitters instead of learning it
    # Impose the emitters' velocity (the input's, inside them) before the pressure solve instead of after
    # the network, as the solver imposes it before its projection: the jet leaves its emitter smoothly.
    emit_before_projection: bool = False
    density_advection: str = "semi_lagrangian"  # or "maccormack": second order, limited (less diffusion)
    velocity_advection: str = "semi_lagrangian"  # grid "mac" only: or "maccormack", as density_advection
    project: bool = False  # remove the input flow's divergence with a free-space pressure solve first
    project_radius: int = 16  # reach of that solve's kernel, in coarse cells
    # How that solve is done: "free_space" (the kernel above, on the coarse grid) or "dirichlet": the exact
    # solution of the 5-point Poisson equation on the whole state grid with zero pressure outside it (the
    # solver's open sides), by sine transforms written as matrix products (colliders are not seen).
    projection: str = "free_space"
    # Where there is no smoke, no emitter and no flow within ``gate_reach`` cells the flow does not change:
    # the network's Δψ is multiplied by a mask of the active region (so still, empty air stays still).
    gate_activity: bool = False
    gate_reach: int = 8  # cells
    gate_speed: float = 0.01  # cells/frame: a flow this fast counts as fully active
    # What counts as active: "activity" (smoke, emitters, moving air) or "controls" (only emitters and
    # colliders: the network corrects the structure where the user's controls shape the flow, and leaves the
    # free flow, whose errors are chaotic rather than systematic, to the structure).
    gate_on: str = "activity"
    # Advection sub-steps per call (density and the flow's self-advection). 0: one per solver frame, each
    # with the flow at its start. n >= 1: n steps of frames/n frames, each with the flow at its midpoint in
    # time; fewer sub-steps sample the grid fewer times (the step's largest cost on big grids).
    substeps: int = 0
    # Forces of the solver added to the flow before the projection (0: left to the network). ``buoyancy``
    # lifts the flow by this many cells/frame² per unit density, as the solver does; ``confinement`` is the
    # solver's vorticity-confinement strength. Both act over the whole step from the input state.
    buoyancy: float = 0.0
    confinement: float = 0.0
    # Where the flow lives inside the step. "cell": at the cell centres, as stored (the options above).
    # "mac": on the cell faces, as in the solver (see ``smoke_mac``): each of the ``substeps`` sub-steps
    # traces density and face velocity back along the flow (semi-Lagrangian, midpoint rule), adds the
    # solver's confinement and buoyancy, lets emitters inject smoke and impose their velocity, and projects
    # the faces exactly with zero pressure outside the grid; faces of colliders then carry no flow. The
    # network's curl(Δψ) is added to the faces at the end. density_advection and velocity_advection choose
    # each sub-step's advection (the solver's limited MacCormack costs three more samplings per field);
    # advect_velocity, project, projection, emit_before_projection and hold_emitter_velocity do not apply.
    grid: str = "cell"
    # The input holds the emitters' rate (density per frame, the channel before the two masks: data stored
    # with --set store_rate=true). Emitters then inject rate · 2σ(r), r the network's second map, which
    # starts at exactly the given rate (r = 0) and may learn to move it within [0, 2×]; without it the
    # network predicts the rate itself, up to max_rate.
    rate_input: bool = False
    rate_correction: bool = True  # with rate_input: False injects exactly the given rate (second map unused)
    # Play, like any host that re-imposes emitters, adds one frame's injection after each call: with this
    # the structure injects over frames - 1 of its frames, so a call and its re-imposition add what the
    # solver adds in ``frames`` frames (and Play's smoke budget, which counts the same, is not exceeded).
    host_emits_last_frame: bool = False
    # Grid "mac": after each sub-step's advection the density is scaled so that the grid holds what it held
    # before, less what left through the open sides (see ``smoke_mac.conserve``): the advection's own loss or
    # gain of smoke is undone, and total smoke changes only by inflow and outflow.
    conserve_smoke: bool = False

    def __post_init__(self) -> None:
        if self.in_channels < 6 or self.out_channels != 3:
            raise ValueError(
                "SmokeFlowConfig: the smoke layout has density, velocity_x, velocity_y, earlier densities, "
                f"emitter and collider as inputs and 3 outputs, not {self.in_channels} -> {self.out_channels}"
            )
        if self.rate_input and self.in_channels < 7:
            raise ValueError(
                "SmokeFlowConfig: rate_input needs the emitter_rate channel (7 inputs: train on data "
                f"generated with --set store_rate=true), not {self.in_channels}"
            )
        if self.frames < 1 or self.coarsen < 1:
            raise ValueError("SmokeFlowConfig: frames and coarsen must be at least 1")
        if self.substeps < 0:
            raise ValueError(
                f"SmokeFlowConfig: substeps must be 0 (one per frame) or more, not {self.substeps}"
            )
        if not self.buoyancy >= 0 or not self.confinement >= 0:
            raise ValueError("SmokeFlowConfig: buoyancy and confinement must be >= 0")
        if not self.psi_scale > 0 or not self.max_rate >= 0:
            raise ValueError("SmokeFlowConfig: psi_scale must be > 0 and max_rate >= 0")
        if self.gate_on not in ("activity", "controls"):
            raise ValueError(
                f"SmokeFlowConfig: gate_on must be 'activity' or 'controls', not {self.gate_on!r}"
            )
        if self.grid not in ("cell", "mac"):
            raise ValueError(f"SmokeFlowConfig: grid must be 'cell' or 'mac', not {self.grid!r}")
        if self.projection not in ("free_space", "dirichlet"):
            raise ValueError(
                f"SmokeFlowConfig: projection must be 'free_space' or 'dirichlet', not {self.projection!r}"
            )
        for name in ("density_advection", "velocity_advection"):
            if getattr(self, name) not in ("semi_lagrangian", "maccormack"):
                raise ValueError(
                    f"SmokeFlowConfig: {name} must be 'semi_lagrangian' or 'maccormack', "
                    f"not {getattr(self, name)!r}"
                )


def curl_faces(psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Face velocities of a stream function on the cell corners: x-faces (B, nx+1, ny), y-faces (B, nx, ny+1).

    ``psi`` (B, nx, ny) holds ψ at the upper corners (i + ½, j + ½); the lower boundary row and column repeat
    their neighbours. ``u = ∂ψ/∂y`` on x-faces and ``v = -∂ψ/∂x`` on y-faces, so the face divergence
    ``u[i+1] - u[i] + v[j+1] - v[j]`` of every cell cancels exactly.
    """
    corners = F.pad(psi.unsqueeze(1), (1, 0, 1, 0), mode="replicate").squeeze(1)  # (B, nx+1, ny+1)
    return corners[:, :, 1:] - corners[:, :, :-1], corners[:, :-1, :] - corners[:, 1:, :]


def curl_velocity(psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell-centred velocity of :func:`curl_faces`, (B, nx, ny) each: the mean of each cell's opposite faces,
    as the solver's cell-centred velocity is."""
    u, v = curl_faces(psi)
    return 0.5 * (u[:, :-1] + u[:, 1:]), 0.5 * (v[:, :, :-1] + v[:, :, 1:])


def semi_lagrangian(field: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, dt: float) -> torch.Tensor:
    """``field`` (B, nx, ny) or (B, C, nx, ny) carried by the cell-centred velocity (B, nx, ny) over ``dt``
    frames, bilinear, clamped at the edges."""
    nx, ny = field.shape[-2:]
    ix = torch.arange(nx, dtype=field.dtype, device=field.device).view(1, nx, 1)
    iy = torch.arange(ny, dtype=field.dtype, device=field.device).view(1, 1, ny)
    # grid_sample's last grid axis is (width, height) = (y index, x index), normalised to [-1, 1].
    gx = (iy - dt * vy) * (2.0 / (ny - 1)) - 1.0
    gy = (ix - dt * vx) * (2.0 / (nx - 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)  # (B, nx, ny, 2)
    planes = field.unsqueeze(1) if field.dim() == 3 else field
    out = F.grid_sample(planes, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.squeeze(1) if field.dim() == 3 else out


def maccormack(field: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, dt: float) -> torch.Tensor:
    """``field`` (B, nx, ny) advected by limited MacCormack: a forward and a backward semi-Lagrangian step
    correct the first one's error, and the result is clamped to the range of the 3×3 neighbourhood of the
    departure point, so it never leaves the values advection could bring there (no new extrema)."""
    planes = field.unsqueeze(1)
    high = F.max_pool2d(planes, 3, stride=1, padding=1)
    low = -F.max_pool2d(-planes, 3, stride=1, padding=1)
    # The forward step and the bounds share one departure point: one sampling of three planes.
    ahead = semi_lagrangian(torch.cat([planes, low, high], dim=1), vx, vy, dt)
    forward = ahead[:, 0]
    back = semi_lagrangian(forward, vx, vy, -dt)
    corrected = forward + 0.5 * (field - back)
    return torch.minimum(torch.maximum(corrected, ahead[:, 1]), ahead[:, 2])


def pressure_kernel(radius: int, spacing: float) -> torch.Tensor:
    """Cross-correlation weights (2, 1, k, k) giving ∇p from a divergence field, k = 2 ``radius`` + 1.

    In free space ∇²p = div v has p = G * div v with G = ln(r) / 2π, so ∇p = ∇G * div v with
    ∇G(r) = r / (2π r²). On a grid of ``spacing`` cells, each offset k carries
    ``spacing² ∇G(spacing k)`` = spacing k / (2π |k|²); cross-correlation reads the kernel at -k, hence the
    sign.
    """
    ax = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kx, ky = torch.meshgrid(ax, ax, indexing="ij")
    r2 = kx * kx + ky * ky
    r2[radius, radius] = 1.0  # the centre carries nothing (kx = ky = 0 there)
    scale = -spacing / (2.0 * torch.pi * r2)
    return torch.stack([kx * scale, ky * scale]).unsqueeze(1).to(torch.float32)


def central_divergence(vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """Central-difference divergence of cell-centred velocity (B, nx, ny), zero on the outermost cells."""
    dx = F.pad(vx[:, 2:, :] - vx[:, :-2, :], (0, 0, 1, 1))
    dy = F.pad(vy[:, :, 2:] - vy[:, :, :-2], (1, 1, 0, 0))
    return 0.5 * (dx + dy)


@register_model("smoke_flow", SmokeFlowConfig, version="1")
class SmokeFlow(nn.Module):
    """Network for the flow, fixed structure for incompressibility, advection and emission (see module)."""

    physical_io = True  # forward takes (normalised input, physical input) and returns the physical state

    def __init__(self, config: SmokeFlowConfig) -> None:
        super().__init__()
        self.config = config
        self.net = UNet(
            UNetConfig(
                in_channels=config.in_channels,
                out_channels=2,
                depth=config.depth,
                base_width=config.base_width,
                norm=config.norm,
                activation=config.activation,
                upsampling="bilinear",
                residual=True,
                bottleneck_blocks=config.bottleneck_blocks,
                padding_mode=config.padding_mode,
            )
        )
        if config.grid == "cell" and config.project and config.projection == "free_space":
            kernel = pressure_kernel(config.project_radius, float(config.coarsen))
            self.register_buffer("pressure_kernel", kernel, persistent=False)
        # Start as "flow unchanged, smoke carried by it": the head begins at zero.
        nn.init.zeros_(self.net.head.weight)
        nn.init.zeros_(self.net.head.bias)

    @property
    def grid_multiple(self) -> int:
        return self.config.coarsen * 2**self.config.depth

    def _maps(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """The network's two maps on the state's grid: (B, 2, nx, ny), Δψ and the rate's logit; with the
        physical input ``x`` and ``gate_activity``, Δψ is masked (on the coarse grid) to the active region."""
        c = self.config
        coarse = F.avg_pool2d(z, c.coarsen) if c.coarsen > 1 else z
        out = self.net(coarse)  # (B, 2, nx/c, ny/c)
        if c.gate_activity and x is not None:
            out = torch.cat([out[:, :1] * self.activity(x), out[:, 1:]], dim=1)
        if c.coarsen > 1:
            out = F.interpolate(out, size=z.shape[-2:], mode="bilinear", align_corners=False)
        return out

    def _substeps(self) -> tuple[int, float]:
        """Advection sub-steps per call and their length in frames."""
        c = self.config
        n = c.substeps or c.frames
        return n, c.frames / n

    def _self_advected(self, vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow carried along itself over ``frames`` frames in semi-Lagrangian sub-steps."""
        n, dt = self._substeps()
        for _ in range(n):
            both = semi_lagrangian(torch.stack([vx, vy], dim=1), vx, vy, dt)
            vx, vy = both[:, 0], both[:, 1]
        return vx, vy

    def _projected(self, vx: torch.Tensor, vy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow less the pressure gradient of its divergence (what the solver's projection does when an
        emitter blows into still air: the flow around it), solved as ``projection`` says."""
        c = self.config
        if c.projection == "dirichlet":
            p = dirichlet_poisson(central_divergence(vx, vy))
            padded = F.pad(p.unsqueeze(1), (1, 1, 1, 1)).squeeze(1)  # zero pressure outside the grid
            gx = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
            gy = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
            return vx - gx, vy - gy
        div = central_divergence(vx, vy).unsqueeze(1)
        if c.coarsen > 1:
            div = F.avg_pool2d(div, c.coarsen)
        grad = F.conv2d(div, self.pressure_kernel, padding=c.project_radius)  # (B, 2, nx/c, ny/c)
        if c.coarsen > 1:
            grad = F.interpolate(grad, size=vx.shape[-2:], mode="bilinear", align_corners=False)
        return vx - grad[:, 0], vy - grad[:, 1]

    def activity(self, x: torch.Tensor) -> torch.Tensor:
        """Mask (B, 1, nx/c, ny/c) in [0, 1] on the network's coarse grid: 1 within ``gate_reach`` cells of
        smoke, an emitter or moving air, 0 in still, empty air (physical ``x``)."""
        c = self.config
        if c.gate_on == "controls":
            level = (x[:, -2].clamp(min=0.0) + (x[:, -1] > 0.5).to(x.dtype)).unsqueeze(1)
        else:
            speed = x[:, 1].abs() + x[:, 2].abs()  # exactly 0 in still air (a norm's sqrt needs an epsilon)
            level = (x[:, 0].abs() / 0.01 + x[:, -2].clamp(min=0.0) + speed / c.gate_speed).unsqueeze(1)
        if c.coarsen > 1:
            level = F.max_pool2d(level, c.coarsen)
        r = -(-c.gate_reach // c.coarsen)  # in coarse cells, rounded up
        # A square window's maximum as two 1D maxima (rows, then columns): the same result, far cheaper.
        level = F.max_pool2d(level, (2 * r + 1, 1), stride=1, padding=(r, 0))
        level = F.max_pool2d(level, (1, 2 * r + 1), stride=1, padding=(0, r))
        return level.clamp(max=1.0)

    def _advect(self, density: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, dt: float) -> torch.Tensor:
        if self.config.density_advection == "maccormack":
            return maccormack(density, vx, vy, dt)
        return semi_lagrangian(density, vx, vy, dt)

    def stream_change(self, z: torch.Tensor) -> torch.Tensor:
        """Δψ over the step, (B, nx, ny) in cells²/frame, from the normalised input ``z``."""
        return self._maps(z)[:, 0] * self.config.psi_scale

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``z`` normalised and ``x`` physical input (B, C_in, nx, ny) -> next state (B, 3, nx, ny)."""
        if self.config.grid == "mac":
            return self._forward_mac(z, x)
        c = self.config
        density, vx, vy = x[:, 0], x[:, 1], x[:, 2]
        emitter = x[:, -2].clamp(0.0, 1.0)
        fluid = (x[:, -1] <= 0.5).to(x.dtype)
        emitter = emitter * fluid
        out = self._maps(z, x)
        dvx, dvy = curl_velocity(out[:, 0] * c.psi_scale)
        bx, by = self._self_advected(vx, vy) if c.advect_velocity else (vx, vy)
        if c.confinement:
            fx, fy = confinement_force(bx, by, c.confinement)
            bx, by = bx + c.frames * fx, by + c.frames * fy
        if c.buoyancy:
            by = by + (c.frames * c.buoyancy) * density
        if c.emit_before_projection:
            bx = bx + emitter * (vx - bx)
            by = by + emitter * (vy - by)
        if c.project:
            bx, by = self._projected(bx, by)
        vx1, vy1 = (bx + dvx) * fluid, (by + dvy) * fluid
        if c.hold_emitter_velocity:
            # Inside emitters the flow keeps the velocity it has now: the emitter's, imposed by Play on every
            # input (train on data stored with --set impose_emitters=true, which is the same convention).
            vx1 = vx1 + emitter * (vx - vx1)
            vy1 = vy1 + emitter * (vy - vy1)
        rate = self._rate(out, x)
        n, dt = self._substeps()
        shift = 0.5 if c.substeps else 0.0  # midpoint of each sub-step, or its start (one per frame)
        for j in range(n):
            a = (j + shift) / n  # where in the step the sub-step's flow lies, between v and v'
            density = self._advect(density, vx + a * (vx1 - vx), vy + a * (vy1 - vy), dt)
            # Inflow as in the solver: add up to saturation, never remove.
            density = torch.maximum(density, torch.clamp(density + dt * rate * emitter, max=1.0)) * fluid
        return torch.stack([density, vx1, vy1], dim=1)

    def _rate(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Emitters' injection rate (B, nx, ny), density per frame (see ``rate_input``)."""
        if self.config.rate_input:
            rate = x[:, -3].clamp(min=0.0)
            return rate * (2.0 * torch.sigmoid(out[:, 1])) if self.config.rate_correction else rate
        return self.config.max_rate * torch.sigmoid(out[:, 1])

    def _forward_mac(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The step on the solver's staggered grid (``grid: mac``, see the config)."""
        c = self.config
        density, vx, vy = x[:, 0], x[:, 1], x[:, 2]
        fluid = (x[:, -1] <= 0.5).to(x.dtype)
        emitter = x[:, -2].clamp(0.0, 1.0) * fluid
        out = self._maps(z, x)
        rate = self._rate(out, x)
        if c.host_emits_last_frame:
            rate = rate * ((c.frames - 1) / c.frames)
        u, v = mac.faces_from_cells(vx, vy)
        eu, ev = u, v  # inside emitters the input holds their velocity (Play imposes it)
        u_free, v_free = mac.free_faces(fluid)
        n, dt = self._substeps()
        maccormack = (c.density_advection == "maccormack", c.velocity_advection == "maccormack")
        for _ in range(n):
            if c.conserve_smoke:
                budget = density.sum(dim=(-2, -1), keepdim=True) - dt * mac.boundary_outflow(density, u, v)
            density, u, v = mac.advect_mac(density, u, v, dt, *maccormack)
            if c.conserve_smoke:
                density = mac.conserve(density, budget)
            if c.confinement:
                u, v = mac.confinement_faces(u, v, c.confinement, dt)
            if c.buoyancy:
                v = v + (dt * c.buoyancy) * mac.faces_from_cells(density, density)[1]
            density, u, v = mac.emit(density, u, v, emitter, rate, eu, ev, dt)
            u, v = mac.project_open(u, v)
            u, v = u * u_free, v * v_free
            density = density * fluid
        du, dv = curl_faces(out[:, 0] * c.psi_scale)
        vx1, vy1 = mac.cell_velocity((u + du) * u_free, (v + dv) * v_free)
        return torch.stack([density, vx1, vy1], dim=1)
