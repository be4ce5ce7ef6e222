"""Export a field-block run (several frames per call) as a ``fieldcast-onnx/1`` field model.

The graph is the trained :class:`~fieldcast.training.tasks.field_block.BlockStep`: input ``fields`` (the
state at ``t`` and the controls, physical units), output ``next_fields`` with the state at ``t+1 ... t+K``,
frame-major. The metadata is a field-rollout model's with ``increments = K``, so the engine steps it like
any field model and calls it once every ``K`` frames (:mod:`fieldcast.engine.evaluate`, the Play pages that
support it). Parity and the validation rollout are checked as for one-frame models.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx

from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.base import resolve_spec
from fieldcast.training import export_checks as checks
from fieldcast.training.export import (
    _field_info,
    check_channels,
    check_grid,
    file_record,
    half_precision,
    open_export_data,
    rollout_record,
)
from fieldcast.training.export_onnx import set_metadata, to_onnx
from fieldcast.training.rollout import build_layout
from fieldcast.training.tasks.field_block import BlockStep

__all__ = ["BlockExporter"]


class BlockExporter:
    """A field-block run (UNet family): ``K`` frames of the state from the current one and the controls."""

    task = "field_block"

    def __init__(self, run: Path, ckpt: Path, model, sidecar: dict, data, n_samples: int) -> None:
        cfg = sidecar.get("config") or {}
        norm = sidecar["normalisation"]
        k = int(sidecar["increments"])
        spec = resolve_spec(sidecar["system"], sidecar.get("spec"))
        layout = build_layout(
            spec, norm["channel_names"], None, None, (), (cfg.get("data") or {}).get("state_channels")
        )
        residual = bool((cfg.get("rollout") or {}).get("residual", False))
        self.step = BlockStep(
            model,
            norm["in_mean"],
            norm["in_std"],
            norm["out_mean"],
            norm["out_std"],
            len(layout.state),
            residual,
        ).eval()
        self.layout = layout
        self.dataset, data_path = open_export_data(data, sidecar)
        self.grid = tuple(sidecar.get("grid") or (self.dataset.grid if self.dataset else (32, 32)))
        state_names = list(norm["state_names"])
        as_field = {**sidecar, "normalisation": {**norm, "output_names": state_names}}
        info = _field_info(run, ckpt, as_field, spec, layout, model)
        self.info = dataclasses.replace(info, increments=k)
        self.grid_multiple = self.info.grid_multiple
        self.names = list(norm["channel_names"])
        inputs = None
        if self.dataset is not None:
            check_channels(
                self.dataset, data_path, [self.names[i] for i in (*layout.state, *layout.controls)]
            )
            check_grid(self.info, self.dataset, data_path)
            inputs = checks.dataset_inputs(self.dataset, layout, "valid", n_samples, names=self.names)
        source = "valid split" if inputs is not None else "synthetic"
        if inputs is None:
            inputs = checks.synthetic_inputs(norm, self.grid, n_samples)
        self.inputs, self.n_samples = inputs, n_samples
        self.source = f"{source} ({len(inputs)} samples)"
        self.reference = checks.torch_outputs(self.step, inputs)
        self.scale = np.asarray(norm["out_std"], np.float64)
        self.horizons = list((cfg.get("train") or {}).get("rollout_horizons") or [k])

    def fp32(self) -> onnx.ModelProto:
        return set_metadata(to_onnx(self.step, self.grid, self.info.grid_multiple > 0), self.info)

    def variant(self, model: onnx.ModelProto, name: str) -> onnx.ModelProto:
        return set_metadata(model, dataclasses.replace(self.info, variant=name))

    def fp16(self, fp32: onnx.ModelProto) -> onnx.ModelProto:
        return half_precision(fp32)

    def int8(self, fp32: onnx.ModelProto, folder: Path) -> tuple[onnx.ModelProto, str]:
        calib = None
        if self.dataset is not None:
            calib = checks.dataset_inputs(
                self.dataset, self.layout, "train", self.n_samples, names=self.names
            )
        calib = self.inputs if calib is None else calib
        method = f"static (QDQ, per-channel weights), calibrated on {len(calib)} inputs"
        return checks.quantize_static_model(fp32, calib, folder), method

    def check(self, path: Path, token: CancelToken):
        """Parity against torch and rollout error on validation data for one exported file."""
        session = ModelSession(path)
        n = len(self.inputs)
        outs = np.concatenate([session.run(self.inputs[i : i + 1])["next_fields"].copy() for i in range(n)])
        record = file_record(path, session.providers)
        record["parity"] = checks.parity(self.reference, outs, self.scale)
        record["rollout"] = yield from rollout_record(session, self.dataset, self.horizons, token)
        return record
