"""Tiny (condition, target) datasets of kind "generative" for the generative task's tests.

Each pair: a building mask (one rectangle) and a transmitter blob (Gaussian, peak 1) as the condition; the
target is a smooth "power" map falling off with distance from the transmitter, lower inside the building,
so a network has something to learn that the mean map does not know.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fieldcast.engine.data import DatasetWriter
from fieldcast.engine.systems.base import FieldSpec, SystemSpec

SPEC = SystemSpec(
    name="thermal-imaging",
    kind="generative",
    time_units="frame",
    fields=(
        FieldSpec("buildings", role="conditioning", units="1"),
        FieldSpec("transmitter", role="conditioning", units="1"),
        FieldSpec("power_db", role="state", units="dB"),
    ),
    extra={"source": "radio"},
)


def pair(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    x, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    b = np.zeros((n, n), np.float32)
    x0, y0 = rng.integers(0, n // 2, 2)
    b[x0 : x0 + n // 4, y0 : y0 + n // 3] = 1.0
    tx, ty = rng.uniform(0, n - 1, 2)
    d2 = (x - tx) ** 2 + (y - ty) ** 2
    blob = np.exp(-d2 / 2.0).astype(np.float32)
    power = (-20.0 * np.log10(1.0 + np.sqrt(d2)) - 15.0 * b).astype(np.float32)
    return {"buildings": b, "transmitter": blob, "power_db": power}


def write(path: Path, trajectories: int = 10, frames: int = 4, n: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, SPEC, frames, (n, n)) as w:
        for _ in range(trajectories):
            pairs = [pair(rng, n) for _ in range(frames)]
            w.append({k: np.stack([p[k] for p in pairs]) for k in pairs[0]})
    return path


TINY_MODEL = {
    "widths": [8, 16, 32],
    "time_dim": 16,
    "swin_dim": 8,
    "swin_depths": [2, 2],
    "swin_heads": [1, 2],
    "window": 4,
}


def recipe(data: Path, objective: str = "diffusion", epochs: int = 2, lr: float = 2e-3) -> dict:
    return {
        "task": "generative",
        "data": {"path": str(data), "batch_size": 8},
        "model": {"name": "diffusion_unet", "args": dict(TINY_MODEL)},
        "generative": {"objective": objective, "sample_steps": 5, "valid_conditions": 4, "timesteps": 100},
        "optim": {"lr": lr},
        "train": {"epochs": epochs, "device": "cpu", "amp": False, "log_every": 1},
    }
