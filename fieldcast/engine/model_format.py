"""The Fieldcast ONNX model format: graph signature and ``metadata_props``, shared by export and runtime.

An exported model is one ONNX file the engine can run with nothing else:

- input ``fields``: float32 ``(batch, C_in, nx, ny)`` in physical units (normalisation is inside the graph),
  channels named by ``fieldcast.input_channels``;
- output ``next_fields``: float32 ``(batch, C_out, nx, ny)``, the next state in physical units;
- for recurrent families, pairs of extra inputs/outputs listed in ``fieldcast.recurrent`` (each
  ``{"input", "output", "channels", "downsample"}``: a float32 ``(batch, channels, nx/d, ny/d)`` tensor
  that starts at zero and is fed back every step).

``fieldcast.task`` says how the model is stepped: ``field_rollout`` (history of the state plus controls) or
``recurrent_field`` (the state, and condition channels at ``t`` and ``t+1``, named ``<channel>@t+1``, with
recurrent tensors); models without the key are read by their signature. ``fieldcast.context`` (recurrent
models) is the number of transitions the model was trained to see from a zero state: it is run over a
sliding window of that many transitions; 0 carries its state through the whole rollout.
``fieldcast.increments`` (optional, default 1) is the number of frames one call predicts: the output then
holds the state at ``t+1 ... t+K``, frame-major (channel ``k * C + c`` is state channel ``c`` at ``t+k+1``).

Every ``metadata_props`` value is a string; structured values are JSON. ``fieldcast.spec`` (optional) is the
model's whole system spec (:func:`fieldcast.engine.systems.spec_to_dict`), so that a model of a system this
installation does not know (``generic:...``) still names its fields, roles and units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldcast.engine.limits import loads_json
from fieldcast.engine.systems.base import SystemSpec, resolve_spec, spec_to_dict

__all__ = [
    "FORMAT",
    "FORMAT_MAJOR",
    "INPUT",
    "OUTPUT",
    "SEQUENCE_FORMAT_NAME",
    "TASKS",
    "VARIANTS",
    "ModelInfo",
    "RecurrentState",
    "build_metadata",
    "parse_metadata",
    "parse_spec",
]

FORMAT = "fieldcast-onnx/1"
FORMAT_MAJOR = 1
INPUT = "fields"
OUTPUT = "next_fields"
VARIANTS = ("fp32", "fp16", "int8")
PREFIX = "fieldcast."
TASKS = ("field_rollout", "recurrent_field")
# Sequence models (streaming LSTMs) have their own format, read by fieldcast.engine.sequence_runtime.
SEQUENCE_FORMAT_NAME = "fieldcast-sequence-onnx"

# A model sees a few frames of history; thousands would be a damaged or crafted file (and its input a
# history of that many full frames).
MAX_HISTORY = 64
MAX_CHANNELS = 4096
MAX_VALUE_CHARS = 4 << 20

# Keys every Fieldcast model must carry; the others have defaults.
_REQUIRED = ("format", "system", "input_channels", "output_channels", "history", "layout")


@dataclass(frozen=True)
class RecurrentState:
    """One recurrent tensor carried between steps: fed as ``input``, read back from ``output``.

    Its shape is ``(batch, channels, nx // downsample, ny // downsample)``; it starts at zero.
    """

    input: str
    output: str
    channels: int
    downsample: int = 1

    def shape(self, batch: int, nx: int, ny: int) -> tuple[int, int, int, int]:
        return (batch, self.channels, nx // self.downsample, ny // self.downsample)


@dataclass(frozen=True)
class ModelInfo:
    """What an exported model is: everything the engine needs to feed it and to show it to a user.

    Attributes
    ----------
    system : system id (``smoke`` ...).
    input_channels, input_units : names (``density@t-1`` for an earlier frame) and units of the inputs.
    output_channels, output_units : names and units of the predicted state.
    history : frames of state the model sees.
    grid : (nx, ny) the model was trained on.
    grid_multiple : nx and ny must be multiples of this (1: any size; 0: only ``grid``).
    dt, time_units : time between frames.
    variant : ``fp32``, ``fp16`` or ``int8``.
    layout : roles of the channels: ``state``, ``history_state``, ``controls`` (names), ``vectors`` (lists of
        state channel names forming one vector field), ``solid`` (control name or None), ``nonnegative``.
    provenance : run name, recipe hash, data hash, checkpoint, step, export date.
    metrics : validation metrics at export time.
    model : registry record ``{"name", "args", "version"}``.
    recurrent : recurrent tensors carried between steps (empty for feed-forward models).
    spec : the system spec the model was trained on (:func:`~fieldcast.engine.systems.spec_to_dict`), or
        None for models exported before specs travelled with them.
    task : ``field_rollout`` or ``recurrent_field`` (empty: read from the signature, see :attr:`kind`).
    context : transitions a recurrent model sees from a zero state (0: its state is carried throughout).
    increments : frames one call predicts (``K``); the output has ``K`` × the output channels, frame-major.
    """

    system: str
    input_channels: tuple[str, ...]
    output_channels: tuple[str, ...]
    history: int
    layout: dict[str, Any]
    input_units: tuple[str, ...] = ()
    output_units: tuple[str, ...] = ()
    grid: tuple[int, int] | None = None
    grid_multiple: int = 1
    dt: float = 1.0
    time_units: str = "frame"
    variant: str = "fp32"
    format: str = FORMAT
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    recurrent: tuple[RecurrentState, ...] = ()
    spec: dict[str, Any] | None = None
    task: str = ""
    context: int = 0
    increments: int = 1

    @property
    def output_width(self) -> int:
        """Channels of the ``next_fields`` output: the state channels times :attr:`increments`."""
        return len(self.output_channels) * self.increments

    @property
    def frames_per_step(self) -> int:
        """Simulated frames one call advances: ``dt`` for models timed in frames (at least 1), else 1."""
        if self.time_units != "frame" or not self.dt >= 1.0 or self.dt > 1e6:
            return 1
        return max(1, round(self.dt))

    @property
    def kind(self) -> str:
        """How the model is stepped: its ``task``, else ``recurrent_field`` when it has recurrent tensors."""
        return self.task or ("recurrent_field" if self.recurrent else "field_rollout")

    def system_spec(self) -> SystemSpec:
        """The model's system spec: the one it carries, else the built-in one (KeyError if unknown)."""
        return resolve_spec(self.system, self.spec)

    def check_grid(self, nx: int, ny: int) -> str | None:
        """None when the model accepts an ``nx`` × ``ny`` grid, else the reason it does not."""
        m = self.grid_multiple
        if m == 0 and self.grid is not None and (nx, ny) != tuple(self.grid):
            return f"this model only runs on its training grid {self.grid[0]}×{self.grid[1]}"
        if m > 1 and (nx % m or ny % m):
            return f"grid {nx}×{ny}: both sizes must be multiples of {m}"
        return None


def build_metadata(info: ModelInfo) -> dict[str, str]:
    """``metadata_props`` (all strings) describing ``info``."""
    values: dict[str, Any] = {
        "format": info.format,
        "system": info.system,
        "input_channels": list(info.input_channels),
        "input_units": list(info.input_units),
        "output_channels": list(info.output_channels),
        "output_units": list(info.output_units),
        "history": info.history,
        "grid": list(info.grid) if info.grid else None,
        "grid_multiple": info.grid_multiple,
        "dt": info.dt,
        "time_units": info.time_units,
        "variant": info.variant,
        "layout": info.layout,
        "provenance": info.provenance,
        "metrics": info.metrics,
        "model": info.model,
        "recurrent": [vars(r) for r in info.recurrent],
        "task": info.kind,
    }
    if info.recurrent:
        values["context"] = int(info.context)
    if info.increments != 1:
        values["increments"] = int(info.increments)
    if info.spec is not None:
        values["spec"] = spec_to_dict(resolve_spec(info.system, info.spec))
    return {PREFIX + k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in values.items()}


def metadata_value(props: dict[str, str], key: str, default: Any = None) -> Any:
    """The JSON value of metadata ``fieldcast.<key>``, ``default`` when absent; ValueError when not JSON."""
    text = props.get(PREFIX + key)
    if text is None:
        return default
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"metadata {PREFIX + key} holds {len(text):,} characters, far beyond any metadata")
    try:
        return loads_json(text, f"metadata {PREFIX + key}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"metadata {PREFIX + key} is not valid JSON ({exc.msg})") from None


def parse_spec(props: Mapping[str, str], system: str) -> dict[str, Any] | None:
    """The spec carried as ``fieldcast.spec`` (None when absent); ValueError naming the key when it is bad."""
    data = metadata_value(dict(props), "spec")
    if data is None:
        return None
    try:
        return spec_to_dict(resolve_spec(system, data))
    except ValueError as exc:
        raise ValueError(f"metadata {PREFIX}spec is not a valid system spec ({exc})") from None


def parse_metadata(props: Mapping[str, str]) -> ModelInfo:
    """Read a :class:`ModelInfo` from ``metadata_props``; ValueError naming the first problem."""
    if props.get(PREFIX + "format", "").startswith(SEQUENCE_FORMAT_NAME + "/"):
        raise ValueError("a sequence model, not a field model (it streams samples, not fields)")
    missing = [k for k in _REQUIRED if PREFIX + k not in props]
    if missing:
        raise ValueError(f"not a Fieldcast model (metadata {', '.join(PREFIX + k for k in missing)} missing)")
    fmt = props[PREFIX + "format"]
    name, _, version = fmt.partition("/")
    if name != "fieldcast-onnx" or not version.isdigit():
        raise ValueError(f"unknown model format {fmt!r}")
    if int(version) > FORMAT_MAJOR:
        raise ValueError(
            f"model format {fmt} is newer than this Fieldcast reads ({FORMAT}); update Fieldcast"
        )

    def get(key: str, default: Any = None) -> Any:
        return metadata_value(props, key, default)

    spec = parse_spec(props, props[PREFIX + "system"])
    try:
        info = ModelInfo(
            system=props[PREFIX + "system"],
            input_channels=tuple(get("input_channels")),
            output_channels=tuple(get("output_channels")),
            history=int(get("history")),
            layout=dict(get("layout")),
            input_units=tuple(get("input_units", [])),
            output_units=tuple(get("output_units", [])),
            grid=tuple(get("grid")) if get("grid") else None,
            grid_multiple=int(get("grid_multiple", 1)),
            dt=float(get("dt", 1.0)),
            time_units=props.get(PREFIX + "time_units", "frame"),
            variant=props.get(PREFIX + "variant", "fp32"),
            format=fmt,
            provenance=dict(get("provenance", {})),
            metrics=dict(get("metrics", {})),
            model=dict(get("model", {})),
            recurrent=tuple(RecurrentState(**r) for r in get("recurrent", [])),
            spec=spec,
            task=props.get(PREFIX + "task", ""),
            context=int(get("context", 0)),
            increments=int(get("increments", 1)),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed Fieldcast metadata ({exc})") from None
    if info.task and info.task not in TASKS:
        raise ValueError(f"metadata {PREFIX}task: unknown task {info.task!r} (expected {', '.join(TASKS)})")
    if info.context < 0:
        raise ValueError(f"metadata {PREFIX}context must be 0 or more, got {info.context}")
    if not 1 <= info.history <= MAX_HISTORY:
        raise ValueError(f"metadata {PREFIX}history must be 1 to {MAX_HISTORY} frames, got {info.history}")
    if not 1 <= info.increments <= 1000 or (info.increments > 1 and info.recurrent):
        raise ValueError(
            f"metadata {PREFIX}increments must be 1 to 1000 (1 for a recurrent model), got {info.increments}"
        )
    if info.context > 100_000:
        raise ValueError(f"metadata {PREFIX}context of {info.context} transitions is not a real window")
    if not 0 < len(info.input_channels) <= MAX_CHANNELS or not 0 < len(info.output_channels) <= MAX_CHANNELS:
        raise ValueError(
            f"metadata names {len(info.input_channels)} input and {len(info.output_channels)} output channels"
        )
    if not (info.dt > 0 and info.dt < float("inf")):
        raise ValueError(f"metadata {PREFIX}dt = {info.dt:g} is not a positive time step")
    if info.grid is not None and (
        len(info.grid) != 2 or not all(isinstance(n, int) and 1 <= n <= 65536 for n in info.grid)
    ):
        raise ValueError(f"metadata {PREFIX}grid {list(info.grid)!r} is not a grid size")
    _check_layout(info)
    return info


def _check_layout(info: ModelInfo) -> None:
    lay = info.layout
    for key in ("state", "history_state", "controls"):
        if not isinstance(lay.get(key), list):
            raise ValueError(f"metadata {PREFIX}layout has no list {key!r}")
    if list(lay["state"]) != list(info.output_channels):
        raise ValueError("metadata layout.state does not match the output channels")
    expected = len(lay["state"]) + (info.history - 1) * len(lay["history_state"]) + len(lay["controls"])
    if expected != len(info.input_channels):
        raise ValueError(
            f"metadata layout describes {expected} input channels, the model lists {len(info.input_channels)}"
        )
