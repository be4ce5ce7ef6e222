"""Runtime overhead benchmark: the shipped smoke model (or a random-weight UNet) through ``fieldcast bench``.

    .venv/bin/python benchmarks/runtime_overhead.py [--size 128] [--steps 600] [--random medium|small]

By default it times ``fieldcast/resources/models/smoke_default.onnx``, the model Play runs. ``--random``
builds the reference project's "medium" (or a "small") smoke UNet with random weights instead (speed does
not depend on them; normalisation is identity-like). The rollout is timed alone and with Play's safety
bounds, each against bare ``session.run`` on the same inputs, interleaved. Prints the same report as
``fieldcast bench`` and ends with its ``RESULT ...`` line (``overhead_bare``, ``overhead_bounds``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from fieldcast.app.commands.bench import print_report
from fieldcast.engine.bench import iter_bench, result_line
from fieldcast.engine.model_format import ModelInfo
from fieldcast.resources import resource_path
from fieldcast.training.export_onnx import grid_multiple, set_metadata, to_onnx
from fieldcast.training.models import build_model
from fieldcast.training.rollout import SurrogateStep

MEDIUM = dict(depth=3, base_width=32, norm="instance", activation="gelu", residual=True, output_clamp=8.0)
SMALL = dict(depth=2, base_width=16, norm="batch", activation="gelu", residual=True, output_clamp=8.0)
INPUTS = ("density", "velocity_x", "velocity_y", "density@t-1", "emitter", "collider")
STATE = ("density", "velocity_x", "velocity_y")


def build(path: Path, args: dict, size: int) -> Path:
    """Export a randomly initialised smoke UNet with Fieldcast metadata to ``path``."""
    torch.manual_seed(0)
    model = build_model("unet", {"in_channels": 6, "out_channels": 3, **args})
    step = SurrogateStep(model, np.zeros(6), np.ones(6), np.zeros(3), 0.05 * np.ones(3))
    info = ModelInfo(
        system="smoke",
        input_channels=INPUTS,
        output_channels=STATE,
        history=2,
        layout={
            "state": list(STATE),
            "history_state": ["density"],
            "controls": ["emitter", "collider"],
            "vectors": [["velocity_x", "velocity_y"]],
            "solid": "collider",
            "nonnegative": ["density"],
        },
        grid=(size, size),
        grid_multiple=grid_multiple(model),
        provenance={"run": "benchmark (random weights)"},
        model={"name": "unet", "args": model.model_args, "version": model.model_version},
    )
    proto = set_metadata(to_onnx(step, (size, size), dynamic_grid=True), info)
    onnx.save(proto, str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument(
        "--random", choices=("medium", "small"), help="a random-weight UNet instead of the shipped model"
    )
    parser.add_argument("--out", type=Path, help="keep the exported random model in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.random:
            path = build(folder / "model.onnx", SMALL if args.random == "small" else MEDIUM, args.size)
        else:
            path = resource_path("models", "smoke_default.onnx")
        job = iter_bench(path, args.size, args.steps)
        try:
            while True:
                next(job)
        except StopIteration as stop:
            result = stop.value
        print_report(result, sys.stdout)
        print(result_line(result))
    return 0 if result["finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
