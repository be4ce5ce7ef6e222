"""Export of a generative run to ``fieldcast-generative-onnx/1`` (see :mod:`fieldcast.engine.generative`).

A diffusion run becomes one denoising graph ``(x_t, t, condition) -> (prediction, x0)``; a regression run
one call ``condition -> x0``; a residual diffusion run (``generative.mean_model``) the graph
``(x_t, t, condition, mean) -> (prediction, x0)`` with its regression model's ONNX bytes inside the same file
(a uint8 initializer, checked against the SHA-256 recorded at training).
Condition normalisation and the target's de-normalisation of ``x0`` are inside
the graph; the metadata carries the schedule, prediction type, default DDIM steps and the statistics the
sampler needs. Parity: the graph against torch on validation conditions (diffusion: at timesteps spread over
the whole schedule, with seeded noise), then the engine's sampler on a few validation conditions, scored
like the trainer's validation. fp16 is offered; INT8 is not (a quantised denoiser drifts over its steps).
"""

from __future__ import annotations

import io
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from fieldcast.engine.evaluate_generative import score as score_maps
from fieldcast.engine.generative import (
    DIFFUSION_IN,
    DIFFUSION_OUT,
    GENERATIVE_FORMAT,
    RESIDUAL_IN,
    GenerativeSession,
)
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.systems.base import resolve_spec, spec_to_dict
from fieldcast.training import export_checks as checks
from fieldcast.training.export import (
    ExportError,
    check_channels,
    file_record,
    half_precision,
    open_export_data,
)
from fieldcast.training.export_onnx import OPSET, channel_units, provenance, validation_metrics
from fieldcast.training.tasks.generative import GenerativeStep

__all__ = ["GenerativeExporter", "generative_metadata"]

_PARITY_T = (0, 0.25, 0.5, 0.75, 1.0)  # fractions of the schedule at which the denoiser is compared
MEAN_MODEL_INITIALIZER = "fieldcast_mean_model"  # a residual model's regression model, as uint8 bytes


def generative_metadata(sidecar: dict[str, Any], meta: dict[str, Any], variant: str) -> dict[str, Any]:
    """The ``fieldcast.*`` values (before JSON encoding) of a generative model."""
    gen, norm = sidecar["generative"], sidecar["normalisation"]
    diffusion = gen["objective"] == "diffusion"
    out = {
        "format": GENERATIVE_FORMAT,
        "kind": "generative",
        "task": "generative",
        "variant": variant,
        "objective": gen["objective"],
        "grid": list(sidecar["grid"]),
        "normalisation": norm,
        "guidance": False,
        **meta,
    }
    if diffusion:
        out.update(
            prediction=gen["prediction"],
            schedule={"name": gen["schedule"], "timesteps": int(gen["timesteps"])},
            default_steps=int(gen["sample_steps"]),
        )
    if gen.get("residual"):
        mm = gen["mean_model"]
        out.update(
            residual=True,
            mean_model={
                "initializer": MEAN_MODEL_INITIALIZER,
                "sha256": mm["sha256"],
                "file": Path(mm["path"]).name,
            },
        )
    return out


def _set_metadata(model: onnx.ModelProto, meta: dict[str, Any]) -> onnx.ModelProto:
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("fieldcast.")]
    del model.metadata_props[:]
    # plain strings for the keys every Fieldcast model reads raw; JSON for the rest
    raw = ("format", "system", "kind", "task", "variant")
    encoded = {"fieldcast." + k: v if k in raw else json.dumps(v, default=str) for k, v in meta.items()}
    for key, value in [*keep, *encoded.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "fieldcast"
    model.doc_string = (
        f"Fieldcast {meta['system']} {meta['objective']} model ({meta['variant']}) of {meta['target']}; "
        "condition in physical units"
    )
    return model


class GenerativeExporter:
    """A generative run: see the module docstring."""

    task = "generative"
    grid_multiple = 0

    def __init__(self, run: Path, ckpt: Path, model, sidecar: dict, data, n_samples: int) -> None:
        spec = resolve_spec(sidecar["system"], sidecar.get("spec"))
        norm, gen = sidecar["normalisation"], sidecar["generative"]
        self.norm, self.gen, self.sidecar = norm, gen, sidecar
        self.step = GenerativeStep(model, norm, gen).eval()
        self.diffusion = self.step.diffusion
        self.residual = self.step.residual
        self.mean_blob = self._mean_model(run) if self.residual else b""
        self.inputs = (
            list(RESIDUAL_IN if self.residual else DIFFUSION_IN) if self.diffusion else ["condition"]
        )
        self.grid = tuple(int(v) for v in sidecar["grid"])
        names = list(norm["condition_names"])
        self.meta = {
            "system": sidecar["system"],
            "source": gen.get("source", ""),
            "condition_channels": names,
            "condition_units": list(channel_units(spec, names)),
            "target": norm["target_name"],
            "target_units": channel_units(spec, [norm["target_name"]])[0],
            "spec": spec_to_dict(spec),
            "model": dict(sidecar["model"]),
            "provenance": provenance(run, ckpt, sidecar),
            "metrics": validation_metrics(run),
        }
        self.dataset, data_path = open_export_data(data, sidecar)
        cond = truth = None
        if self.dataset is not None:
            check_channels(self.dataset, data_path, [*names, norm["target_name"]])
            cond, truth = self._pairs(n_samples)
        kind = "valid split"
        if cond is None:
            kind = "synthetic"
            rng = np.random.default_rng(0)
            mean = np.asarray(norm["condition_mean"], np.float32)[None, :, None, None]
            std = np.asarray(norm["condition_std"], np.float32)[None, :, None, None]
            cond = (mean + std * rng.standard_normal((n_samples, len(names), *self.grid))).astype(np.float32)
        self.cond, self.truth = cond, truth
        self.feeds = self._parity_feeds(cond)
        self.reference = self._torch(self.feeds)
        self.source = f"{kind} ({len(cond)} conditions)"

    def _mean_model(self, run: Path) -> bytes:
        """The bytes of the regression model a residual run corrects, as it was when the run trained."""
        import hashlib

        mm = self.gen["mean_model"]
        path = Path(mm["path"])
        if not path.is_file():
            raise ExportError(path, f"the regression model that {run.name} corrects is gone")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != mm["sha256"]:
            raise ExportError(path, f"changed since {run.name} was trained on its answers")
        return blob

    def _pairs(self, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        ds, names = self.dataset, list(self.dataset.channel_names)
        ci = [names.index(c) for c in self.norm["condition_names"]]
        ti = names.index(self.norm["target_name"])
        conds, truths = [], []
        for split in ("valid", "test", "train"):
            for traj, start, stop in ds.split_segments(split):
                w = ds.read_window(traj, start, min(stop - start, n - len(conds)))
                conds += list(w[:, ci])
                truths += list(w[:, ti])
                if len(conds) >= n:
                    return np.stack(conds), np.stack(truths)
            if conds:
                break
        return (np.stack(conds), np.stack(truths)) if conds else (None, None)

    def _parity_feeds(self, cond: np.ndarray) -> dict[str, np.ndarray]:
        if not self.diffusion:
            return {"condition": cond}
        rng = np.random.default_rng(1)
        n, steps = len(cond), int(self.gen["timesteps"])
        t = np.array([round(_PARITY_T[i % len(_PARITY_T)] * (steps - 1)) for i in range(n)], np.float32)
        x_t = rng.standard_normal((n, 1, *self.grid)).astype(np.float32)
        feeds = {"x_t": x_t, "t": t, "condition": cond}
        if self.residual:
            session = GenerativeSession(self.gen["mean_model"]["path"], threads=1)
            feeds["mean"] = session.predict(cond)
        return feeds

    @torch.no_grad()
    def _torch(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if not self.diffusion:
            return self.step(torch.from_numpy(feeds["condition"])).numpy()
        args = [torch.from_numpy(feeds[k]) for k in self.inputs]
        return self.step(*args)[0].numpy()

    def fp32(self) -> onnx.ModelProto:
        step = self.step.eval().to("cpu")
        names_in = self.inputs
        names_out = list(DIFFUSION_OUT) if self.diffusion else ["x0"]
        example = tuple(torch.from_numpy(self.feeds[k][:1]) for k in names_in)
        buf = io.BytesIO()
        with warnings.catch_warnings():
            # The TorchScript exporter needs no extra packages; its deprecation notice is expected here.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                step,
                example,
                buf,
                dynamo=False,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes={k: {0: "batch"} for k in names_in + names_out},
                opset_version=OPSET,
                do_constant_folding=True,
            )
        model = onnx.load_from_string(buf.getvalue())
        if self.residual:
            blob = np.frombuffer(self.mean_blob, np.uint8)
            model.graph.initializer.append(numpy_helper.from_array(blob, MEAN_MODEL_INITIALIZER))
        return _set_metadata(model, generative_metadata(self.sidecar, self.meta, "fp32"))

    def variant(self, model: onnx.ModelProto, name: str) -> onnx.ModelProto:
        return _set_metadata(model, generative_metadata(self.sidecar, self.meta, name))

    def fp16(self, fp32: onnx.ModelProto) -> onnx.ModelProto:
        return half_precision(fp32)

    def int8(self, fp32: onnx.ModelProto, folder: Path) -> tuple[onnx.ModelProto, str]:
        raise checks.VariantNotApplicableError(
            "a denoiser is called at every sampling step and quantisation error compounds over the steps"
        )

    def check(self, path: Path, token: CancelToken):
        """Graph parity against torch, then the engine's sampler on the validation conditions."""
        session = GenerativeSession(path)
        if self.diffusion:
            got = np.concatenate(
                [
                    session.denoise(
                        self.feeds["x_t"][i : i + 1],
                        self.feeds["t"][i : i + 1],
                        self.cond[i : i + 1],
                        self.feeds["mean"][i : i + 1] if self.residual else None,
                    )[0]
                    for i in range(len(self.cond))
                ]
            )
        else:
            got = session.predict(self.cond)
        record = file_record(path, session.providers)
        record["parity"] = checks.parity(self.reference, got, np.ones(1))
        record["rollout"] = None
        if self.truth is not None:
            preds = []
            for i, c in enumerate(self.cond):
                token.raise_if_cancelled()
                yield Progress("export", i + 1, len(self.cond), f"sampling validation condition {i + 1}")
                t0 = time.perf_counter()
                preds.append(session.sample(c, n=1, seed=i)[0])
                record.setdefault("ms_per_sample", []).append((time.perf_counter() - t0) * 1e3)
            lo_hi = self.norm["target_range"]
            record["generation"] = {
                **score_maps(np.stack(preds), self.truth.astype(np.float64), lo_hi),
                "conditions": len(preds),
                "steps": session.info.default_steps if self.diffusion else 1,
            }
        return record
