"""K-step autoregressive rollout: the channel layout a model sees, and the rollout as one module.

The layout is derived from the system spec. For a step from frame ``t`` to ``t+1`` the model input is::

    [state at t] + [history channels at t-1] + ... + [history channels at t-h+1] + [controls at t]

(for smoke: density, velocity_x, velocity_y, density@t-1, emitter, collider) and its output is the state at
``t+1``. After each step the controls of ``t+1`` are re-imposed on the prediction as the engine does at play
time (vector fields zeroed inside the solid mask, non-negative channels clamped), then the prediction becomes
the next input. Everything here works in physical units; :class:`SurrogateStep` carries the normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fieldcast.engine.systems.base import SystemSpec

__all__ = ["ChannelLayout", "RolloutModule", "SurrogateStep", "build_layout", "rollout_weights"]


@dataclass(frozen=True)
class ChannelLayout:
    """Where each model input and output comes from, as indices into the dataset's channels."""

    channel_names: tuple[str, ...]  # dataset channel order
    state: tuple[int, ...]  # dataset indices of state channels (the model's outputs, in order)
    history: int  # frames of state the model sees
    history_state: tuple[int, ...]  # positions *within state* of channels kept for earlier frames
    controls: tuple[int, ...]  # dataset indices of control / conditioning channels
    vectors: tuple[tuple[int, ...], ...]  # positions within state of each vector field's components
    solid: int | None = None  # position within controls of the solid mask
    nonnegative: tuple[int, ...] = ()  # positions within state clamped at >= 0

    @property
    def in_channels(self) -> int:
        return len(self.state) + (self.history - 1) * len(self.history_state) + len(self.controls)

    @property
    def out_channels(self) -> int:
        return len(self.state)

    def input_names(self) -> list[str]:
        """Names of the model's input channels, e.g. ``density@t-1`` for an earlier frame."""
        names = [self.channel_names[i] for i in self.state]
        for lag in range(1, self.history):
            names += [f"{self.channel_names[self.state[j]]}@t-{lag}" for j in self.history_state]
        return names + [self.channel_names[i] for i in self.controls]

    def output_names(self) -> list[str]:
        return [self.channel_names[i] for i in self.state]


def build_layout(
    spec: SystemSpec,
    channel_names: Sequence[str],
    history_channels: Sequence[str] | None = None,
    solid_mask: str | None = None,
    nonnegative: Sequence[str] = (),
    state_channels: Sequence[str] | None = None,
) -> ChannelLayout:
    """Derive the layout from ``spec`` for data whose channels are ``channel_names``.

    ``state_channels`` names the state channels (or whole fields) the model sees and predicts, kept in the
    system's order; None keeps all of them. ``history_channels`` names those (or whole fields) kept for
    frames before ``t``; None keeps all of them. Raises ValueError naming any channel that is not in the data
    or not a state channel.
    """
    names = list(channel_names)

    def index(name: str, what: str) -> int:
        if name not in names:
            raise ValueError(f"{what} {name!r} is not a channel of the data ({', '.join(names)})")
        return names.index(name)

    chosen = [c.name for c in spec.channels("state")]
    if state_channels is not None:
        wanted = []
        for s in state_channels:
            fields = [c.name for c in spec.channels("state") if c.field == s]
            wanted += fields or [s if s in chosen else _missing(s, chosen)]
        if not wanted:
            raise ValueError("state_channels is empty: the model must predict at least one state channel")
        chosen = [n for n in chosen if n in wanted]
    state = [index(n, "state channel") for n in chosen]
    controls = [index(c.name, "control channel") for c in spec.channels() if c.role != "state"]
    state_names = [names[i] for i in state]
    if history_channels is None:
        hist = list(range(len(state)))
    else:
        expanded = []
        for h in history_channels:
            fields = [c.name for c in spec.channels("state") if c.field == h]
            expanded += fields or [h]
        hist = [state_names.index(n) if n in state_names else _missing(n, state_names) for n in expanded]
    vectors = []
    for f in spec.fields_with_role("state"):
        comps = f.component_names(spec.n_dims)
        if f.order == 1 and all(n in state_names for n in comps):
            vectors.append(tuple(state_names.index(n) for n in comps))
    control_names = [names[i] for i in controls]
    solid = None
    if solid_mask is not None:
        solid = (
            control_names.index(solid_mask)
            if solid_mask in control_names
            else _missing(solid_mask, control_names)
        )
    nonneg = [state_names.index(n) if n in state_names else _missing(n, state_names) for n in nonnegative]
    return ChannelLayout(
        tuple(names),
        tuple(state),
        spec.history,
        tuple(hist),
        tuple(controls),
        tuple(vectors),
        solid,
        tuple(nonneg),
    )


def _missing(name: str, known: list[str]) -> int:
    raise ValueError(f"channel {name!r} is not one of {', '.join(known)}")


def rollout_weights(steps: int, gamma: float) -> torch.Tensor:
    """w_k = gamma**k normalised by their sum, k = 0..steps-1."""
    w = torch.tensor([gamma**k for k in range(steps)], dtype=torch.float64)
    return (w / w.sum()).to(torch.float32)


class SurrogateStep(nn.Module):
    """One step in physical units: normalise the input, run the model, de-normalise the next state (or Δ)."""

    def __init__(self, model: nn.Module, in_mean, in_std, out_mean, out_std, residual: bool = False) -> None:
        super().__init__()
        self.model = model
        # With ``residual`` the model predicts the change of the state over one step (next = current + Δ):
        # it starts from persistence instead of having to learn the identity through the whole UNet.
        self.residual = bool(residual)
        # Stats as (1, C, 1, 1) buffers so they travel with the module to its device (and into ONNX).
        self.register_buffer("in_mean", torch.as_tensor(in_mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("in_std", torch.as_tensor(in_std, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("out_mean", torch.as_tensor(out_mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("out_std", torch.as_tensor(out_std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self.model, "physical_io", False):
            # A model with physics built in sees both and returns the next state in physical units.
            return self.model((x - self.in_mean) / self.in_std, x)
        z = self.model((x - self.in_mean) / self.in_std)  # (B, Cs, nx, ny), normalised units
        if self.residual:
            # The state channels come first in the input, in output order (see ChannelLayout).
            return x[:, : z.shape[1]] + z * self.out_std
        return z * self.out_std + self.out_mean


class RolloutModule(nn.Module):
    """The whole K-step rollout as one forward, so DistributedDataParallel sees one forward per backward."""

    def __init__(self, step: SurrogateStep, layout: ChannelLayout, input_noise: float = 0.0) -> None:
        super().__init__()
        self.step = step
        self.layout = layout
        # Std of Gaussian noise added, in training mode only, to the state channels of the first step's input
        # frames, in normalised units (Sanchez-Gonzalez et al. 2020): the targets stay clean, so the model
        # learns to correct small errors of its own inputs instead of amplifying them in long rollouts.
        if not input_noise >= 0.0:
            raise ValueError(f"input_noise must be >= 0, got {input_noise!r}")
        self.input_noise = float(input_noise)

    def perturb(self, frames: list[torch.Tensor]) -> list[torch.Tensor]:
        """``frames`` with noise of std ``input_noise`` × the state channels' input std, if training."""
        if not (self.training and self.input_noise > 0.0):
            return frames
        std = self.step.in_std[:, : len(self.layout.state)] * self.input_noise  # (1, Cs, 1, 1)
        return [f + torch.randn_like(f) * std.to(f.dtype) for f in frames]

    def impose(self, state: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """Re-impose the controls of the predicted frame on ``state`` (B, Cs, nx, ny)."""
        lay = self.layout
        if lay.solid is None and not lay.nonnegative:
            return state
        chans = list(state.unbind(1))
        if lay.solid is not None:
            fluid = (controls[:, lay.solid] <= 0.5).to(state.dtype)  # (B, nx, ny)
            for comps in lay.vectors:
                for j in comps:
                    chans[j] = chans[j] * fluid
        for j in lay.nonnegative:
            chans[j] = chans[j].clamp(min=0.0)
        return torch.stack(chans, dim=1)

    def model_input(self, frames: list[torch.Tensor], controls: torch.Tensor) -> torch.Tensor:
        """Stack the input: ``frames`` are the last ``history`` states, oldest first, each (B, Cs, nx, ny)."""
        parts = [frames[-1]]
        hist = list(self.layout.history_state)
        for lag in range(2, self.layout.history + 1):
            parts.append(frames[-lag][:, hist])
        parts.append(controls)
        return torch.cat(parts, dim=1)  # (B, Cin, nx, ny)

    def forward(self, window: torch.Tensor, steps: int, truncate: bool = False) -> torch.Tensor:
        """Roll ``steps`` frames forward from the first ``history`` frames of ``window``.

        Parameters
        ----------
        window : (B, L, C, nx, ny) physical units, L >= history + steps; controls are read from it.
        truncate : detach each prediction before it becomes the next input.
        In training mode with ``input_noise`` > 0 the first ``history`` frames' states are perturbed first.

        Returns
        -------
        (B, steps, Cs, nx, ny) predicted states for frames history .. history+steps-1.
        """
        lay = self.layout
        h = lay.history
        state_idx = list(lay.state)
        ctrl_idx = list(lay.controls)
        frames = self.perturb([window[:, i, state_idx] for i in range(h)])
        preds = []
        for k in range(steps):
            t = h - 1 + k
            x = self.model_input(frames[-h:], window[:, t, ctrl_idx])
            pred = self.impose(self.step(x), window[:, t + 1, ctrl_idx])  # (B, Cs, nx, ny)
            preds.append(pred)
            frames.append(pred.detach() if truncate else pred)
        return torch.stack(preds, dim=1)
