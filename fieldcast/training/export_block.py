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

from fieldcast.engine.model_format import ModelInfo
from fieldcast.training.export import FieldExporter, _field_info
from fieldcast.training.rollout import build_layout
from fieldcast.training.tasks.field_block import BlockStep

__all__ = ["BlockExporter"]


class BlockExporter(FieldExporter):
    """A field-block run (UNet family): ``K`` frames of the state from the current one and the controls."""

    task = "field_block"

    def _default_horizon(self) -> int:
        return self.info.increments

    @staticmethod
    def _layout(spec, norm: dict, cfg: dict):
        return build_layout(
            spec, norm["channel_names"], None, None, (), (cfg.get("data") or {}).get("state_channels")
        )

    @staticmethod
    def _step(model, norm: dict, layout, residual: bool):
        return BlockStep(
            model,
            norm["in_mean"],
            norm["in_std"],
            norm["out_mean"],
            norm["out_std"],
            len(layout.state),
            residual,
        )

    @staticmethod
    def _info(run: Path, ckpt: Path, sidecar: dict, spec, layout, model) -> ModelInfo:
        norm = sidecar["normalisation"]
        as_field = {**sidecar, "normalisation": {**norm, "output_names": list(norm["state_names"])}}
        info = _field_info(run, ckpt, as_field, spec, layout, model)
        return dataclasses.replace(info, increments=int(sidecar["increments"]))
