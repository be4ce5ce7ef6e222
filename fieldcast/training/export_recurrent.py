"""Export of a recurrent-field run (a ConvLSTM such as the melt microstructure model) to one ONNX file.

The model's input is ``[state(t), condition(t), condition(t+1)]`` (names from the sidecar:
``state_channels``, ``condition_channels`` and the normalisation's ``input_names``/``output_names``), its
recurrent tensors an explicit input/output pair each, so the engine can stream them; ``fieldcast.context``
says over how many transitions from a zero state it was trained to run. Where the system states a
``liquidus`` (the sidecar carries it), the first condition channel is a temperature and cells liquid at
``t+1`` are forced to state 0 inside the graph, as training scored them.

Parity is measured over a streamed sequence: validation windows of several frames are stepped with the true
state and conditions (teacher forcing, as in training), torch and ONNX Runtime each feeding back their own
recurrent state, and every step's prediction is compared. INT8 is static (QDQ) and calibrated on the inputs
and recurrent states of streamed training windows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.model_format import INPUT, OUTPUT, ModelInfo
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.base import resolve_spec, spec_to_dict
from fieldcast.training import export_checks as checks
from fieldcast.training.export import (
    ExportError,
    check_channels,
    check_grid,
    file_record,
    half_precision,
    open_export_data,
    rollout_record,
)
from fieldcast.training.export_onnx import (
    channel_units,
    provenance,
    recurrent_states,
    set_metadata,
    to_onnx,
    validation_metrics,
)
from fieldcast.training.rollout import SurrogateStep

__all__ = ["RecurrentExporter"]

_MIN_STREAM = 3  # streamed steps of the parity check, at least


class _LiquidMask(torch.nn.Module):
    """The model with cells liquid at ``t+1`` forced to state 0, in normalised units (for export)."""

    def __init__(self, model: torch.nn.Module, norm: dict[str, Any], t_next: int, liquidus: float) -> None:
        super().__init__()
        self.model = model
        self.recurrent_states = model.recurrent_states
        self.grid_multiple = model.grid_multiple
        self.t_next = t_next  # the input channel holding the temperature at t+1
        self.threshold = (liquidus - norm["in_mean"][t_next]) / norm["in_std"][t_next]
        zero = [-m / s for m, s in zip(norm["out_mean"], norm["out_std"], strict=True)]
        self.register_buffer("zero", torch.tensor(zero, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, *new = self.model(x, *states)  # (B, Cs, H, W) normalised, then the recurrent state
        liquid = x[:, self.t_next : self.t_next + 1] >= self.threshold  # (B, 1, H, W)
        return (torch.where(liquid, self.zero, y), *new)


class RecurrentExporter:
    """A recurrent-field run: see the module docstring."""

    task = "recurrent_field"

    def __init__(self, run: Path, ckpt: Path, model, sidecar: dict, data, n_samples: int) -> None:
        norm = sidecar["normalisation"]
        spec = resolve_spec(sidecar["system"], sidecar.get("spec"))
        self.state_names = list(sidecar.get("state_channels") or norm["output_names"])
        self.cond_names = list(sidecar["condition_channels"])
        inputs = list(norm["input_names"])
        expected = [*self.state_names, *self.cond_names, *(f"{n}@t+1" for n in self.cond_names)]
        if inputs != expected:
            raise ExportError(
                ckpt.with_suffix(".json"),
                f"input channels {inputs} are not [state, condition, condition@t+1] ({expected})",
            )
        module = model.eval()
        if sidecar.get("liquidus") is not None:
            module = _LiquidMask(
                module, norm, inputs.index(f"{self.cond_names[0]}@t+1"), float(sidecar["liquidus"])
            )
        self.step = SurrogateStep(
            module, norm["in_mean"], norm["in_std"], norm["out_mean"], norm["out_std"]
        ).eval()
        self.grid = tuple(sidecar["grid"])
        self.context = int(sidecar.get("context") or 0)
        self.info = _recurrent_info(run, ckpt, sidecar, spec, module, self.state_names, self.context)
        self.grid_multiple = self.info.grid_multiple
        self.scale = np.asarray(norm["out_std"], np.float64)
        self.n_samples = n_samples
        self.dataset, data_path = open_export_data(data, sidecar)
        self.windows = None
        if self.dataset is not None:
            check_channels(self.dataset, data_path, [*self.cond_names, *self.state_names])
            check_grid(self.info, self.dataset, data_path)
            self.windows = self._windows("valid")
        length = max(_MIN_STREAM, self.context) + 1
        if self.windows is None:
            self.windows = _synthetic_windows(norm, len(self.cond_names), self.grid, length, n_samples)
            self.source = f"synthetic ({len(self.windows)} windows of {length} frames, streamed)"
        else:
            self.source = (
                f"valid split ({len(self.windows)} windows of {self.windows.shape[1]} frames, streamed)"
            )
        self.reference, _ = self._stream_torch(self.windows)
        self.horizons = list(
            ((sidecar.get("config") or {}).get("train") or {}).get("rollout_horizons") or [1, 5]
        )

    # ------------------------------------------------------------------ data

    def _windows(self, split: str) -> np.ndarray | None:
        """Windows (B, L, Cc + Cs, nx, ny) of ``split``, condition channels first; None if it has none."""
        ds = self.dataset
        for length in range(max(_MIN_STREAM, self.context) + 1, 1, -1):  # as long as the split allows
            found = ds.windows(split, length)
            if found:
                break
        else:
            return None
        picks = np.random.default_rng(0).choice(
            len(found), size=min(self.n_samples, len(found)), replace=False
        )
        names = list(ds.channel_names)
        index = [names.index(n) for n in [*self.cond_names, *self.state_names]]
        return np.stack([ds.read_window(*found[i], length)[:, index] for i in sorted(picks)]).astype(
            np.float32
        )

    def _feeds(self, window: np.ndarray, s: int) -> np.ndarray:
        """The model input of step ``s`` (frame s -> s+1): [state(s), condition(s), condition(s+1)]."""
        c = len(self.cond_names)
        return np.concatenate([window[:, s, c:], window[:, s, :c], window[:, s + 1, :c]], axis=1)

    @torch.no_grad()
    def _stream_torch(self, windows: np.ndarray) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
        """Torch predictions of every step (B, S, Cs, nx, ny), and each step's complete feeds."""
        s = self.step
        b, length, _, nx, ny = windows.shape
        states = [torch.zeros(r.shape(b, nx, ny)) for r in self.info.recurrent]
        preds, feeds = [], []
        for k in range(length - 1):
            x = torch.from_numpy(self._feeds(windows, k))
            feeds.append(
                {
                    INPUT: x.numpy(),
                    **{r.input: st.numpy() for r, st in zip(self.info.recurrent, states, strict=True)},
                }
            )
            z, *states = s.model((x - s.in_mean) / s.in_std, *states)
            preds.append((z * s.out_std + s.out_mean).numpy())
        return np.stack(preds, axis=1), feeds

    # ------------------------------------------------------------------ variants

    def fp32(self) -> onnx.ModelProto:
        graph = set_metadata(to_onnx(self.step, self.grid, dynamic_grid=True), self.info)
        self.step.eval()  # the exporter leaves the tree in its (fresh) wrapper's training mode
        return graph

    def variant(self, model: onnx.ModelProto, name: str) -> onnx.ModelProto:
        return set_metadata(model, dataclasses.replace(self.info, variant=name))

    def fp16(self, fp32: onnx.ModelProto) -> onnx.ModelProto:
        return half_precision(fp32)

    def int8(self, fp32: onnx.ModelProto, folder: Path) -> tuple[onnx.ModelProto, str]:
        windows = self._windows("train") if self.dataset is not None else None
        windows = self.windows if windows is None else windows
        calib = [
            {k: v[i : i + 1] for k, v in feed.items()}
            for feed in self._stream_torch(windows)[1]
            for i in range(len(windows))
        ]
        method = (
            f"static (QDQ, per-channel weights), calibrated on {len(calib)} streamed steps with their state"
        )
        return checks.quantize_static_model(fp32, calib, folder), method

    def check(self, path: Path, token: CancelToken):
        """Streamed parity against torch, then the rollout error on the validation split."""
        session = ModelSession(path)
        b, length, _, nx, ny = self.windows.shape
        states = {r.input: np.zeros(r.shape(b, nx, ny), np.float32) for r in self.info.recurrent}
        outs = []
        for k in range(length - 1):
            token.raise_if_cancelled()
            out = session.run({INPUT: self._feeds(self.windows, k), **states})
            outs.append(out[OUTPUT].copy())
            states = {r.input: out[r.output].copy() for r in self.info.recurrent}
        record = file_record(path, session.providers)
        ref = self.reference.reshape(-1, *self.reference.shape[2:])
        got = np.stack(outs, axis=1).reshape(ref.shape)
        record["parity"] = {**checks.parity(ref, got, self.scale), "streamed_steps": length - 1}
        record["rollout"] = yield from rollout_record(session, self.dataset, self.horizons, token)
        return record


def _synthetic_windows(norm: dict, n_cond: int, grid: tuple[int, int], length: int, n: int) -> np.ndarray:
    """Random windows (n, L, Cc + Cs, nx, ny) with the training statistics, for runs whose data is gone."""
    rng = np.random.default_rng(0)
    n_state = len(norm["out_mean"])
    mean = np.asarray(norm["in_mean"][n_state : n_state + n_cond] + norm["out_mean"], np.float32)
    std = np.asarray(norm["in_std"][n_state : n_state + n_cond] + norm["out_std"], np.float32)
    noise = rng.standard_normal((n, length, len(mean), *grid)).astype(np.float32)
    return mean[None, None, :, None, None] + std[None, None, :, None, None] * noise


def _recurrent_info(
    run: Path, ckpt: Path, sidecar: dict, spec, module, state: list[str], context: int
) -> ModelInfo:
    norm = sidecar["normalisation"]
    inputs = list(norm["input_names"])
    vectors = [
        comps
        for f in spec.fields
        if f.role == "state" and f.order == 1
        for comps in [f.component_names(spec.n_dims)]
        if all(c in state for c in comps)
    ]
    return ModelInfo(
        system=sidecar["system"],
        input_channels=tuple(inputs),
        output_channels=tuple(norm["output_names"]),
        history=1,
        layout={
            "state": list(norm["output_names"]),
            "history_state": [],
            "controls": [n for n in inputs if n not in state],
            "vectors": vectors,
            "solid": None,
            "nonnegative": [],
        },
        input_units=channel_units(spec, inputs),
        output_units=channel_units(spec, norm["output_names"]),
        grid=tuple(sidecar["grid"]),
        grid_multiple=int(getattr(module, "grid_multiple", 1) or 1),
        dt=float(sidecar.get("dt") or spec.dt),
        time_units=spec.time_units,
        provenance=provenance(run, ckpt, sidecar),
        metrics=validation_metrics(run),
        model=dict(sidecar["model"]),
        recurrent=recurrent_states(module),
        spec=spec_to_dict(spec),
        task="recurrent_field",
        context=context,
    )
