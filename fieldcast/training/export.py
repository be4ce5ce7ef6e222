"""Export a run of any task to ONNX: fp32, optional fp16 and INT8 variants, each checked against torch.

:func:`export_run` is a generator (yields :class:`~fieldcast.engine.jobs.Progress`, honours a cancel token,
returns the report) that writes atomically beside the model (by default into the run folder)::

    model.onnx           fp32, normalisation inside, physical units in and out, self-describing metadata
                         (the system spec included, so nothing downstream needs the built-in registry)
    model.fp16.onnx      float16 inside, float32 at the edges (--fp16)
    model.int8.onnx      INT8 (--int8), the method the model allows
    export_report.json   per variant: parity against torch (max abs / max rel) and the error on validation
                         data, side by side; a variant that cannot exist says why ("not_applicable")

The checkpoint sidecar's ``task`` picks the exporter (a run without one is an older field-rollout run):

- ``field_rollout``: :class:`FieldExporter` here, the UNet family, ``fieldcast-onnx/1``;
- ``recurrent_field``: :class:`~fieldcast.training.export_recurrent.RecurrentExporter`, ``fieldcast-onnx/1``
  with explicit recurrent state;
- ``sequence``: :class:`~fieldcast.training.export_sequence.SequenceExporter`, ``fieldcast-sequence-onnx/1``.
- ``generative``: :class:`~fieldcast.training.export_generative.GenerativeExporter`,
  ``fieldcast-generative-onnx/1`` (a denoising step, or one call for a regression baseline).
- ``field_block``: :class:`~fieldcast.training.export_block.BlockExporter`, ``fieldcast-onnx/1`` with
  ``increments`` frames per call.

An exporter offers ``source`` (the parity inputs in words), ``grid_multiple``, ``fp32()``,
``variant(model, name)`` (the metadata of a variant), ``fp16(fp32)``, ``int8(fp32, folder) -> (model,
method)`` (both may raise :class:`~fieldcast.training.export_checks.VariantNotApplicableError`) and
``check(path, token)``, a generator returning the variant's record. The fp32 graph must match torch within
:data:`FP32_TOLERANCE` relative (see ``export_checks``); recurrent and sequence models are compared over a
streamed sequence of several steps, each side feeding back its own state.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from fieldcast.engine import evaluate as ev
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.base import resolve_spec, spec_to_dict
from fieldcast.training import export_checks as checks
from fieldcast.training.checkpoint import CheckpointError, atomic_write, load_model
from fieldcast.training.export_fp16 import to_float16
from fieldcast.training.export_onnx import (
    channel_units,
    grid_multiple,
    provenance,
    recurrent_states,
    set_metadata,
    to_onnx,
    validation_metrics,
)
from fieldcast.training.rollout import SurrogateStep, build_layout

__all__ = [
    "FP32_TOLERANCE",
    "REPORT_FORMAT",
    "ExportError",
    "FieldExporter",
    "export_run",
    "find_checkpoint",
    "open_export_data",
    "variant_path",
]

FP32_TOLERANCE = 1e-4
REPORT_FORMAT = "fieldcast-export-report/1"
_SUFFIX = {"fp32": ".onnx", "fp16": ".fp16.onnx", "int8": ".int8.onnx"}


class ExportError(ValueError):
    """A run or data file that cannot be exported from; ``str()`` is one line, ``"PATH: problem"``."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def variant_path(fp32_path: Path, variant: str) -> Path:
    """``model.onnx`` -> ``model.fp16.onnx`` / ``model.int8.onnx`` beside it."""
    stem = fp32_path.name.removesuffix(".onnx")
    return fp32_path.with_name(stem + _SUFFIX[variant])


def find_checkpoint(run: Path, which: str) -> Path:
    """The weights of checkpoint ``which`` (``best`` falls back to ``last``); ExportError when ``run`` is not
    a run folder or has no such checkpoint."""
    run = Path(run)
    if not run.exists():
        raise ExportError(run, "no such run folder")
    if not run.is_dir():
        raise ExportError(run, "not a run folder (give the folder that holds checkpoints/)")
    folder = run / "checkpoints"
    if not folder.is_dir():
        raise ExportError(run, "not a run folder (it has no checkpoints/)")
    for tag in ("best", "last") if which == "best" else (which,):
        weights = folder / f"{tag}.safetensors"
        if weights.is_file():
            if not weights.with_suffix(".json").is_file():
                raise ExportError(weights.with_suffix(".json"), "checkpoint sidecar missing")
            return weights
    raise ExportError(run, f"not a run folder with weights (no {which} checkpoint in checkpoints/)")


def open_export_data(data: str | os.PathLike | None, sidecar: dict[str, Any]) -> tuple[Any, Path | None]:
    """The dataset for parity inputs: ``data`` (ExportError when missing) or the run's own, if still there.

    The split the run was trained with is used where it fits the file, so validation inputs are the run's.
    """
    from fieldcast.engine.data import DatasetError, open_dataset

    if data:
        path = Path(data)
        if not path.is_file():
            raise ExportError(path, "file not found")
    else:
        own = (sidecar.get("data") or {}).get("path")
        if not own or not Path(own).is_file():
            return None, None
        path = Path(own)
    dataset = open_dataset(path)
    split = ((sidecar.get("config") or {}).get("data") or {}).get("split")
    if split not in (None, ""):
        try:
            dataset.use_split(split)
        except (DatasetError, KeyError, TypeError, ValueError):
            pass  # another file than the run's: its own split gives the validation inputs
    return dataset, path


def check_channels(dataset: Any, path: Path, names: list[str]) -> None:
    """ExportError naming ``path`` when the dataset lacks one of the model's channels ``names``."""
    missing = [n for n in dict.fromkeys(names) if n not in list(dataset.channel_names)]
    if missing:
        raise ExportError(path, f"the data has no channel(s) {', '.join(missing)} the model needs")


def check_grid(info: ModelInfo, dataset: Any, path: Path) -> None:
    """ExportError naming ``path`` when the model cannot run on the dataset's grid."""
    problem = ev.grid_problem(info, dataset.grid)
    if problem:
        raise ExportError(path, problem)


class FieldExporter:
    """A field-rollout run (UNet family): one step from the state history and the controls."""

    task = "field_rollout"

    def __init__(self, run: Path, ckpt: Path, model, sidecar: dict, data, n_samples: int) -> None:
        cfg = sidecar.get("config") or {}
        norm = sidecar["normalisation"]
        spec = resolve_spec(sidecar["system"], sidecar.get("spec"))
        self.layout = layout = self._layout(spec, norm, cfg)
        residual = bool((cfg.get("rollout") or {}).get("residual", False))
        self.step = self._step(model, norm, layout, residual).eval()
        self.dataset, data_path = open_export_data(data, sidecar)
        self.grid = tuple(sidecar.get("grid") or (self.dataset.grid if self.dataset else (32, 32)))
        self.info = self._info(run, ckpt, sidecar, spec, layout, model)
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
        self.horizons = list((cfg.get("train") or {}).get("rollout_horizons") or [self._default_horizon()])

    def _default_horizon(self) -> int:
        """Rollout steps checked when the recipe names none."""
        return 10

    @staticmethod
    def _layout(spec, norm: dict, cfg: dict):
        return build_layout(
            spec,
            norm["channel_names"],
            (cfg.get("data") or {}).get("history_channels"),
            (cfg.get("rollout") or {}).get("solid_mask"),
            (cfg.get("rollout") or {}).get("nonnegative") or (),
            (cfg.get("data") or {}).get("state_channels"),
        )

    @staticmethod
    def _step(model, norm: dict, layout, residual: bool):
        return SurrogateStep(
            model, norm["in_mean"], norm["in_std"], norm["out_mean"], norm["out_std"], residual=residual
        )

    @staticmethod
    def _info(run: Path, ckpt: Path, sidecar: dict, spec, layout, model) -> ModelInfo:
        return _field_info(run, ckpt, sidecar, spec, layout, model)

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


def half_precision(fp32: onnx.ModelProto) -> onnx.ModelProto:
    """:func:`to_float16`, with a graph it cannot convert reported as not applicable."""
    try:
        return to_float16(fp32)
    except ValueError as exc:
        raise checks.VariantNotApplicableError(str(exc)) from None


def file_record(path: Path, providers: list[str]) -> dict[str, Any]:
    return {"path": path.name, "bytes": path.stat().st_size, "providers": providers}


def rollout_record(session, dataset, horizons: list[int], token: CancelToken):
    """The rollout error of a field model on the validation split (the train split when there is none)."""
    if dataset is None or not horizons:
        return None
    split = "valid" if dataset.split_segments("valid") else "train"
    try:
        job = ev.iter_evaluate(ev.session_step(session), session.info, dataset, split, horizons, 4, token)
        return (yield from job)
    except ValueError as exc:
        return {"error": str(exc)}


def _field_info(run: Path, ckpt: Path, sidecar: dict, spec, layout, model) -> ModelInfo:
    norm = sidecar["normalisation"]
    vectors = [[layout.channel_names[layout.state[j]] for j in comps] for comps in layout.vectors]
    return ModelInfo(
        system=sidecar["system"],
        input_channels=tuple(norm["input_names"]),
        output_channels=tuple(norm["output_names"]),
        history=int(sidecar["history"]),
        layout={
            "state": layout.output_names(),
            "history_state": [layout.output_names()[j] for j in layout.history_state],
            "controls": [layout.channel_names[i] for i in layout.controls],
            "vectors": vectors,
            "solid": None if layout.solid is None else layout.channel_names[layout.controls[layout.solid]],
            "nonnegative": [layout.output_names()[j] for j in layout.nonnegative],
        },
        input_units=channel_units(spec, norm["input_names"]),
        output_units=channel_units(spec, norm["output_names"]),
        grid=tuple(sidecar["grid"]) if sidecar.get("grid") else None,
        grid_multiple=grid_multiple(model),
        dt=float(sidecar.get("dt") or spec.dt),
        time_units=spec.time_units,
        provenance=provenance(run, ckpt, sidecar),
        metrics=validation_metrics(run),
        model=dict(sidecar["model"]),
        recurrent=recurrent_states(model),
        spec=spec_to_dict(spec),
        task="field_rollout",
    )


def _exporter(task: str):
    if task == "field_rollout":
        return FieldExporter
    if task == "recurrent_field":
        from fieldcast.training.export_recurrent import RecurrentExporter

        return RecurrentExporter
    if task == "sequence":
        from fieldcast.training.export_sequence import SequenceExporter

        return SequenceExporter
    if task == "generative":
        from fieldcast.training.export_generative import GenerativeExporter

        return GenerativeExporter
    if task == "field_block":
        from fieldcast.training.export_block import BlockExporter

        return BlockExporter
    return None


def _load(ckpt: Path) -> tuple[Any, dict[str, Any]]:
    """The model and sidecar of ``ckpt``; CheckpointError naming the file for anything unreadable."""
    try:
        return load_model(ckpt)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            ckpt, f"the model cannot be rebuilt from this checkpoint ({text[:160]})"
        ) from None


def _make_exporter(run: Path, ckpt: Path, data, n_samples: int, steps: int | None = None):
    model, sidecar = _load(ckpt)
    side = ckpt.with_suffix(".json")
    task = sidecar.get("task") or "field_rollout"
    if steps is not None:
        if task != "generative" or sidecar.get("generative", {}).get("objective") != "diffusion":
            raise ExportError(run, "--steps applies to diffusion models only")
        if steps < 1:
            raise ExportError(run, f"--steps must be at least 1, got {steps}")
        sidecar["generative"]["sample_steps"] = int(steps)
    cls = _exporter(task)
    if cls is None:
        raise ExportError(side, f"unknown task {task!r}; this Fieldcast exports field_rollout, "
                                "recurrent_field, sequence, generative and field_block runs")  # fmt: skip
    try:
        return cls(run, ckpt, model, sidecar, data, n_samples)
    except KeyError as exc:
        key = exc.args[0] if exc.args else "?"
        raise ExportError(
            side, f"the checkpoint sidecar has no {key!r} (written by an older Fieldcast?)"
        ) from None


def _report_head(run: Path, ckpt: Path, exporter) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "run": run.name,
        "task": exporter.task,
        "checkpoint": ckpt.stem,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "inputs": exporter.source,
        "tolerance": {"fp32_max_rel": FP32_TOLERANCE},
        "grid_multiple": exporter.grid_multiple,
        "variants": {},
    }


def _build(exporter, fp32: onnx.ModelProto, variant: str, folder: Path) -> tuple[onnx.ModelProto, str | None]:
    """The ``variant`` model with its metadata, and how it was made (INT8); VariantNotApplicableError."""
    if variant == "fp32":
        return fp32, None
    if variant == "fp16":
        return exporter.variant(exporter.fp16(fp32), "fp16"), None
    model, method = exporter.int8(fp32, folder)
    return exporter.variant(model, "int8"), method


def export_run(
    run: str | Path,
    *,
    checkpoint: str = "best",
    fp16: bool = False,
    int8: bool = False,
    out: str | Path | None = None,
    data: str | Path | None = None,
    n_samples: int = 8,
    token: CancelToken | None = None,
    steps: int | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Export run folder ``run``; yields progress and returns the report (also written beside the model).

    Parameters
    ----------
    checkpoint : ``best`` (falls back to ``last``) or ``last``.
    out : fp32 model path (default ``RUN/model.onnx``); variants and the report go beside it.
    data : dataset for parity inputs, calibration and validation error (default: the run's own data).
    n_samples : validation inputs (windows, trajectories) for parity and training inputs for calibration.
    steps : a diffusion model's default DDIM steps (default: the recipe's ``generative.sample_steps``).

    Raises
    ------
    ExportError, CheckpointError, DatasetError : one line naming the file and the problem.
    """
    token = token or CancelToken()
    run = Path(run)
    ckpt = find_checkpoint(run, checkpoint)
    out = Path(out) if out else run / "model.onnx"
    variants = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else [])
    total = 2 + 2 * len(variants)
    # Everything that can refuse the run or the data does so before the first progress line is drawn.
    exporter = _make_exporter(run, ckpt, data, n_samples, steps)
    yield Progress("export", 1, total, f"{ckpt.name} loaded; tracing the fp32 graph")
    token.raise_if_cancelled()
    fp32 = exporter.fp32()
    out.parent.mkdir(parents=True, exist_ok=True)
    report = _report_head(run, ckpt, exporter)
    done = 2
    for variant in variants:
        token.raise_if_cancelled()
        yield Progress("export", done, total, f"writing the {variant} model")
        path = variant_path(out, variant)
        try:
            built, method = _build(exporter, fp32, variant, out.parent)
        except checks.VariantNotApplicableError as exc:
            path.unlink(missing_ok=True)  # a file left by an earlier export would pass for this one
            report["variants"][variant] = {"path": None, "not_applicable": str(exc)}
            done += 2
            continue
        onnx.checker.check_model(built)
        # Checked under a temporary name and renamed once it passed: a model that fails its parity check
        # never takes the place of the file (nor of an earlier export).
        checking = path.with_name(f".{path.stem}.checking.onnx")
        atomic_write(checking, built.SerializeToString())
        done += 1
        yield Progress("export", done, total, f"checking the {variant} model")
        try:
            record = yield from exporter.check(checking, token)
            if variant == "fp32":
                max_rel = float(record["parity"]["max_rel"])
                record["parity"]["ok"] = max_rel <= FP32_TOLERANCE  # False for NaN as well
                if not record["parity"]["ok"]:
                    raise ExportError(
                        run,
                        f"the exported model does not reproduce the trained one (fp32 parity {max_rel:.3g}, "
                        f"tolerance {FP32_TOLERANCE:g}); nothing was written",
                    )
            os.replace(checking, path)
        finally:
            checking.unlink(missing_ok=True)
        record["path"] = path.name
        if method:
            record["method"] = method
        report["variants"][variant] = record
        done += 1
    atomic_write(out.parent / "export_report.json", json.dumps(report, indent=2, default=str).encode())
    yield Progress("export", total, total, "done")
    return report
