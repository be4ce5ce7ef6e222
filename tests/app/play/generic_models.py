"""Tiny field models of systems Fieldcast does not know (their spec travels in the model), and a dataset.

Built with onnx.helper, no torch. Each model is a 1×1 convolution whose effect is known exactly, so a test
can say what the next frame must be:

- :func:`write_reaction_model` (``generic:test_reaction``): state ``u``, ``v``; control ``src``;
  ``u' = u + src``, ``v' = v + 0.5 u``. Painting ``src`` raises ``u`` where it is painted, one step later.
- :func:`write_drift_model` (``foreignsim``): state ``a``, ``flow_x``, ``flow_y`` (a vector field), history 2
  on ``a``; no controls; ``a' = 2 a - a@t-1`` (linear extrapolation in time), flow kept. From a dataset
  whose ``a`` grows linearly in time it predicts the next stored frame exactly, which needs the true
  earlier frame in its history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx_models import make_conv_model

from fieldcast.engine.data import DatasetWriter
from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.systems.base import FieldSpec, SystemSpec, spec_to_dict

REACTION = SystemSpec(
    name="generic:test_reaction",
    fields=(
        FieldSpec("u", role="state", units="mol/l", colormap="inferno"),
        FieldSpec("v", role="state", units="mol/l", colormap="viridis"),
        FieldSpec("src", role="control", units="mol/l"),
    ),
    dt=0.1,
    description="a reaction model from elsewhere",
)

DRIFT = SystemSpec(
    name="foreignsim",
    fields=(
        FieldSpec("a", role="state", units="K", colormap="magma"),
        FieldSpec("flow", role="state", order=1, units="m/s", colormap="coolwarm"),
    ),
    history=2,
)


def reaction_info(grid: tuple[int, int] = (16, 16), data_path: Path | None = None) -> ModelInfo:
    return ModelInfo(
        system=REACTION.name,
        input_channels=("u", "v", "src"),
        output_channels=("u", "v"),
        history=1,
        layout={"state": ["u", "v"], "history_state": [], "controls": ["src"], "vectors": [], "solid": None},
        input_units=("mol/l", "mol/l", "mol/l"),
        output_units=("mol/l", "mol/l"),
        grid=grid,
        provenance={"run": "test", "data_path": str(data_path) if data_path else None},
        spec=spec_to_dict(REACTION),
    )


def write_reaction_model(path: Path, grid: tuple[int, int] = (16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    weight = np.zeros((2, 3, 1, 1), np.float32)
    weight[0, 0] = weight[0, 2] = 1.0  # u' = u + src
    weight[1, 1], weight[1, 0] = 1.0, 0.5  # v' = v + 0.5 u
    return make_conv_model(path, reaction_info(grid), weight, np.zeros(2, np.float32))


def drift_info(data_path: Path | None, grid: tuple[int, int] = (16, 16)) -> ModelInfo:
    return ModelInfo(
        system=DRIFT.name,
        input_channels=("a", "flow_x", "flow_y", "a@t-1"),
        output_channels=("a", "flow_x", "flow_y"),
        history=2,
        layout={
            "state": ["a", "flow_x", "flow_y"],
            "history_state": ["a"],
            "controls": [],
            "vectors": [["flow_x", "flow_y"]],
            "solid": None,
        },
        grid=grid,
        provenance={"run": "test", "data_path": str(data_path) if data_path else None},
        spec=spec_to_dict(DRIFT),
    )


def write_drift_model(path: Path, data_path: Path | None = None, grid: tuple[int, int] = (16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    weight = np.zeros((3, 4, 1, 1), np.float32)
    weight[0, 0], weight[0, 3] = 2.0, -1.0  # a' = 2 a - a@t-1
    weight[1, 1] = weight[2, 2] = 1.0
    return make_conv_model(path, drift_info(data_path, grid), weight, np.zeros(3, np.float32))


def drift_frames(trajectory: int, n_frames: int = 6, grid: tuple[int, int] = (16, 16)) -> np.ndarray:
    """``a`` of one trajectory, (T, nx, ny): a pattern that grows linearly in time."""
    x, y = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    base = np.sin(0.4 * x + trajectory) + 0.1 * y
    rate = 0.25 * (1 + trajectory) * np.cos(0.3 * y)
    return np.stack([base + t * rate for t in range(n_frames)]).astype(np.float32)


def write_drift_data(path: Path, trajectories: int = 2, n_frames: int = 6, grid=(16, 16)) -> Path:
    """A dataset of the drift system, written as any Well-layout file from elsewhere would be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with DatasetWriter(path, DRIFT, n_frames=n_frames, grid=grid) as w:
        for k in range(trajectories):
            flow = np.zeros((n_frames, *grid, 2), np.float32)
            flow[..., 0] = 0.5 + k
            w.append({"a": drift_frames(k, n_frames, grid), "flow": flow})
    return path
