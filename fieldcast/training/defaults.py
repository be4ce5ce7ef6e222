"""A recipe for any dataset, built from the dataset's own fields and roles: no hand-written YAML needed.

``fieldcast train --data FILE`` without a recipe, and the Train panel's "default for this dataset", use
:func:`default_recipe`. Field data (a grid) gets the UNet rollout family sized to the grid: a residual
ResUNet predicting the change of every state channel from the current state and the control channels,
one step at a time; per-sample data (a 1×1 grid, e.g. a trajectory) gets the streaming LSTM; (condition,
target) data of kind ``generative`` gets conditional diffusion with the Swin-conditioned UNet. The recipe
says ``system: auto`` so it fits any file with the same fields, and ``data.split: auto`` so a file with
fewer than three trajectories is cut along time rather than validated on its own training frames.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["default_recipe", "default_recipe_name"]


def default_recipe_name(dataset: Any) -> str:
    """``default-<file stem>``, safe as a run folder name."""
    path = getattr(dataset, "path", None)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem if path is not None else "data")
    return f"default-{stem}"[:80]


def _unet_size(grid: tuple[int, ...]) -> dict[str, Any]:
    """Depth so the coarsest level keeps at least 4 cells; width grows gently with the grid."""
    smallest = max(1, min(grid))
    depth = max(1, min(4, int(math.log2(max(smallest // 4, 1))) if smallest >= 8 else 1))
    width = 16 if max(grid) <= 64 else 24 if max(grid) <= 256 else 32
    return {"depth": depth, "base_width": width, "norm": "group", "groups": 4, "activation": "gelu"}


def default_recipe(dataset: Any) -> dict[str, Any]:
    """A complete recipe (plain data, as a YAML file would hold) for ``dataset`` (an engine dataset)."""
    spec = dataset.spec
    grid = tuple(int(n) for n in dataset.grid)
    description = f"default recipe for {getattr(dataset, 'path', 'the dataset')}"
    if spec.kind == "generative":
        return _generative_recipe(dataset, grid, description)
    if grid == (1, 1) or spec.kind == "sequence":
        return {
            "name": default_recipe_name(dataset),
            "description": description + " (streaming LSTM)",
            "system": "auto",
            "task": "sequence",
            "data": {"split": "auto", "batch_size": 64},
            "sequence": {"seq_len": 50, "stride": 10, "warmup": 10},
            "model": {"name": "lstm", "args": {"encoder_size": 32, "hidden_size": 64, "num_layers": 2}},
            "loss": {"mse": 0.0, "hybrid": 1.0, "hybrid_alpha": 0.7},
            "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 1.0},
            "train": {"epochs": 10, "log_every": 10},
        }
    return {
        "name": default_recipe_name(dataset),
        "description": description + " (ResUNet rollout, one step)",
        "system": "auto",
        "task": "field_rollout",
        "data": {"split": "auto", "batch_size": 8},
        "model": {"name": "unet", "args": _unet_size(grid)},
        "loss": {"mse": 1.0},
        "rollout": {"steps": 1, "residual": True},
        "optim": {"name": "adamw", "lr": 1e-3, "grad_clip": 1.0},
        "scheduler": {"name": "cosine_restarts", "warmup_steps": 20, "restart_period": 1000},
        "train": {"epochs": 10, "log_every": 10, "rollout_horizons": [5, 20], "rollout_test_trajectories": 2},
    }


def _generative_recipe(dataset: Any, grid: tuple[int, ...], description: str) -> dict[str, Any]:
    """Conditional diffusion with the Swin-conditioned UNet, as deep as the grid halves evenly (up to 4
    levels, the coarsest at least 4 cells)."""
    levels = 1
    while levels < 4 and all(n % 2**levels == 0 and n // 2**levels >= 4 for n in grid):
        levels += 1
    stages = max(1, min(3, levels - 1))
    return {
        "name": default_recipe_name(dataset),
        "description": description + " (conditional diffusion, Swin-conditioned UNet)",
        "system": "auto",
        "task": "generative",
        "data": {"split": "auto", "batch_size": 8},
        "model": {
            "name": "diffusion_unet",
            "args": {
                "widths": [16, 32, 64, 128][: max(levels, 2)],
                "swin_depths": [2] * stages,
                "swin_heads": [2, 4, 8][:stages],
                "window": 8,
            },
        },
        "generative": {"objective": "diffusion", "sample_steps": 20},
        "optim": {"name": "adam", "lr": 1e-3, "grad_clip": 1.0},
        "scheduler": {"name": "linear", "warmup_steps": 50},
        "train": {"epochs": 10, "log_every": 10},
    }
