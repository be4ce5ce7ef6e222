"""The settings the recipe form edits: one :class:`Field` per recipe key, each with the parser that checks
what is typed (raising ValueError with the reason), the tasks it belongs to, and how its value is shown.

Plain data and functions, no widgets: the form (:mod:`fieldcast.app.train.recipe_form`) builds its rows
from :data:`FIELDS` and the curriculum table from :data:`STAGE_COLUMNS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIELDS",
    "LOSS_WEIGHTS",
    "STAGE_COLUMNS",
    "Field",
    "drop_key",
    "get_key",
    "set_key",
    "value_text",
]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def get_key(data: dict, key: str, default: Any = None) -> Any:
    """``data["a"]["b"]`` for key ``"a.b"``; ``default`` when a level is missing."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return data


def set_key(data: dict, key: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for key ``"a.b"``, creating levels as needed."""
    *parents, last = key.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def _number(kind: type, minimum: float, strict: bool, optional: bool = False) -> Callable[[str], Any]:
    """A parser of typed text returning the value or raising ValueError with the reason."""

    def parse(text: str) -> Any:
        text = text.strip()
        if not text:
            if optional:
                return None
            raise ValueError("a value is required")
        try:
            value = int(text) if kind is int else float(text)
        except ValueError:
            raise ValueError("must be a whole number" if kind is int else "must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        if (strict and value <= minimum) or value < minimum:
            raise ValueError(f"must be {'>' if strict else '≥'} {minimum:g}")
        return value

    return parse


def _device(text: str) -> str:
    if not _DEVICE.match(text.strip()):
        raise ValueError("use auto, cpu, cuda, cuda:N or mps")
    return text.strip()


def _identifier(text: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text.strip()):
        raise ValueError("a model family name, e.g. unet")
    return text.strip()


def _split(text: str) -> str | list[float]:
    """``auto``, ``stored`` or three time ratios train:valid:test (``70:15:15``, ``12, 6, 6``)."""
    text = text.strip()
    if text in ("auto", "stored"):
        return text
    parts = [p for p in re.split(r"[\s:,/]+", text.strip("[]")) if p]
    try:
        ratios = [float(p) for p in parts]
    except ValueError:
        raise ValueError("auto, stored, or three time ratios such as 70:15:15") from None
    if len(ratios) != 3 or min(ratios) < 0 or not sum(ratios) > 0:
        raise ValueError("three non-negative time ratios such as 70:15:15")
    return ratios


def _show_split(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ":".join(f"{float(v):g}" for v in value)
    return "auto" if value is None else str(value)


def _names(optional: bool) -> Callable[[str], list[str] | None]:
    """A parser of comma-separated channel names."""

    def parse(text: str) -> list[str] | None:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            if optional:
                return None
            raise ValueError("at least one channel name")
        bad = [n for n in names if not re.match(r"^[A-Za-z_][A-Za-z0-9_.:-]*$", n)]
        if bad:
            raise ValueError(f"not a channel name: {bad[0]}")
        return names

    return parse


def _show_names(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else ""


_ROLLOUT, _RECURRENT, _SEQUENCE = ("field_rollout",), ("recurrent_field",), ("sequence",)


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    parse: Callable[[str], Any] | None = None  # text fields
    choices: tuple[str, ...] = ()  # combo boxes (editable when parse is set)
    tip: str = ""
    tasks: tuple[str, ...] = ()  # shown (and checked) for these tasks only; () = every task
    family: str | None = None  # shown for this model family only
    drop_empty: bool = False  # an empty value removes the key: the model family's default applies
    show: Callable[[Any], str] | None = None  # value -> text (default: _text)


FIELDS = (
    Field("task", "task", choices=("field_rollout", "recurrent_field", "sequence"),
           tip="how the model learns: next state from history (field rollout), a ConvLSTM streaming its"
           " state (recurrent field), a streaming LSTM over samples (sequence)"),
    Field("model.name", "model family", _identifier, ("unet", "convlstm", "lstm"), "a registered family"),
    Field("model.args.depth", "depth", _number(int, 0, False, optional=True), family="unet",
           tip="stride-2 downsamplings of the UNet (empty: the family's default)", drop_empty=True),
    Field("model.args.base_width", "base width", _number(int, 1, False, optional=True), family="unet",
           tip="channels at full resolution (empty: the family's default)", drop_empty=True),
    Field("model.args.hidden", "ConvLSTM hidden channels", _number(int, 1, False, optional=True),
           family="convlstm", tip="channels of the recurrent state (empty: the default)", drop_empty=True),
    Field("model.args.hidden_size", "LSTM hidden size", _number(int, 1, False, optional=True),
           family="lstm", tip="units of each LSTM layer (empty: the default)", drop_empty=True),
    Field("model.args.num_layers", "LSTM layers", _number(int, 1, False, optional=True), family="lstm",
           tip="stacked LSTM layers (empty: the default)", drop_empty=True),
    Field("data.split", "data split", _split, show=_show_split,
           tip="auto: by trajectory with three or more trajectories, else along time 70:15:15;"
           " stored: the file's own split; or time ratios train:valid:test, e.g. 12:6:6"),
    Field("rollout.gamma", "rollout weight decay γ", _number(float, 0, True), tip="step k weighs γ^k",
           tasks=_ROLLOUT),
    Field("rollout.truncate", "truncate gradients", tip="detach each prediction before it is fed back",
           tasks=_ROLLOUT),
    Field("recurrent.context", "context frames", _number(int, 1, False), tasks=_RECURRENT,
           tip="frames the recurrent state sees before the first scored prediction"),
    Field("recurrent.unroll", "predicted frames", _number(int, 1, False), tasks=_RECURRENT,
           tip="scored predictions per window"),
    Field("recurrent.crop_rows", "crop to top rows", _number(int, 1, False, optional=True),
           tasks=_RECURRENT, tip="keep only the top rows of the grid (empty: all)"),
    Field("recurrent.condition_channels", "condition channels", _names(False), tasks=_RECURRENT,
           show=_show_names, tip="channels given at t and t+1 (comma-separated)"),
    Field("recurrent.solidification", "solidification weight", _number(float, 0, False), tasks=_RECURRENT,
           tip="weight of the MSE weighted towards the mushy range (where the system states one)"),
    Field("sequence.seq_len", "window length", _number(int, 1, False), tasks=_SEQUENCE,
           tip="samples per training window"),
    Field("sequence.stride", "window stride", _number(int, 1, False), tasks=_SEQUENCE,
           tip="samples between window starts"),
    Field("sequence.warmup", "warm-up samples", _number(int, 0, False), tasks=_SEQUENCE,
           tip="first samples of a window only settle the state; they carry no loss"),
    Field("sequence.inputs", "input channels", _names(True), tasks=_SEQUENCE, show=_show_names,
           tip="comma-separated (empty: the system's inputs, else its control channels)"),
    Field("sequence.targets", "target channels", _names(True), tasks=_SEQUENCE, show=_show_names,
           tip="comma-separated (empty: the system's targets, else its state channels)"),
    Field("loss.mse", "MSE weight", _number(float, 0, False)),
    Field("loss.mae", "MAE weight", _number(float, 0, False), tasks=_ROLLOUT + _SEQUENCE),
    Field("loss.hybrid", "hybrid MAE/MSE weight", _number(float, 0, False), tasks=_ROLLOUT + _SEQUENCE,
           tip="weight of α·MAE + (1-α)·MSE"),
    Field("loss.hybrid_alpha", "hybrid α", _number(float, 0, False), tasks=_ROLLOUT + _SEQUENCE),
    Field("loss.divergence", "divergence weight", _number(float, 0, False), tasks=_ROLLOUT),
    Field("loss.gradient", "gradient weight", _number(float, 0, False), tasks=_ROLLOUT),
    Field("optim.name", "optimiser", choices=("adam", "adamw")),
    Field("optim.weight_decay", "weight decay", _number(float, 0, False)),
    Field("optim.grad_clip", "gradient clip", _number(float, 0, True, optional=True), tip="empty: none"),
    Field("scheduler.name", "scheduler", choices=("none", "cosine_restarts", "plateau", "linear")),
    Field("scheduler.warmup_steps", "warm-up steps", _number(int, 0, False)),
    Field("data.batch_size", "batch size", _number(int, 1, False)),
    Field("train.max_steps", "max steps per stage", _number(int, 1, False, optional=True), tip="empty: all"),
    Field("train.amp", "mixed precision (CUDA)"),
    Field("train.device", "device", _device, ("auto", "cpu", "cuda", "mps")),
)  # fmt: skip

#: the loss weights of each task, of which at least one must be > 0
LOSS_WEIGHTS = {
    "field_rollout": ("loss.mse", "loss.mae", "loss.divergence", "loss.gradient", "loss.hybrid"),
    "recurrent_field": ("loss.mse", "recurrent.solidification"),
    "sequence": ("loss.mse", "loss.mae", "loss.hybrid"),
}

#: per-stage columns of the curriculum table: (key, header, parser, tasks it applies to; () = all)
STAGE_COLUMNS = (
    ("rollout.steps", "K steps", _number(int, 1, False), _ROLLOUT),
    ("train.epochs", "epochs", _number(int, 1, False), ()),
    ("optim.lr", "learning rate", _number(float, 0, True), ()),
)


def value_text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def drop_key(data: dict, key: str) -> None:
    """Remove ``data["a"]["b"]`` for key ``"a.b"`` when it is there."""
    *parents, last = key.split(".")
    for part in parents:
        data = data.get(part)
        if not isinstance(data, dict):
            return
    data.pop(last, None)
