"""Torch to ONNX: one graph in physical units with the Fieldcast signature and self-describing metadata.

The graph is :class:`~fieldcast.training.rollout.SurrogateStep` (normalise, model, de-normalise), traced with
dynamic batch and, where the family allows, dynamic grid size. Recurrent families declare their state with
a ``recurrent_states`` attribute (a list of ``(channels, downsample)``) and a forward
``model(x, *states) -> (y, *new_states)``; each state becomes an explicit input/output pair.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

import fieldcast
from fieldcast.engine.model_format import INPUT, OUTPUT, ModelInfo, RecurrentState, build_metadata
from fieldcast.engine.systems.base import SystemSpec
from fieldcast.training.rollout import SurrogateStep

__all__ = [
    "OPSET",
    "channel_units",
    "grid_multiple",
    "provenance",
    "recurrent_states",
    "set_metadata",
    "to_onnx",
    "validation_metrics",
]

OPSET = 17

# Grid sizes a family accepts, from its constructor arguments: a multiple (1 = any size), or 0 (only the
# training grid). A UNet resizes each decoder level to its skip, but the traced graph fixes that decision at
# the export size, so exact halving at every level (multiples of 2**depth) is what is safe.
_GRID_MULTIPLE: dict[str, Callable[[dict], int]] = {"unet": lambda args: 2 ** int(args.get("depth", 0))}


def grid_multiple(model: nn.Module) -> int:
    """The grid multiple of ``model``'s family (0 when the family declares nothing: fixed grid)."""
    declared = getattr(model, "grid_multiple", None)
    if declared is not None:
        return int(declared)
    rule = _GRID_MULTIPLE.get(getattr(model, "model_name", ""))
    return rule(getattr(model, "model_args", {})) if rule else 0


def recurrent_states(model: nn.Module) -> tuple[RecurrentState, ...]:
    """The model's recurrent tensors as graph input/output pairs (empty for feed-forward families)."""
    return tuple(
        RecurrentState(f"recurrent_in_{i}", f"recurrent_out_{i}", int(c), int(d))
        for i, (c, d) in enumerate(getattr(model, "recurrent_states", ()))
    )


class _Recurrent(nn.Module):
    """SurrogateStep with explicit recurrent state: (x, *states) -> (y, *new_states), physical units."""

    def __init__(self, step: SurrogateStep) -> None:
        super().__init__()
        self.step = step

    def forward(self, x: torch.Tensor, *states: torch.Tensor):
        s = self.step
        z, *new = s.model((x - s.in_mean) / s.in_std, *states)
        return (z * s.out_std + s.out_mean, *new)


def to_onnx(step: SurrogateStep, grid: tuple[int, int], dynamic_grid: bool) -> onnx.ModelProto:
    """Trace ``step`` (eval, CPU) on a ``grid`` example into an ONNX model with the Fieldcast signature."""
    step = step.eval().to("cpu")
    states = recurrent_states(step.model)
    n_in = step.in_mean.shape[1]
    example = [torch.zeros(1, n_in, *grid)]
    example += [torch.zeros(*r.shape(1, *grid)) for r in states]
    # A fresh wrapper is in training mode, and the exporter restores the whole tree to the wrapper's mode.
    module = _Recurrent(step).eval() if states else step
    in_names = [INPUT, *(r.input for r in states)]
    out_names = [OUTPUT, *(r.output for r in states)]
    axes = {0: "batch", 2: "nx", 3: "ny"} if dynamic_grid else {0: "batch"}
    dynamic: dict[str, Any] = {name: dict(axes) for name in in_names + out_names}
    if dynamic_grid:
        for r in states:
            dynamic[r.input] = dynamic[r.output] = {
                0: "batch",
                2: f"nx/{r.downsample}",
                3: f"ny/{r.downsample}",
            }
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is the one that needs no extra packages; its deprecation notice and its
        # tracer notes (shape checks frozen at trace time, which the grid multiple accounts for) are expected.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example),
            buf,
            dynamo=False,
            input_names=in_names,
            output_names=out_names,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return onnx.load_from_string(buf.getvalue())


def set_metadata(model: onnx.ModelProto, info: ModelInfo) -> onnx.ModelProto:
    """Replace ``model``'s Fieldcast metadata with ``info`` (other metadata is kept)."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("fieldcast.")]
    del model.metadata_props[:]
    for key, value in [*keep, *build_metadata(info).items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "fieldcast"
    model.doc_string = f"Fieldcast {info.system} surrogate ({info.variant}); inputs in physical units"
    return model


def channel_units(spec: SystemSpec, names: Sequence[str]) -> tuple[str, ...]:
    """Units of model channels ``names`` (``density@t-1`` and ``temperature@t+1`` take their channel's)."""
    units = {c.name: c.units for c in spec.channels()}
    return tuple(units.get(n.split("@")[0], "") for n in names)


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(run: Path, ckpt: Path, sidecar: dict[str, Any]) -> dict[str, Any]:
    """Where an exported model comes from: run, recipe and data hashes, split, checkpoint, dates.

    Files are named by their name and content hash, never by a path: a model carries nothing of the
    machine it was made on, and the hash identifies the data wherever it lives.
    """
    from fieldcast.training.runs import read_status

    status = read_status(run) or {}
    data = sidecar.get("data") or {}
    split = ((sidecar.get("config") or {}).get("data") or {}).get("split")
    weights = ckpt if ckpt.suffix else ckpt.with_suffix(".safetensors")
    return {
        "run": status.get("name", run.name),
        "run_folder": run.name,
        "task": sidecar.get("task", "field_rollout"),
        "recipe_hash": status.get("config_hash"),
        "data_hash": data.get("hash"),
        "data_file": Path(str(data["path"])).name if data.get("path") else None,
        "split": split,
        "split_note": sidecar.get("split"),
        "checkpoint": ckpt.stem,
        "checkpoint_sha256": _sha256(weights),
        "step": sidecar.get("step"),
        "epoch": sidecar.get("epoch"),
        "trained": sidecar.get("created"),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "fieldcast": fieldcast.__version__,
    }


def validation_metrics(run: Path) -> dict[str, Any]:
    """The last validation record of the run (loss, per-channel errors, physics metrics, baselines)."""
    from fieldcast.training.tracking import read_metrics

    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        return {}
    records = [r for r in read_metrics(path) if r.get("kind") == "validation"]
    if not records:
        return {}
    return {k: v for k, v in records[-1].items() if k != "kind"}
