"""Export a trained run to ONNX: fp32, optional fp16 and INT8 variants, each checked against torch.

:func:`export_run` is a generator (yields :class:`~fieldcast.engine.jobs.Progress`, honours a cancel token,
returns the report) that writes atomically into the run folder::

    model.onnx           fp32, normalisation inside, physical units in and out, metadata_props (model_format)
    model.fp16.onnx      float16 inside, float32 at the edges (--fp16)
    model.int8.onnx      static INT8 (QDQ), calibrated on training inputs (--int8)
    export_report.json   per variant: parity against torch (max abs / max rel) and rollout error on
                         validation data, side by side

The fp32 graph must match torch within :data:`FP32_TOLERANCE` relative (see ``export_checks``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

import fieldcast
from fieldcast.engine import evaluate as ev
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.base import get_spec, resolve_spec, spec_to_dict
from fieldcast.training import export_checks as checks
from fieldcast.training.checkpoint import atomic_write, load_model
from fieldcast.training.export_fp16 import to_float16
from fieldcast.training.export_onnx import grid_multiple, recurrent_states, set_metadata, to_onnx
from fieldcast.training.rollout import SurrogateStep, build_layout
from fieldcast.training.runs import read_status
from fieldcast.training.tracking import read_metrics

__all__ = ["FP32_TOLERANCE", "REPORT_FORMAT", "export_run", "variant_path"]

FP32_TOLERANCE = 1e-4
REPORT_FORMAT = "fieldcast-export-report/1"
_SUFFIX = {"fp32": ".onnx", "fp16": ".fp16.onnx", "int8": ".int8.onnx"}


def variant_path(fp32_path: Path, variant: str) -> Path:
    """``model.onnx`` -> ``model.fp16.onnx`` / ``model.int8.onnx`` beside it."""
    stem = fp32_path.name.removesuffix(".onnx")
    return fp32_path.with_name(stem + _SUFFIX[variant])


def _checkpoint(run: Path, which: str) -> Path:
    folder = run / "checkpoints"
    order = ("best", "last") if which == "best" else (which,)
    for tag in order:
        if (folder / f"{tag}.safetensors").is_file():
            return folder / f"{tag}.safetensors"
    raise FileNotFoundError(f"{run}: no {which} checkpoint in {folder}")


def _open_data(path: str | None):
    if not path or not Path(path).is_file():
        return None
    from fieldcast.engine.data import open_dataset

    return open_dataset(path)


def _validation_metrics(run: Path) -> dict[str, Any]:
    """The last validation record of the run (loss, per-channel MSE, physics metrics, rollout)."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return {}
    records = [r for r in read_metrics(path) if r.get("kind") == "validation"]
    if not records:
        return {}
    return {k: v for k, v in records[-1].items() if k != "kind"}


def _model_info(run: Path, ckpt: Path, sidecar: dict, layout, model, metrics: dict) -> ModelInfo:
    spec = resolve_spec(sidecar["system"], sidecar.get("spec"))
    units = {c.name: c.units for c in spec.channels()}
    norm = sidecar["normalisation"]
    status = read_status(run) or {}
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
        input_units=tuple(units.get(n.split("@")[0], "") for n in norm["input_names"]),
        output_units=tuple(units.get(n, "") for n in norm["output_names"]),
        grid=tuple(sidecar["grid"]) if sidecar.get("grid") else None,
        grid_multiple=grid_multiple(model),
        dt=float(sidecar.get("dt") or spec.dt),
        time_units=spec.time_units,
        provenance={
            "run": status.get("name", run.name),
            "run_folder": run.name,
            "recipe_hash": status.get("config_hash"),
            "data_hash": (sidecar.get("data") or {}).get("hash"),
            "data_path": (sidecar.get("data") or {}).get("path"),
            "checkpoint": ckpt.stem,
            "step": sidecar.get("step"),
            "epoch": sidecar.get("epoch"),
            "trained": sidecar.get("created"),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "fieldcast": fieldcast.__version__,
        },
        metrics=metrics,
        model=dict(sidecar["model"]),
        recurrent=recurrent_states(model),
        spec=spec_to_dict(spec),
    )


def _write_model(model: onnx.ModelProto, path: Path) -> None:
    onnx.checker.check_model(model)
    atomic_write(path, model.SerializeToString())


def _quantize(fp32: onnx.ModelProto, calib: np.ndarray, folder: Path) -> onnx.ModelProto:
    """Static INT8 (QDQ, per-channel weights) calibrated on ``calib`` inputs."""
    root = logging.getLogger()
    level = root.level
    # The quantizer logs advice (pre-processing, norm biases it leaves in float) on the root logger; the
    # export report carries what matters, the INT8 parity and rollout error.
    root.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".int8-") as tmp:
            return _quantize_files(fp32, calib, Path(tmp))
    finally:
        root.setLevel(level)


def _quantize_files(fp32: onnx.ModelProto, calib: np.ndarray, tmp: Path) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    src, dst = tmp / "fp32.onnx", tmp / "int8.onnx"
    src.write_bytes(fp32.SerializeToString())
    quantize_static(
        str(src),
        str(dst),
        checks.CalibrationReader(calib),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibration_providers=["CPUExecutionProvider"],
    )
    return onnx.load(str(dst))


def _check_variant(path: Path, p: dict[str, Any], token: CancelToken):
    """Parity against torch and rollout error on validation data for one exported file."""
    inputs, dataset, horizons = p["inputs"], p["dataset"], p["horizons"]
    session = ModelSession(path)
    outs = np.concatenate([session.run(inputs[i : i + 1])["next_fields"].copy() for i in range(len(inputs))])
    record: dict[str, Any] = {
        "path": path.name,
        "bytes": path.stat().st_size,
        "providers": session.providers,
        "parity": checks.parity(p["reference"], outs, p["scale"]),
    }
    if dataset is not None and horizons:
        split = "valid" if dataset.split_segments("valid") else "train"
        try:
            job = ev.iter_evaluate(ev.session_step(session), session.info, dataset, split, horizons, 4, token)
            record["rollout"] = yield from job
        except ValueError as exc:
            record["rollout"] = {"error": str(exc)}
    return record


def _prepare(run: Path, ckpt: Path, data, n_samples: int) -> dict[str, Any]:
    """Model, layout, data and the torch reference outputs that every variant is checked against."""
    model, sidecar = load_model(ckpt)
    cfg = sidecar.get("config") or {}
    norm = sidecar["normalisation"]
    layout = build_layout(
        get_spec(sidecar["system"]),
        norm["channel_names"],
        (cfg.get("data") or {}).get("history_channels"),
        (cfg.get("rollout") or {}).get("solid_mask"),
        (cfg.get("rollout") or {}).get("nonnegative") or (),
        (cfg.get("data") or {}).get("state_channels"),
    )
    residual = bool((cfg.get("rollout") or {}).get("residual", False))
    step = SurrogateStep(
        model, norm["in_mean"], norm["in_std"], norm["out_mean"], norm["out_std"], residual=residual
    ).eval()
    dataset = _open_data(str(data) if data else (sidecar.get("data") or {}).get("path"))
    grid = tuple(sidecar.get("grid") or (dataset.grid if dataset else (32, 32)))
    inputs = checks.dataset_inputs(dataset, layout, "valid", n_samples) if dataset else None
    source = "valid split" if inputs is not None else "synthetic"
    if inputs is None:
        inputs = checks.synthetic_inputs(norm, grid, n_samples)
    return {
        "step": step,
        "layout": layout,
        "dataset": dataset,
        "grid": grid,
        "inputs": inputs,
        "source": source,
        "reference": checks.torch_outputs(step, inputs),
        "scale": np.asarray(norm["out_std"], np.float64),
        "horizons": list((cfg.get("train") or {}).get("rollout_horizons") or [10]),
        "info": _model_info(run, ckpt, sidecar, layout, model, _validation_metrics(run)),
    }


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
) -> Generator[Progress, None, dict[str, Any]]:
    """Export run folder ``run``; yields progress and returns the report (also written beside the model).

    Parameters
    ----------
    checkpoint : ``best`` (falls back to ``last``) or ``last``.
    out : fp32 model path (default ``RUN/model.onnx``); variants and the report go beside it.
    data : dataset for parity inputs, calibration and rollout error (default: the run's own data).
    n_samples : validation inputs for parity and training inputs for INT8 calibration.
    """
    token = token or CancelToken()
    run = Path(run)
    ckpt = _checkpoint(run, checkpoint)
    out = Path(out) if out else run / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    variants = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else [])
    total = 2 + 2 * len(variants)
    yield Progress("export", 0, total, f"loading {ckpt.name}")
    p = _prepare(run, ckpt, data, n_samples)
    dataset, inputs, info = p["dataset"], p["inputs"], p["info"]
    token.raise_if_cancelled()
    yield Progress("export", 1, total, "tracing the fp32 graph")
    fp32 = set_metadata(to_onnx(p["step"], p["grid"], info.grid_multiple > 0), info)
    built = {"fp32": fp32}
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "run": run.name,
        "checkpoint": ckpt.stem,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "inputs": f"{p['source']} ({len(inputs)} samples)",
        "tolerance": {"fp32_max_rel": FP32_TOLERANCE},
        "grid_multiple": info.grid_multiple,
        "variants": {},
    }
    done = 2
    for variant in variants:
        token.raise_if_cancelled()
        yield Progress("export", done, total, f"writing the {variant} model")
        if variant == "fp16":
            built[variant] = set_metadata(to_float16(fp32), _variant_info(info, "fp16"))
        elif variant == "int8":
            calib = checks.dataset_inputs(dataset, p["layout"], "train", n_samples) if dataset else None
            calib = inputs if calib is None else calib
            built[variant] = set_metadata(_quantize(fp32, calib, out.parent), _variant_info(info, "int8"))
        path = variant_path(out, variant)
        _write_model(built[variant], path)
        done += 1
        yield Progress("export", done, total, f"checking the {variant} model")
        record = yield from _check_variant(path, p, token)
        if variant == "fp32":
            record["parity"]["ok"] = record["parity"]["max_rel"] <= FP32_TOLERANCE
        report["variants"][variant] = record
        done += 1
    atomic_write(out.parent / "export_report.json", json.dumps(report, indent=2, default=str).encode())
    yield Progress("export", total, total, "done")
    return report


def _variant_info(info: ModelInfo, variant: str) -> ModelInfo:
    return dataclasses.replace(info, variant=variant)
