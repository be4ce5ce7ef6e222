"""Training recipes: dataclasses, YAML files with ``parent:`` inheritance and ``--set key=value`` overrides.

A recipe file holds any subset of the sections below. ``parent: NAME`` merges the parent recipe underneath
(dicts merge key by key, everything else is replaced). ``name``, ``parent``, ``description`` and
``init_from_parent`` belong to the file that states them and are never inherited. Parsing is strict: an
unknown key or a value of the wrong type raises :class:`RecipeError` naming the file and the dotted key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from fieldcast.engine.limits import loads_yaml

__all__ = [
    "DataConfig",
    "GenerativeConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "Recipe",
    "RecipeError",
    "RecurrentConfig",
    "RolloutConfig",
    "SchedulerConfig",
    "SequenceConfig",
    "TrackingConfig",
    "TrainConfig",
    "apply_overrides",
    "config_hash",
    "load_recipe",
    "recipe_from_dict",
    "recipe_to_dict",
    "resolve_recipe_path",
]

_OWN_KEYS = ("name", "parent", "description", "init_from_parent")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file (or ``--set``) and the key."""


@dataclass
class DataConfig:
    path: str | None = None  # dataset file; relative paths are taken from the recipe's folder
    # State channels (or whole fields) the model sees and predicts; the others are neither inputs nor outputs.
    # None = every state channel of the system (e.g. [temperature] for a melt thermal model).
    state_channels: list[str] | None = None
    history_channels: list[str] | None = None  # channels of earlier frames; None = all chosen state channels
    # "auto": the file's split by trajectory when it has three or more trajectories, else a cut along time
    # (70:15:15 of every trajectory); "stored": the file's split; [a, b, c]: time ratios train:valid:test.
    split: str | list[float] = "auto"
    batch_size: int = 4
    flip_x: bool = False  # mirror x (and negate x-components of vector fields) at random
    max_train_windows: int | None = None  # cap for quick runs
    # Training windows that start a trajectory, repeated this many times per epoch: a simulation's start (a
    # plume leaving its emitter into still air) happens once per trajectory, however long it runs.
    oversample_start: int = 1
    max_valid_windows: int | None = None
    num_workers: int = 0


@dataclass
class ModelConfig:
    name: str = "unet"
    args: dict = field(default_factory=dict)  # constructor arguments; channel counts come from the data


@dataclass
class LossConfig:
    mse: float = 1.0
    mae: float = 0.0
    hybrid: float = 0.0  # weight of alpha*MAE + (1-alpha)*MSE
    hybrid_alpha: float = 0.7
    divergence: float = 0.0  # mean squared central-difference divergence of vector state fields
    emitter: float = 0.0  # density appearing where no source or neighbouring density can explain it
    emitter_channel: str = "emitter"
    emitter_radius: int = 1  # cells density may travel per step
    gradient: float = 0.0  # L1 between spatial differences of prediction and truth
    # Squared difference of each state channel's mean square over the grid (normalised units), prediction
    # against truth: kinetic energy for velocities, amount of smoke for density. Counters the pointwise
    # terms' pull towards a smooth, damped mean in chaotic flows.
    energy: float = 0.0
    weight_map: Literal["none", "gradient", "mask"] = "none"
    weight_map_channel: str | None = None  # control channel for weight_map="mask"
    weight_map_strength: float = 1.0


@dataclass
class RolloutConfig:
    steps: int = 1  # K: autoregressive steps per sample
    gamma: float = 1.0  # step k weighs gamma**k, normalised by the sum
    truncate: bool = False  # detach the prediction before it becomes the next input
    solid_mask: str | None = None  # control channel inside which vector state fields are zeroed
    nonnegative: list[str] = field(default_factory=list)  # state channels clamped at >= 0
    residual: bool = False  # the model predicts the one-step change of the state, added to the current one
    # Std of Gaussian noise added to the normalised state inputs of the first step, in training only
    # (not validation); 0 = off. E.g. 0.01-0.05 makes long autoregressive rollouts more stable.
    input_noise: float = 0.0
    # Pushforward: before the scored steps, up to this many steps (drawn per batch, 0..warmup) are rolled out
    # from the model's own predictions without gradient, so the scored steps start from the kind of state
    # the model itself produces late in a long rollout, not only from solver states. 0 = off.
    warmup: int = 0


@dataclass
class RecurrentConfig:
    """The recurrent-field task (a ConvLSTM streaming its state, conditioned on the next driver frame)."""

    context: int = 3  # frames the recurrent state sees before the first scored prediction
    unroll: int = 1  # predicted (scored) frames per window
    crop_rows: int | None = None  # keep only the top rows of the grid (where a surface process acts)
    condition_channels: list[str] = field(default_factory=lambda: ["temperature"])  # given at t and t+1
    # Weight of a second MSE weighted towards the mushy range of the first condition channel (between the
    # system's solidus and liquidus); 0 where the system states none.
    solidification: float = 1.0
    width: float = 0.1


@dataclass
class SequenceConfig:
    """The sequence task (a streaming LSTM over per-sample channels)."""

    seq_len: int = 50  # samples per training window
    stride: int = 10  # samples between window starts
    warmup: int = 10  # first samples of a window only settle the state; they carry no loss
    inputs: list[str] | None = None  # None = the system's stated inputs, else its control channels
    targets: list[str] | None = None  # None = the system's stated targets, else its state channels


@dataclass
class GenerativeConfig:
    """The generative task (condition maps -> one target map, by diffusion or plain regression)."""

    objective: Literal["diffusion", "regression"] = "diffusion"  # regression: the deterministic baseline
    prediction: Literal["v", "eps"] = "v"  # what the denoiser predicts
    schedule: Literal["cosine", "linear"] = "cosine"  # noise schedule
    timesteps: int = 1000  # diffusion steps of the forward process
    sample_steps: int = 20  # DDIM steps in validation and the exported default
    valid_conditions: int = 8  # validation conditions sampled with DDIM at each validation
    samples_per_condition: int = 4  # samples of one condition written for the Train panel
    timestep_bins: int = 10  # bins of the loss-by-timestep record
    condition_channels: list[str] | None = None  # None = every conditioning channel of the system
    target: str | None = None  # None = the system's one state channel
    # diffusion only: a regression model (.onnx path, or a shipped model's file name) whose answer the
    # diffusion model corrects: it generates target - answer, conditioned on the answer too
    mean_model: str | None = None
    # how the residual is scaled: "std" (its train-split standard deviation: unit variance, so the network's
    # error floor is small against the target) or "range" (its train-split range to [-1, 1])
    residual_scale: Literal["std", "range"] = "std"
    # [mask channel, source channel]: add the straight-ray features from the source through the mask
    # (log distance, walls crossed, length inside; fieldcast.training.models.rays) as condition channels
    # computed inside the network; None = off
    rays: list[str] | None = None
    # how pairs weigh in the loss: "pixel" (every pixel alike) or "map" (each pair's loss over its truth's
    # mean square on [0, 1] of the target range, the denominator of its NMSE, so the loss follows the mean
    # of per-map NMSE; weights relative to the training mean, at most 10)
    weighting: Literal["pixel", "map"] = "pixel"
    # "d4": the physics does not change under the square's 8 rotations and reflections (square cells, no
    # preferred direction): every training batch is turned by a random one, and a regression model answers
    # with the mean of its answers to all 8 (inside the exported network); "none" = off
    symmetry: Literal["none", "d4"] = "none"


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float | None = None  # max global grad norm
    accumulate: int = 1  # micro-batches per optimizer step


@dataclass
class SchedulerConfig:
    name: Literal["none", "cosine_restarts", "plateau", "linear"] = "none"
    warmup_steps: int = 0  # linear warm-up from 0, in optimizer steps
    restart_period: int = 100  # cosine: steps of the first cycle
    restart_mult: int = 1  # cosine: cycle length factor after each restart
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 2  # validations without improvement before the lr drops
    plateau_threshold: float = 1e-4  # relative improvement that counts


@dataclass
class TrainConfig:
    epochs: int = 1
    max_steps: int | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = True  # mixed precision on CUDA (and on any device with amp_dtype bfloat16)
    amp_dtype: Literal["float16", "bfloat16"] = "float16"  # float16 runs with a gradient scaler
    log_every: int = 10  # steps between step records in metrics.jsonl
    checkpoint_every: int | None = None  # steps between 'last' checkpoints (always at epoch end)
    validate_every: int = 1  # epochs; 0 disables validation
    val_max_batches: int | None = None
    early_stopping_patience: int | None = None  # validations without improvement
    early_stopping_min_delta: float = 0.0
    rollout_test_every: int = 1  # epochs; 0 disables the long-horizon rollout test
    rollout_horizons: list[int] = field(default_factory=lambda: [10, 50, 200])
    rollout_test_trajectories: int = 2
    n_samples: int = 2  # ground-truth vs prediction pairs per SamplesEvent


@dataclass
class TrackingConfig:
    tensorboard: bool = False
    mlflow: bool = False
    mlflow_experiment: str = "fieldcast"


@dataclass
class Recipe:
    name: str = ""
    description: str = ""
    parent: str | None = None
    init_from_parent: bool = True  # start from the parent stage's best weights (a curriculum)
    system: str | None = None  # must match the dataset's system when given; "auto" = any
    # How the model learns: next state from history (field_rollout), a ConvLSTM streaming its state
    # (recurrent_field), a streaming LSTM over samples (sequence), maps from condition maps (generative) or
    # the next rollout.steps states in one call (field_block).
    task: Literal["field_rollout", "recurrent_field", "sequence", "generative", "field_block"] = (
        "field_rollout"
    )
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    recurrent: RecurrentConfig = field(default_factory=RecurrentConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    generative: GenerativeConfig = field(default_factory=GenerativeConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    source: str = field(default="", compare=False, metadata={"internal": True})  # file name, for messages
    source_path: str = field(default="", compare=False, metadata={"internal": True})  # full path


# ---------------------------------------------------------------- type checking


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Return ``value`` checked against ``tp`` (ints and "3e-4" widen to float), or raise RecipeError."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecipeError(f"recipe {source}: key {key!r}: expected a mapping, got {value!r}")
        return _check_section(value, tp, key, source)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key, source)
            except RecipeError:
                continue
    elif origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin is list:
        if isinstance(value, list):
            return [_coerce(v, typing.get_args(tp)[0], f"{key}[{i}]", source) for i, v in enumerate(value)]
    elif tp is type(None):
        if value is None:
            return None
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            with contextlib.suppress(ValueError):
                return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp in (str, bool, dict):
        if isinstance(value, tp):
            return value
    raise RecipeError(f"recipe {source}: key {key!r}: expected {_type_name(tp)}, got {value!r}")


def _check_section(data: dict, cls: type, prefix: str, source: str) -> dict:
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in known:
            raise RecipeError(f"recipe {source}: unknown key {dotted!r} (known: {', '.join(known)})")
        out[key] = _coerce(value, hints[key], dotted, source)
    return out


# ---------------------------------------------------------------- files, inheritance, overrides


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_recipe_path(name: str, folder: Path | None = None) -> Path:
    """Find recipe ``name``: a path (with or without ``.yaml``), relative to ``folder``, or a packaged one."""
    from fieldcast.resources import resource_path

    candidates = []
    for base in ([folder] if folder else []) + [Path.cwd(), resource_path("recipes")]:
        candidates += [base / name, base / f"{name}.yaml"]
    candidates += [p for p in resource_path("recipes").glob(f"*/{name}.yaml")]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise RecipeError(
        f"recipe {name!r} not found (looked in {folder or Path.cwd()} and the packaged recipes)"
    )


# A recipe is a page of settings: a megabyte, a hundred levels or a hundred thousand expanded values of
# YAML are a damaged or hostile file (an alias bomb expands to gigabytes when printed in an error).
MAX_RECIPE_BYTES = 1 << 20
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000


def safe_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` after checking nesting depth and alias expansion on the event stream.

    Raises :class:`RecipeError` (``source: problem``) for a document nested deeper than
    :data:`MAX_YAML_DEPTH` or expanding to more than :data:`MAX_YAML_NODES` values through aliases.
    """
    try:
        return loads_yaml(text, MAX_YAML_DEPTH, MAX_YAML_NODES)
    except ValueError as exc:
        raise RecipeError(f"{source}: {exc}") from None


def _read_file(path: Path) -> dict:
    try:
        size = path.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise RecipeError(
                f"recipe {path}: {size:,} bytes, over the {MAX_RECIPE_BYTES:,} a recipe may have"
            )
        data = safe_yaml(path.read_text(encoding="utf-8"), f"recipe {path}")
    except OSError as exc:
        raise RecipeError(f"recipe {path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: expected a mapping at the top level")
    data = _check_section(data, Recipe, "", path.name)
    path_value = data.get("data", {}).get("path")
    if path_value and not Path(path_value).is_absolute():
        data["data"]["path"] = str((path.parent / path_value).resolve())
    return data


def _merged_chain(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if path in seen:
        raise RecipeError(f"recipe {path.name}: parent cycle {' -> '.join(p.name for p in (*seen, path))}")
    own = _read_file(path)
    merged = {k: v for k, v in own.items() if k not in _OWN_KEYS}
    if own.get("parent"):
        parent = _merged_chain(resolve_recipe_path(own["parent"], path.parent), (*seen, path))
        merged = _deep_merge({k: v for k, v in parent.items() if k not in _OWN_KEYS}, merged)
    for key in _OWN_KEYS:
        if key in own:
            merged[key] = own[key]
    merged.setdefault("name", path.stem)
    return merged


def _apply_override(data: dict, item: str) -> dict:
    if "=" not in item:
        raise RecipeError(f"recipe --set {item!r}: expected key=value")
    key, text = item.split("=", 1)
    try:
        value = safe_yaml(text, f"recipe --set {key!r}") if text.strip() else ""
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe --set: key {key!r}: value {text!r} is not valid YAML") from exc
    nested: Any = value
    for part in reversed(key.strip().split(".")):
        nested = {part: nested}
    _check_section(nested, Recipe, "", "--set")
    return _deep_merge(data, nested)


def apply_overrides(data: dict, overrides: typing.Sequence[str]) -> dict:
    """``data`` (plain recipe data) with each ``key=value`` of ``overrides`` merged on top, checked."""
    for item in overrides:
        data = _apply_override(data, item)
    return data


def recipe_from_dict(data: dict, source: str = "<dict>", source_path: str = "") -> Recipe:
    """Build a :class:`Recipe` from a plain mapping (strictly checked), and check the model arguments."""
    checked = _check_section(data, Recipe, "", source)
    hints = typing.get_type_hints(Recipe)
    kwargs = {k: (hints[k](**v) if dataclasses.is_dataclass(hints[k]) else v) for k, v in checked.items()}
    recipe = Recipe(**kwargs, source=source, source_path=source_path)
    _check_model_args(recipe, source)
    _check_values(recipe, source)
    return recipe


def _check_values(recipe: Recipe, source: str) -> None:
    """Values of the right type that still cannot be used (a batch of 0, a warm-up past the window ...)."""
    problems = []
    split = recipe.data.split
    if isinstance(split, str) and split not in ("auto", "stored"):
        problems.append(("data.split", f'must be "auto", "stored" or three time ratios, got {split!r}'))
    if isinstance(split, list) and (len(split) != 3 or min(split) < 0 or not sum(split) > 0):
        problems.append(("data.split", f"time ratios must be three non-negative numbers, got {split}"))
    positive = {
        "train.epochs": recipe.train.epochs,
        "data.batch_size": recipe.data.batch_size,
        "data.oversample_start": recipe.data.oversample_start,
        "optim.accumulate": recipe.optim.accumulate,
        "rollout.steps": recipe.rollout.steps,
        "recurrent.context": recipe.recurrent.context,
        "recurrent.unroll": recipe.recurrent.unroll,
        "sequence.seq_len": recipe.sequence.seq_len,
        "sequence.stride": recipe.sequence.stride,
        "generative.timesteps": recipe.generative.timesteps,
        "generative.sample_steps": recipe.generative.sample_steps,
        "generative.timestep_bins": recipe.generative.timestep_bins,
    }
    problems += [(k, f"must be at least 1, got {v}") for k, v in positive.items() if v < 1]
    problems += [
        (k, f"must be a finite number, got {v}") for k, v in _float_values(recipe) if not math.isfinite(v)
    ]
    if not (recipe.optim.lr >= 0 and recipe.optim.lr < float("inf")):
        problems.append(("optim.lr", f"must be a finite number >= 0, got {recipe.optim.lr}"))
    if recipe.rollout.warmup < 0:
        problems.append(("rollout.warmup", f"must be >= 0, got {recipe.rollout.warmup}"))
    if not recipe.rollout.input_noise >= 0.0:
        problems.append(("rollout.input_noise", f"must be >= 0, got {recipe.rollout.input_noise}"))
    if not 0 <= recipe.sequence.warmup < recipe.sequence.seq_len:
        problems.append(
            ("sequence.warmup", f"must be in [0, sequence.seq_len), got {recipe.sequence.warmup}")
        )
    if problems:
        key, problem = problems[0]
        raise RecipeError(f"recipe {source}: key {key!r}: {problem}")


def _float_values(recipe: Recipe) -> list[tuple[str, float]]:
    """Every float setting of the recipe (``section.key``, value), model arguments included."""
    out = []
    for section in dataclasses.fields(recipe):
        value = getattr(recipe, section.name)
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                v = getattr(value, f.name)
                if isinstance(v, float):
                    out.append((f"{section.name}.{f.name}", v))
    out += [(f"model.args.{k}", v) for k, v in recipe.model.args.items() if isinstance(v, float)]
    return out


def _check_model_args(recipe: Recipe, source: str) -> None:
    from fieldcast.training.models import get_family

    try:
        family = get_family(recipe.model.name)
    except KeyError as exc:
        raise RecipeError(f"recipe {source}: key 'model.name': {exc.args[0]}") from exc
    for reserved in ("in_channels", "out_channels", "input_size", "output_size"):
        if reserved in recipe.model.args:
            raise RecipeError(f"recipe {source}: key 'model.args.{reserved}' is set from the data; remove it")
    _check_section(recipe.model.args, family.config_cls, "model.args", source)


def load_recipe(path: str | Path, overrides: typing.Sequence[str] = (), *, inherit: bool = True) -> Recipe:
    """Read recipe ``path`` with its parents merged underneath and ``overrides`` (``key=value``) on top.

    With ``inherit=False`` the file is taken as complete (a run folder's resolved ``config.yaml``).
    """
    path = Path(path)
    if not path.is_file():
        path = resolve_recipe_path(str(path))
    path = path.resolve()
    if inherit:
        data = _merged_chain(path)
    else:
        data = _read_file(path)
        data.setdefault("name", path.stem)
    for item in overrides:
        data = _apply_override(data, item)
    return recipe_from_dict(data, source=path.name, source_path=str(path))


def recipe_to_dict(recipe: Recipe) -> dict:
    """The recipe as plain data (what ``config.yaml`` of a run holds)."""
    data = dataclasses.asdict(recipe)
    data.pop("source", None)
    data.pop("source_path", None)
    return data


def config_hash(recipe: Recipe) -> str:
    """A short hash of everything that changes what a stage learns (not device or tracking)."""
    data = recipe_to_dict(recipe)
    for key in ("description", "tracking"):
        data.pop(key, None)
    data["train"].pop("device", None)
    # Options added later, at their neutral value, leave the hash of the runs made before them unchanged.
    for section, key in (("rollout", "warmup"), ("loss", "energy")):
        if data.get(section, {}).get(key) == 0:
            data[section].pop(key)
    if data.get("task") != "generative":
        data.pop("generative", None)
    else:
        if data["generative"].get("mean_model") is None:
            data["generative"].pop("mean_model", None)
            data["generative"].pop("residual_scale", None)
        if data["generative"].get("rays") is None:
            data["generative"].pop("rays", None)
        if data["generative"].get("weighting") == "pixel":
            data["generative"].pop("weighting", None)
        if data["generative"].get("symmetry") == "none":
            data["generative"].pop("symmetry", None)
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
