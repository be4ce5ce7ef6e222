"""Export of a sequence run (the streaming LSTM) to ``fieldcast-sequence-onnx/1``.

Channel names and units come from the run (the sidecar's ``inputs`` and ``targets``, units from the spec it
carries), and the spec travels in the model, so a sequence model of a system this installation does not know
still evaluates and benches. Parity is measured over streamed validation trajectories: torch runs the whole
sequence from a zero state, ONNX Runtime steps it one sample at a time feeding back its own state.

INT8: ONNX Runtime's static (QDQ) quantizer has no LSTM operator, so a static INT8 model would leave the
recurrent core in float. The INT8 variant of an LSTM is therefore dynamic (int8 weights of the LSTM and the
linear layers, activations quantised at run time), and the report says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.systems.base import resolve_spec, spec_to_dict
from fieldcast.training import export_checks as checks
from fieldcast.training.export import (
    ExportError,
    check_channels,
    file_record,
    half_precision,
    open_export_data,
)
from fieldcast.training.export_onnx import channel_units, provenance, validation_metrics
from fieldcast.training.models.lstm_export import sequence_metadata, set_sequence_metadata, streaming_model
from fieldcast.training.tasks.sequence import model_features, predict_stream

__all__ = ["SequenceExporter"]

_PARITY_SAMPLES = 256  # samples of each validation trajectory streamed for parity
_DYNAMIC_OPS = ("LSTM", "MatMul", "Gemm")


class SequenceExporter:
    """A sequence run: see the module docstring."""

    task = "sequence"
    grid_multiple = None

    def __init__(self, run: Path, ckpt: Path, model, sidecar: dict, data, n_samples: int) -> None:
        norm = sidecar["normalisation"]
        spec = resolve_spec(sidecar["system"], sidecar.get("spec"))
        self.input_names = list(sidecar.get("inputs") or norm["input_names"])
        self.target_names = list(sidecar.get("targets") or norm["output_names"])
        self.net = model.eval()
        self.norm = dict(norm)
        self.features = model_features(model, self.input_names, float(sidecar.get("dt") or spec.dt))
        self.meta: dict[str, Any] = {
            "system": sidecar["system"],
            "inputs": tuple(zip(self.input_names, channel_units(spec, self.input_names), strict=True)),
            "outputs": tuple(zip(self.target_names, channel_units(spec, self.target_names), strict=True)),
            "dt": float(sidecar.get("dt") or spec.dt),
            "time_units": spec.time_units,
            "spec": spec_to_dict(spec),
            "provenance": provenance(run, ckpt, sidecar),
            "metrics": validation_metrics(run),
        }
        self.dataset, data_path = open_export_data(data, sidecar)
        sequences = None
        if self.dataset is not None:
            check_channels(self.dataset, data_path, [*self.input_names, *self.target_names])
            if tuple(self.dataset.grid) != (1, 1):
                nx, ny = self.dataset.grid
                raise ExportError(
                    data_path, f"a sequence model reads one sample per frame, this file has {nx}×{ny}"
                )
            sequences = self._sequences("valid", n_samples) or self._sequences("train", n_samples)
        kind = "valid split"
        if not sequences:
            kind = "synthetic"
            sequences = [checks.synthetic_inputs(norm, (), _PARITY_SAMPLES, seed=i) for i in range(2)]
        self.sequences = sequences
        self.source = f"{kind} ({len(sequences)} trajectories, {sum(map(len, sequences))} samples, streamed)"
        self.reference = np.concatenate([self._torch(x) for x in sequences])
        self.scale = np.asarray(norm["out_std"], np.float64)

    def _sequences(self, split: str, n: int) -> list[np.ndarray]:
        """Inputs (T, Ci) of the first ``n`` segments of ``split``, at most :data:`_PARITY_SAMPLES` each."""
        names = list(self.dataset.channel_names)
        index = [names.index(c) for c in self.input_names]
        out = []
        for traj, start, stop in self.dataset.split_segments(split)[:n]:
            length = min(stop - start, _PARITY_SAMPLES)
            if length > 0:
                out.append(self.dataset.read_window(traj, start, length)[:, index, 0, 0].astype(np.float32))
        return out

    @torch.no_grad()
    def _torch(self, x: np.ndarray) -> np.ndarray:
        """The run's LSTM on one whole sequence from a zero state, physical units (T, Co)."""
        if self.features is not None:
            return predict_stream(self.net, x, self.norm, self.features)
        n = self.norm
        z = (torch.from_numpy(np.asarray(x, np.float32)) - torch.tensor(n["in_mean"])) / torch.tensor(
            n["in_std"]
        )
        y = self.net(z[None].float())[0]
        return (y * torch.tensor(n["out_std"]) + torch.tensor(n["out_mean"])).numpy()

    def fp32(self) -> onnx.ModelProto:
        return streaming_model(self.net, self.norm, **self.meta)

    def variant(self, model: onnx.ModelProto, name: str) -> onnx.ModelProto:
        return set_sequence_metadata(model, sequence_metadata(self.net, self.norm, **self.meta, variant=name))

    def fp16(self, fp32: onnx.ModelProto) -> onnx.ModelProto:
        return half_precision(fp32)

    def int8(self, fp32: onnx.ModelProto, folder: Path) -> tuple[onnx.ModelProto, str]:
        ops = {n.op_type for n in fp32.graph.node}
        if "LSTM" in ops and "LSTM" not in checks.static_int8_ops():
            method = (
                "dynamic (int8 weights of LSTM, MatMul and Gemm, activations quantised at run time); "
                "ONNX Runtime's static quantizer has no LSTM operator"
            )
        else:
            method = "dynamic (int8 weights, activations quantised at run time)"
        return checks.quantize_dynamic_model(fp32, folder, _DYNAMIC_OPS), method

    def check(self, path: Path, token: CancelToken):
        """Streamed parity against torch, then the error on the validation split beside the baselines."""
        from fieldcast.engine.evaluate_sequence import iter_evaluate_sequence
        from fieldcast.engine.sequence_runtime import SequenceSession

        session = SequenceSession(path)
        got = np.concatenate([session.predict(x, cancel=token) for x in self.sequences])
        record = file_record(path, session.providers)
        record["parity"] = {**checks.parity(self.reference, got, self.scale), "streamed_steps": len(got)}
        record["rollout"] = None
        if self.dataset is not None:
            split = "valid" if self.dataset.split_segments("valid") else "train"
            try:
                result = yield from iter_evaluate_sequence(session, self.dataset, split, 4, token)
            except ValueError as exc:
                record["rollout"] = {"error": str(exc)}
            else:
                record["rollout"] = _flat(result)
        return record


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a sequence evaluation, flat: the model's and each baseline's RMSE."""
    out: dict[str, Any] = {"split": result["split"], "samples": result["samples"], "finite": result["finite"]}
    out.update({k: result["metrics"][k] for k in ("rmse", "mae", "r2", "nmse")})
    for key, metrics in result["baselines"].items():
        out[f"{result['baseline_names'][key]} rmse"] = metrics["rmse"]
    return out
