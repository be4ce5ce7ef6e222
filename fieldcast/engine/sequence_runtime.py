"""Streaming sessions for exported sequence models (``fieldcast-sequence-onnx/1``): one sample per call.

A sequence model (the trajectory LSTM) maps reference motion to tracking error and carries its recurrent
state as explicit tensors::

    inputs (B, C_in) physical units, h_in, c_in (layers, B, hidden)  →  errors (B, C_out), h_out, c_out

:class:`SequenceSession` validates such a file before ONNX Runtime sees it, the way
:class:`fieldcast.engine.runtime.ModelSession` does for field models (readable ONNX, checker, external data
kept inside the model's folder, the expected signature and metadata), then steps it sample by sample and
times every step, which is the number a printer firmware integration cares about.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.devices import usable_providers
from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.model_format import PREFIX, metadata_value, parse_spec
from fieldcast.engine.runtime import ModelError, _check_external_data
from fieldcast.engine.systems.base import SystemSpec, resolve_spec

__all__ = [
    "SEQUENCE_FORMAT",
    "SequenceInfo",
    "SequenceSession",
    "is_sequence_model",
    "load_sequence_checked",
    "sequence_features",
]

SEQUENCE_FORMAT = "fieldcast-sequence-onnx/1"
_FORMAT_NAME, _, _FORMAT_MAJOR = SEQUENCE_FORMAT.partition("/")
_REQUIRED = ("format", "system", "input_channels", "output_channels", "state_shape")
SIGNATURE_IN = ("inputs", "h_in", "c_in")
SIGNATURE_OUT = ("errors", "h_out", "c_out")
_OUTPUTS = list(SIGNATURE_OUT)
#: a streaming LSTM is kilobytes to a few megabytes; a bigger .onnx is not worth opening to find out
MAX_SCAN_BYTES = 64 << 20


def sequence_features(name: str, input_names, dt: float):
    """The engine-side feature pipeline ``name`` for raw channels ``input_names`` sampled every ``dt``.

    A pipeline turns each raw sample into the network's features (same width) and a base that the
    network's output is added to, streaming with a fixed ``latency`` in samples: ``step(row)`` returns the
    features and base of the sample ``latency`` calls earlier, ``transform(raw)`` a whole trajectory aligned
    with its samples, ``pad(raw)`` the samples a stream appends to flush the latency. ValueError when
    ``name`` is unknown or the channels do not fit it.
    """
    from fieldcast.engine.systems.trajectory import features as trajectory_features

    if name == trajectory_features.FEATURES_NAME:
        return trajectory_features.PhysicsFeatures(input_names, dt)
    raise ValueError(f"unknown feature pipeline {name!r} (known: {trajectory_features.FEATURES_NAME})")


@dataclass(frozen=True)
class SequenceInfo:
    """What an exported sequence model is.

    Attributes
    ----------
    system : system id (``trajectory``).
    input_channels, input_units : names and units of the per-sample inputs (``x_ref`` mm ...).
    output_channels, output_units : names and units of the outputs (``error_x`` µm ...).
    layers, hidden : shape of each recurrent tensor, ``(layers, batch, hidden)``.
    dt, time_units : time between samples the model was trained on.
    metrics, provenance, model : validation metrics, export provenance, registry record.
    spec : the system spec the model was trained on (``fieldcast.spec``), or None when it carries none.
    variant : ``fp32``, ``fp16`` or ``int8``.
    normalisation : the training statistics baked into the graph (``in_mean``, ``in_std``, ``out_mean``,
        ``out_std``, physical units), empty when the file does not list them.
    features : the engine-side feature pipeline the graph runs behind (:func:`sequence_features`; for the
        trajectory model ``trajectory-physics/1``: the printer's physics filter, the graph predicting its
        residual), "" when the graph reads the raw channels.
    """

    system: str
    input_channels: tuple[str, ...]
    output_channels: tuple[str, ...]
    layers: int
    hidden: int
    input_units: tuple[str, ...] = ()
    output_units: tuple[str, ...] = ()
    dt: float = 0.01
    time_units: str = "s"
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    variant: str = "fp32"
    normalisation: dict[str, Any] = field(default_factory=dict)
    features: str = ""

    @property
    def kind(self) -> str:
        return "sequence"

    def system_spec(self) -> SystemSpec:
        """The model's system spec: the one it carries, else the built-in one (KeyError if unknown)."""
        return resolve_spec(self.system, self.spec)


def _parse_info(props: dict[str, str]) -> SequenceInfo:
    """A :class:`SequenceInfo` from ``metadata_props``; ValueError naming the first problem."""
    if props.get(PREFIX + "format", "").startswith("fieldcast-onnx/"):
        raise ValueError("a field model, not a sequence model: open it in the Play panel's field view")
    missing = [k for k in _REQUIRED if PREFIX + k not in props]
    if missing:
        raise ValueError(f"not a Fieldcast sequence model (metadata {PREFIX + missing[0]} missing)")
    fmt = props[PREFIX + "format"]
    name, _, version = fmt.partition("/")
    if name != _FORMAT_NAME or not version.isdigit():
        raise ValueError(f"unknown model format {fmt!r} (expected {SEQUENCE_FORMAT})")
    if int(version) > int(_FORMAT_MAJOR):
        raise ValueError(f"model format {fmt} is newer than this Fieldcast reads ({SEQUENCE_FORMAT})")

    def get(key: str, default: Any = None) -> Any:
        return metadata_value(props, key, default)

    spec = parse_spec(props, props[PREFIX + "system"])
    try:
        layers, hidden = (int(v) for v in get("state_shape"))
        info = SequenceInfo(
            system=props[PREFIX + "system"],
            input_channels=tuple(str(c) for c in get("input_channels")),
            output_channels=tuple(str(c) for c in get("output_channels")),
            layers=layers,
            hidden=hidden,
            input_units=tuple(get("input_units", [])),
            output_units=tuple(get("output_units", [])),
            dt=float(get("dt", 0.01)),
            time_units=props.get(PREFIX + "time_units", "s"),
            metrics=dict(get("metrics", {})),
            provenance=dict(get("provenance", {})),
            model=dict(get("model", {})),
            spec=spec,
            variant=props.get(PREFIX + "variant", "fp32"),
            normalisation=_normalisation(get("normalisation", {})),
            features=str(props.get(PREFIX + "features", "")),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed Fieldcast sequence metadata ({exc})") from None
    if not (info.input_channels and info.output_channels and info.layers >= 1 and info.hidden >= 1):
        raise ValueError("metadata lists no channels or an empty recurrent state")
    if (
        info.layers > 64
        or info.hidden > 65536
        or max(len(info.input_channels), len(info.output_channels)) > 4096
    ):
        raise ValueError(
            f"metadata declares {info.layers} layers of {info.hidden} units: not a model this reader runs"
        )
    return info


def _normalisation(data: Any) -> dict[str, list[float]]:
    """The statistics of ``fieldcast.normalisation`` as lists of floats (names and other keys dropped)."""
    if not isinstance(data, dict):
        raise ValueError("normalisation is not an object")
    out = {}
    for key in ("in_mean", "in_std", "out_mean", "out_std"):
        if key in data:
            out[key] = [float(v) for v in data[key]]
    return out


def _dims(value) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def _check_signature(model, info: SequenceInfo, path: Path) -> None:
    import onnx

    inits = {t.name for t in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in inits}
    outputs = {o.name: o for o in model.graph.output}
    if set(inputs) != set(SIGNATURE_IN) or not set(SIGNATURE_OUT) <= set(outputs):
        raise ModelError(
            path,
            f"inputs {sorted(inputs)} / outputs {sorted(outputs)} do not match the sequence signature "
            f"(inputs {list(SIGNATURE_IN)}, outputs {list(SIGNATURE_OUT)})",
        )
    expect = {
        "inputs": (inputs["inputs"], [None, len(info.input_channels)]),
        "errors": (outputs["errors"], [None, len(info.output_channels)]),
        "h_in": (inputs["h_in"], [info.layers, None, info.hidden]),
        "c_in": (inputs["c_in"], [info.layers, None, info.hidden]),
    }
    for name, (value, want) in expect.items():
        dims = _dims(value)
        ok = value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and len(dims) == len(want)
        ok = ok and all(w is None or d is None or d == w for d, w in zip(dims, want, strict=False))
        if not ok:
            shape = ", ".join("?" if w is None else str(w) for w in want)
            raise ModelError(path, f"{name!r} must be a float32 ({shape}) tensor as the metadata describes")


def _check_normalisation(info: SequenceInfo, path: Path) -> None:
    """The statistics the metadata lists must have one value per channel."""
    norm = info.normalisation
    for key, names in (("in", info.input_channels), ("out", info.output_channels)):
        for stat in ("mean", "std"):
            values = norm.get(f"{key}_{stat}")
            if values is not None and len(values) != len(names):
                raise ModelError(
                    path,
                    f"metadata normalisation {key}_{stat} has {len(values)} values for {len(names)} channels",
                )


def load_sequence_checked(path: str | os.PathLike):
    """Load and check a sequence model without running it; returns ``(onnx.ModelProto, SequenceInfo)``.

    Raises
    ------
    ModelError : missing, not ONNX, damaged, escaping its folder, or not a Fieldcast sequence model.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: all mean "not a readable ONNX file"
        raise ModelError(path, f"not a readable ONNX file ({type(exc).__name__})") from None
    if not model.graph.node:
        raise ModelError(path, "not an ONNX model (empty or truncated file)")
    _check_external_data(model, path)
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # the checker raises its own ValidationError or protobuf errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(path, f"invalid ONNX model ({first})") from None
    try:
        info = _parse_info({p.key: p.value for p in model.metadata_props})
    except ValueError as exc:
        raise ModelError(path, str(exc)) from None
    _check_signature(model, info, path)
    _check_normalisation(info, path)
    return model, info


def is_sequence_model(path: str | os.PathLike) -> bool:
    """True when ``path`` declares the sequence format in its metadata (a cheap test, not validation)."""
    import onnx

    path = Path(path)
    try:
        if path.stat().st_size > MAX_SCAN_BYTES:
            return False
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable files are simply not listed; opening one explicitly reports why
        return False
    props = {p.key: p.value for p in model.metadata_props}
    return props.get(PREFIX + "format", "").startswith(_FORMAT_NAME + "/")


class SequenceSession:
    """One ONNX Runtime session of a streaming sequence model, stepped one sample at a time.

    Parameters
    ----------
    path : the ``.onnx`` file (``fieldcast-sequence-onnx/1``).
    providers : providers to ask for, in order; default every usable one. Unusable ones are dropped and
        the CPU provider is always last.
    threads : intra-op threads; one is fastest for a single small step.

    Attributes
    ----------
    info : the model's :class:`SequenceInfo`.
    providers : providers ONNX Runtime actually uses.
    last_step_ms : (T,) milliseconds of every step of the last :meth:`predict`.
    """

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        _, self.info = load_sequence_checked(self.path)
        usable = usable_providers()
        wanted = [p for p in (providers or usable) if p in usable]
        if "CPUExecutionProvider" not in wanted:
            wanted.append("CPUExecutionProvider")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=wanted)
        except Exception as exc:  # ONNX Runtime's own exception types vary by build
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(self.path, f"ONNX Runtime cannot load it ({first})") from None
        self.providers: list[str] = list(self.session.get_providers())
        self.last_step_ms = np.zeros(0)
        self._lock = threading.Lock()
        self.latency = 0  # samples between an input and the output that step() returns for it
        if self.info.features:
            try:
                pipe = sequence_features(self.info.features, self.info.input_channels, self.info.dt)
            except ValueError as exc:
                raise ModelError(self.path, str(exc)) from None
            self.latency = int(pipe.latency)

    def initial_state(self) -> tuple:
        """Zero ``(h, c)``, each ``(layers, 1, hidden)`` float32, and (for a model behind a feature pipeline)
        a fresh pipeline that streams the printer's physics beside them."""
        shape = (self.info.layers, 1, self.info.hidden)
        h, c = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        if not self.info.features:
            return h, c
        return h, c, sequence_features(self.info.features, self.info.input_channels, self.info.dt)

    def step(self, x: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        """One sample: ``x`` (C_in,) physical units and the state → outputs (C_out,) and the next state.

        A model behind a feature pipeline answers for the sample :attr:`latency` calls earlier (its first
        answers are for the machine at rest at the first sample).
        """
        if len(state) > 2:
            row, base = state[2].step(x)
            feeds = {"inputs": row.astype(np.float32).reshape(1, -1), "h_in": state[0], "c_in": state[1]}
        else:
            base = None
            feeds = {"inputs": np.asarray(x, np.float32).reshape(1, -1), "h_in": state[0], "c_in": state[1]}
        with self._lock:
            try:
                y, h, c = self.session.run(_OUTPUTS, feeds)
            except Exception as exc:  # ONNX Runtime's own errors: name the model, keep one line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(" : ")[-1]
                raise ModelError(self.path, f"ONNX Runtime failed to run it ({first[:300]})") from None
        if base is None:
            return y[0], (h, c)
        y = y[0]
        y[0] += base[0]
        y[1] += base[1]
        return y, (h, c, state[2])

    def predict(self, inputs: np.ndarray, cancel: CancelToken | None = None) -> np.ndarray:
        """Stream a whole sequence from a zero state: ``inputs`` (T, C_in) → outputs (T, C_out), float64.

        Each step is timed (:attr:`last_step_ms`); ``cancel`` is polled every 256 samples and raises
        :class:`fieldcast.engine.jobs.Cancelled` when set.
        """
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.info.input_channels):
            raise ValueError(
                f"{self.path.name}: expected inputs (T, {len(self.info.input_channels)}), got {x.shape}"
            )
        n = x.shape[0]
        state = self.initial_state()
        lag = self.latency
        if lag and n:
            # The first `lag` samples only fill the pipeline; the padding flushes the last ones out.
            padded = np.ascontiguousarray(state[2].pad(x), dtype=np.float32)
            for row in padded[:lag]:
                state[2].step(row)
            x = padded[lag:]
        out = np.empty((n, len(self.info.output_channels)), np.float64)
        times = np.empty(n, np.float64)
        clock = time.perf_counter
        for t in range(n):
            if cancel is not None and t % 256 == 0:
                cancel.raise_if_cancelled()
            start = clock()
            out[t], state = self.step(x[t], state)
            times[t] = clock() - start
        self.last_step_ms = times * 1000.0
        return out

    def timing(self) -> dict[str, float]:
        """Per-sample milliseconds of the last :meth:`predict`: ``mean``, ``p50``, ``p99``, ``max``."""
        ms = self.last_step_ms
        if ms.size == 0:
            return {}
        p50, p99 = np.percentile(ms, [50, 99])
        return {"mean": float(ms.mean()), "p50": float(p50), "p99": float(p99), "max": float(ms.max())}

    def __repr__(self) -> str:
        return f"SequenceSession({self.path.name!r}, {self.info.system}, {self.providers[0]})"
