"""Tiny generative models trained by the real pipeline for the GUI tests: data from the thermal-imaging
generator, the generative task on the one trainer, ``export_run`` to a self-describing ONNX file.

The shipped ``generative_tiny`` recipe trains a 16 × 16 model for two epochs in a few seconds on one core:
it has learnt little, but it is a real diffusion model with its real schedule, normalisation and records,
which is what the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


def tiny_recipe_path(objective: str = "diffusion") -> Path:
    """The shipped seconds-long generative recipe (16 × 16; diffusion: 100 timesteps, 5 DDIM steps), or its
    regression baseline."""
    from fieldcast.resources import resource_path

    name = "generative_tiny.yaml" if objective == "diffusion" else "generative_regression_tiny.yaml"
    return resource_path("recipes", "thermal_imaging", name)


def tiny_recipe(data: Path, objective: str = "diffusion") -> dict:
    """The shipped tiny recipe on ``data``, on the CPU."""
    import yaml

    recipe = yaml.safe_load(tiny_recipe_path(objective).read_text(encoding="utf-8"))
    recipe["data"]["path"] = str(data)
    recipe["train"]["device"] = "cpu"
    return recipe


def train_tiny(root: Path, source: str = "radio", objective: str = "diffusion") -> TinyRun:
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
    recipe = recipe_from_dict(tiny_recipe(data, objective), source="gui-test")
    for _ in Trainer(recipe, open_dataset(data), run).run():
        pass
    for _ in export_run(run):
        pass
    return TinyRun(data, run, run / "model.onnx")
