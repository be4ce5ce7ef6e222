"""Tiny generative models trained by the real pipeline for the GUI tests: data from the thermal-imaging
generator, the generative task on the one trainer, ``export_run`` to a self-describing ONNX file.

A 16 × 16 radio model trains for two epochs in a few seconds on one core: it has learnt little, but it is a
real diffusion model with its real schedule, normalisation and records, which is what the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: a denoiser small enough to train in seconds on one core
TINY_MODEL = {
    "widths": [8, 16, 32],
    "time_dim": 16,
    "swin_dim": 8,
    "swin_depths": [2, 2],
    "swin_heads": [1, 2],
    "window": 4,
}


@dataclass(frozen=True)
class TinyRun:
    data: Path
    run: Path
    model: Path


def write_dataset(path: Path, source: str = "radio", trajectories: int = 6, frames: int = 4, size: int = 16):
    """A small dataset of the thermal-imaging generator (``fieldcast generate thermal-imaging``)."""
    from fieldcast.engine.generation import generate_dataset

    for _ in generate_dataset(
        "thermal-imaging", path, trajectories=trajectories, frames=frames, size=size, seed=0, source=source
    ):
        pass
    return path


def tiny_recipe(data: Path, epochs: int = 2) -> dict:
    return {
        "name": "generative_gui",
        "task": "generative",
        "data": {"path": str(data), "batch_size": 8},
        "model": {"name": "diffusion_unet", "args": dict(TINY_MODEL)},
        "generative": {"objective": "diffusion", "sample_steps": 4, "valid_conditions": 4, "timesteps": 100},
        "optim": {"lr": 2e-3},
        "train": {"epochs": epochs, "device": "cpu", "amp": False, "log_every": 1},
    }


def train_tiny(root: Path, source: str = "radio") -> TinyRun:
    """Generate data, train two epochs and export: the dataset, the run folder and the model file."""
    import torch

    from fieldcast.engine.data.reader import open_dataset
    from fieldcast.training.config import recipe_from_dict
    from fieldcast.training.export import export_run
    from fieldcast.training.trainer import Trainer

    torch.set_num_threads(1)
    root.mkdir(parents=True, exist_ok=True)
    data = write_dataset(root / f"{source}16.h5", source)
    run = root / "run"
    recipe = recipe_from_dict(tiny_recipe(data), source="gui-test")
    for _ in Trainer(recipe, open_dataset(data), run).run():
        pass
    for _ in export_run(run):
        pass
    return TinyRun(data, run, run / "model.onnx")
