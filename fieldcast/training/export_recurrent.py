"""Export of a recurrent-field run (the melt microstructure ConvLSTM) to one self-describing ONNX file.

The recurrent state is an explicit input/output so the engine can stream it; cells liquid at ``t+1`` (where
the system states a liquidus) are forced to orientation 0 inside the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["export_convlstm"]


class _LiquidMask(torch.nn.Module):
    """The model with cells liquid at ``t+1`` forced to orientation 0, in normalised units (for export)."""

    def __init__(self, model: torch.nn.Module, norm: dict[str, list[float]], liquidus: float) -> None:
        super().__init__()
        self.model = model
        self.recurrent_states = model.recurrent_states
        self.grid_multiple = model.grid_multiple
        self.t_next = len(norm["in_mean"]) - 1  # T(t+1) is the last input channel
        self.threshold = (liquidus - norm["in_mean"][-1]) / norm["in_std"][-1]
        zero = [-m / s for m, s in zip(norm["out_mean"], norm["out_std"], strict=True)]
        self.register_buffer("zero", torch.tensor(zero, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, *new = self.model(x, *states)  # (B, 9, H, W) normalised, then the (h, c) state
        liquid = x[:, self.t_next : self.t_next + 1] >= self.threshold  # (B, 1, H, W)
        return (torch.where(liquid, self.zero, y), *new)


def export_convlstm(weights: str | Path, out: str | Path) -> dict[str, Any]:
    """Export a microstructure checkpoint to one self-describing ONNX file with explicit recurrent state.

    Inputs ``fields`` = [ipf(t) ×9, temperature(t), temperature(t+1)] in physical units plus
    ``recurrent_in_0/1`` (h, c) at 1/8 resolution (zeros at the start); outputs ``next_fields`` (ipf(t+1))
    and ``recurrent_out_0/1``. Returns the parity against torch over a 3-step stream (max abs difference).
    """
    import onnx

    from fieldcast.engine.model_format import ModelInfo
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.training.checkpoint import atomic_write, load_model
    from fieldcast.training.export_onnx import recurrent_states, set_metadata, to_onnx
    from fieldcast.training.rollout import SurrogateStep

    model, side = load_model(weights)
    norm = side["normalisation"]
    wrapped = _LiquidMask(model.eval(), norm, float(side["liquidus"]))
    step = SurrogateStep(wrapped, norm["in_mean"], norm["in_std"], norm["out_mean"], norm["out_std"]).eval()
    grid = tuple(side["grid"])
    state = list(side.get("state_channels") or norm["output_names"])
    controls = [n for n in norm["input_names"] if n not in state]
    info = ModelInfo(
        system="melt",
        input_channels=tuple(norm["input_names"]),
        output_channels=tuple(norm["output_names"]),
        history=1,
        layout={
            "state": state,
            "history_state": [],
            "controls": controls,
            "vectors": [],
            "solid": None,
            "nonnegative": state,
        },  # fmt: skip
        input_units=("1",) * 9 + ("K", "K"),
        output_units=("1",) * 9,
        grid=grid,
        grid_multiple=wrapped.grid_multiple,
        dt=float(side.get("dt") or 1.0),
        time_units="s",
        provenance={"checkpoint": Path(weights).stem, "step": side.get("step"), "kind": side.get("kind")},
        metrics=dict(side.get("metric") or {}),
        model=dict(side["model"]),
        recurrent=recurrent_states(wrapped),
    )
    graph = set_metadata(to_onnx(step, grid, dynamic_grid=True), info)
    # The exporter restores its (fresh, training-mode) wrapper's mode on the whole tree; parity needs eval.
    step.eval()
    onnx.checker.check_model(graph)
    atomic_write(Path(out), graph.SerializeToString())
    return {"path": str(out), "max_abs_diff": _stream_parity(step, ModelSession(out), info, grid)}


@torch.no_grad()
def _stream_parity(step, session, info, grid: tuple[int, int]) -> float:
    """Max |onnx - torch| over three streamed steps on random physical inputs."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 11, *grid, generator=gen)
    x[:, 9:] = 300.0 + 2000.0 * x[:, 9:]  # temperatures in K, some above the liquidus
    states = [torch.zeros(r.shape(2, *grid)) for r in info.recurrent]
    feeds = {r.input: s.numpy() for r, s in zip(info.recurrent, states, strict=True)}
    worst = 0.0
    for _ in range(3):
        s = step
        z, *states = s.model((x - s.in_mean) / s.in_std, *states)
        ref = z * s.out_std + s.out_mean
        out = session.run({"fields": x.numpy(), **feeds})
        worst = max(worst, float(np.abs(out["next_fields"] - ref.numpy()).max()))
        feeds = {r.input: out[r.output].copy() for r in info.recurrent}
    return worst
