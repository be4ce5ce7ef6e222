"""Sessions for exported generative models (``fieldcast-generative-onnx/1``): maps from condition maps.

Two graph signatures, both float32 with physical units at the edges (normalisation inside the graph):

- diffusion (``objective: diffusion``): one denoising call ::

      x_t (B, 1, nx, ny) noisy target in the normalised space, t (B,) timestep, condition (B, C, nx, ny)
      →  prediction (B, 1, nx, ny) the network's output (``v`` or ``eps``, normalised),
         x0 (B, 1, nx, ny) the implied clean map in physical units

- regression (``objective: regression``): one call, ``condition (B, C, nx, ny) → x0 (B, 1, nx, ny)``.
- residual diffusion (``objective: diffusion``, ``residual: true``; regression + diffusion correction): the
  network generates the difference between the target and a regression model's answer, conditioned on that
  answer too. The denoising call takes a fourth input ``mean (B, 1, nx, ny)``, the regression answer in
  physical units, and its ``x0`` is the answer plus the residual; ``prediction`` and ``x_t`` live in the
  normalised residual space. The regression model travels inside the same file, its ONNX bytes as the uint8
  initializer named by ``mean_model.initializer`` (with their SHA-256), and is checked like any regression
  model; the sampler runs it once per condition and adds its answer back.

``metadata_props`` (``fieldcast.`` prefix, JSON values) carry the system and its spec, the data ``source``,
condition channel names and units, the target's name and units, the grid, the objective, the prediction type,
the noise schedule (``{"name", "timesteps"}``, rebuilt by :mod:`fieldcast.engine.generative_schedule`), the
default number of sampling steps, the normalisation (condition mean/std, target mean/std, the target's
training range used to score maps in [0, 1] and to clip x0 estimates), provenance and validation metrics.

:meth:`GenerativeSession.sample` runs deterministic DDIM (``eta = 0``) or stochastic DDIM from seeded noise,
calls ``callback(step, total, x0_estimate)`` after every step (``False`` cancels with
:class:`GenerationCancelled`), and returns ``(n, nx, ny)`` maps in physical units.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine import generative_schedule as gs
from fieldcast.engine.devices import usable_providers
from fieldcast.engine.jobs import Cancelled
from fieldcast.engine.model_format import PREFIX, metadata_value, parse_spec
from fieldcast.engine.runtime import ModelError, _check_external_data
from fieldcast.engine.systems.base import SystemSpec, resolve_spec

__all__ = [
    "GENERATIVE_FORMAT",
    "GenerationCancelled",
    "GenerativeInfo",
    "GenerativeSession",
    "RESIDUAL_IN",
    "is_generative_model",
    "load_generative_checked",
]

GENERATIVE_FORMAT = "fieldcast-generative-onnx/1"
_FORMAT_NAME, _, _FORMAT_MAJOR = GENERATIVE_FORMAT.partition("/")
_REQUIRED = ("format", "system", "condition_channels", "target", "grid", "objective")
DIFFUSION_IN = ("x_t", "t", "condition")
RESIDUAL_IN = ("x_t", "t", "condition", "mean")
DIFFUSION_OUT = ("prediction", "x0")
REGRESSION_IN = ("condition",)
REGRESSION_OUT = ("x0",)
MAX_SCAN_BYTES = 256 << 20
MAX_GRID = 4096
MAX_SAMPLES = 256


class GenerationCancelled(Cancelled):
    """The step callback asked to stop; no map is returned."""


@dataclass(frozen=True)
class GenerativeInfo:
    """What an exported generative model is (see the module docstring for the metadata it comes from)."""

    system: str
    condition_channels: tuple[str, ...]
    target: str
    grid: tuple[int, int]
    objective: str = "diffusion"
    condition_units: tuple[str, ...] = ()
    target_units: str = ""
    source: str = ""
    prediction: str = "v"
    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "cosine", "timesteps": 1000})
    default_steps: int = 20
    guidance: bool = False
    residual: bool = False
    mean_model: dict[str, Any] = field(default_factory=dict)
    normalisation: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    variant: str = "fp32"

    @property
    def kind(self) -> str:
        return "generative"

    @property
    def is_diffusion(self) -> bool:
        return self.objective == "diffusion"

    @property
    def units(self) -> str:
        return self.target_units

    @property
    def data_range(self) -> tuple[float, float]:
        """The target's training range ``(lo, hi)`` (maps are scored in [0, 1] of it)."""
        lo, hi = self.normalisation.get("target_range", (0.0, 1.0))
        return float(lo), float(hi)

    def system_spec(self) -> SystemSpec:
        return resolve_spec(self.system, self.spec)


def _parse_info(props: dict[str, str]) -> GenerativeInfo:
    missing = [k for k in _REQUIRED if PREFIX + k not in props]
    if missing:
        raise ValueError(f"not a Fieldcast generative model (metadata {PREFIX + missing[0]} missing)")
    fmt = props[PREFIX + "format"]
    name, _, version = fmt.partition("/")
    if name != _FORMAT_NAME or not version.isdigit():
        raise ValueError(f"unknown model format {fmt!r} (expected {GENERATIVE_FORMAT})")
    if int(version) > int(_FORMAT_MAJOR):
        raise ValueError(f"model format {fmt} is newer than this Fieldcast reads ({GENERATIVE_FORMAT})")

    def get(key: str, default: Any = None) -> Any:
        return metadata_value(props, key, default)

    try:
        nx, ny = (int(v) for v in get("grid"))
        info = GenerativeInfo(
            system=props[PREFIX + "system"],
            condition_channels=tuple(str(c) for c in get("condition_channels")),
            target=str(get("target")),
            grid=(nx, ny),
            objective=str(get("objective")),
            condition_units=tuple(str(u) for u in get("condition_units", [])),
            target_units=str(get("target_units", "")),
            source=str(get("source", "")),
            prediction=str(get("prediction", "v")),
            schedule=dict(get("schedule", {"name": "cosine", "timesteps": 1000})),
            default_steps=int(get("default_steps", 20)),
            guidance=bool(get("guidance", False)),
            residual=bool(get("residual", False)),
            mean_model=dict(get("mean_model", {}) or {}),
            normalisation=dict(get("normalisation", {})),
            metrics=dict(get("metrics", {})),
            provenance=dict(get("provenance", {})),
            model=dict(get("model", {})),
            spec=parse_spec(props, props[PREFIX + "system"]),
            variant=props.get(PREFIX + "variant", "fp32"),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed Fieldcast generative metadata ({exc})") from None
    if info.objective not in ("diffusion", "regression"):
        raise ValueError(f"objective {info.objective!r} is neither 'diffusion' nor 'regression'")
    if not info.condition_channels or not (2 <= min(info.grid) and max(info.grid) <= MAX_GRID):
        raise ValueError(f"metadata lists no condition channels or a grid {info.grid} this reader cannot run")
    if info.is_diffusion:
        if info.prediction not in gs.PREDICTIONS:
            raise ValueError(f"prediction type {info.prediction!r} is not one of {', '.join(gs.PREDICTIONS)}")
        gs.alpha_bar(str(info.schedule.get("name")), int(info.schedule.get("timesteps", 0)))
        if info.default_steps < 1:
            raise ValueError(f"default_steps {info.default_steps} is not a positive count")
    if info.residual:
        if not info.is_diffusion:
            raise ValueError("only a diffusion model can be residual")
        norm = info.normalisation
        missing = [k for k in ("residual_mean", "residual_std", "residual_range") if k not in norm]
        if missing or not isinstance(info.mean_model.get("initializer"), str):
            raise ValueError("a residual model's metadata lacks its residual statistics or its mean model")
        if not float(norm["residual_std"]) > 0:
            raise ValueError(f"residual_std {norm['residual_std']} is not positive")
    return info


def _check_signature(model, info: GenerativeInfo, path: Path) -> None:
    inits = {t.name for t in model.graph.initializer}
    inputs = {i.name for i in model.graph.input if i.name not in inits}
    outputs = {o.name for o in model.graph.output}
    want_in, want_out = (
        (RESIDUAL_IN if info.residual else DIFFUSION_IN, DIFFUSION_OUT)
        if info.is_diffusion
        else (REGRESSION_IN, REGRESSION_OUT)
    )
    if inputs != set(want_in) or not set(want_out) <= outputs:
        raise ModelError(
            path,
            f"inputs {sorted(inputs)} / outputs {sorted(outputs)} do not match the {info.objective} "
            "signature "
            f"(inputs {list(want_in)}, outputs {list(want_out)})",
        )


def load_generative_checked(path: str | os.PathLike):
    """Load and check a generative model without running it; returns ``(onnx.ModelProto, GenerativeInfo)``.

    Raises :class:`~fieldcast.engine.runtime.ModelError` (one line naming the file) for anything unusable.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "file not found")
    if path.stat().st_size > MAX_SCAN_BYTES:
        raise ModelError(path, f"{path.stat().st_size:,} bytes: far larger than any generative model here")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
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
    if info.residual:
        mean_model_bytes(model, info, path)
    return model, info


def mean_model_bytes(model, info: GenerativeInfo, path: Path) -> bytes:
    """The ONNX bytes of a residual model's regression model, checked; ModelError naming ``path``."""
    import hashlib

    import onnx
    from onnx import numpy_helper

    name = info.mean_model["initializer"]
    found = [t for t in model.graph.initializer if t.name == name]
    if len(found) != 1 or found[0].data_type != onnx.TensorProto.UINT8 or len(found[0].dims) != 1:
        raise ModelError(path, f"the residual model's mean model (uint8 initializer {name!r}) is missing")
    blob = numpy_helper.to_array(found[0]).tobytes()
    if hashlib.sha256(blob).hexdigest() != info.mean_model.get("sha256"):
        raise ModelError(path, "the residual model's mean model does not match its recorded SHA-256")
    try:
        inner = onnx.load_from_string(blob)
        onnx.checker.check_model(inner)
        mean_info = _parse_info({p.key: p.value for p in inner.metadata_props})
    except Exception as exc:  # protobuf, checker and metadata errors alike: one line naming the file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(path, f"the residual model's mean model is unusable ({first})") from None
    if mean_info.is_diffusion:
        raise ModelError(path, "the residual model's mean model is not a regression model")
    same = (
        mean_info.condition_channels == info.condition_channels
        and mean_info.target == info.target
        and mean_info.grid == info.grid
    )
    if not same:
        raise ModelError(path, "the residual model's mean model reads other channels or another grid")
    _check_signature(inner, mean_info, path)
    return blob


def is_generative_model(path: str | os.PathLike) -> bool:
    """True when ``path`` declares the generative format in its metadata (a cheap test, not validation)."""
    import onnx

    path = Path(path)
    try:
        if path.stat().st_size > MAX_SCAN_BYTES:
            return False
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable files are simply not generative; opening one explicitly says why
        return False
    props = {p.key: p.value for p in model.metadata_props}
    return props.get(PREFIX + "format", "").startswith(_FORMAT_NAME + "/")


class GenerativeSession:
    """One ONNX Runtime session of a generative model.

    Parameters
    ----------
    path : the ``.onnx`` file (``fieldcast-generative-onnx/1``).
    providers : providers to ask for, in order; default every usable one (CPU always last).
    threads : intra-op threads (default ONNX Runtime's choice).

    Attributes
    ----------
    info : :class:`GenerativeInfo`; ``providers``: those ONNX Runtime uses.
    """

    def __init__(
        self, path: str | os.PathLike, providers: list[str] | None = None, threads: int | None = None
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        model, self.info = load_generative_checked(self.path)
        usable = usable_providers()
        wanted = [p for p in (providers or usable) if p in usable]
        if "CPUExecutionProvider" not in wanted:
            wanted.append("CPUExecutionProvider")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=wanted)
        except Exception as exc:  # ONNX Runtime's own exception types vary by build
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(self.path, f"ONNX Runtime cannot load it ({first})") from None
        self.mean_session = None
        if self.info.residual:
            blob = mean_model_bytes(model, self.info, self.path)
            try:
                self.mean_session = ort.InferenceSession(blob, sess_options=opts, providers=wanted)
            except Exception as exc:  # ONNX Runtime's own exception types vary by build
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelError(self.path, f"ONNX Runtime cannot load its mean model ({first})") from None
        del model
        self.providers: list[str] = list(self.session.get_providers())
        self._lock = threading.Lock()
        info = self.info
        if info.is_diffusion:
            self.alpha_bar = gs.alpha_bar(str(info.schedule["name"]), int(info.schedule["timesteps"]))
            norm = info.normalisation
            key = "residual_" if info.residual else "target_"
            self._mean = float(norm.get(key + "mean", 0.0))
            self._std = float(norm.get(key + "std", 1.0))
            lo, hi = norm["residual_range"] if info.residual else info.data_range
            # x0 estimates are clipped to the training range widened by 10 % on each side: a clip at the
            # range itself pushes the clipped excess into the noise estimate and leaves a biased background
            margin = 0.1 * (hi - lo)
            self._clip = ((lo - margin - self._mean) / self._std, (hi + margin - self._mean) / self._std)

    # ------------------------------------------------------------ one graph call

    def _run(self, outputs: list[str], feeds: dict[str, np.ndarray], session=None) -> list[np.ndarray]:
        with self._lock:
            try:
                return (session or self.session).run(outputs, feeds)
            except Exception as exc:  # ONNX Runtime's own errors: name the model, keep one line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(" : ")[-1]
                raise ModelError(self.path, f"ONNX Runtime failed to run it ({first[:300]})") from None

    def denoise(
        self, x_t: np.ndarray, t: np.ndarray, condition: np.ndarray, mean: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One denoiser call: network output (normalised) and x0 (physical), both (B, 1, nx, ny).

        A residual model also reads ``mean`` (B, 1, nx, ny), its regression answer (computed when None).
        """
        feeds = {
            "x_t": np.ascontiguousarray(x_t, np.float32),
            "t": np.ascontiguousarray(t, np.float32),
            "condition": np.ascontiguousarray(condition, np.float32),
        }
        if self.info.residual:
            feeds["mean"] = np.ascontiguousarray(self.mean(condition) if mean is None else mean, np.float32)
        out, x0 = self._run(list(DIFFUSION_OUT), feeds)
        return out, x0

    def predict(self, condition: np.ndarray) -> np.ndarray:
        """A regression model's answer (B, 1, nx, ny) physical units for conditions (B, C, nx, ny)."""
        return self._run(list(REGRESSION_OUT), {"condition": np.ascontiguousarray(condition, np.float32)})[0]

    def mean(self, condition: np.ndarray) -> np.ndarray:
        """A residual model's regression answer (B, 1, nx, ny), physical, for conditions (B, C, nx, ny)."""
        if self.mean_session is None:
            raise ValueError(f"{self.path.name} is not a residual model; it has no mean model")
        feeds = {"condition": np.ascontiguousarray(condition, np.float32)}
        return self._run(list(REGRESSION_OUT), feeds, self.mean_session)[0]

    # ------------------------------------------------------------ sampling

    def _check_condition(self, condition: np.ndarray) -> np.ndarray:
        c = np.asarray(condition, np.float32)
        want = (len(self.info.condition_channels), *self.info.grid)
        if c.shape != want:
            names = ", ".join(self.info.condition_channels)
            raise ValueError(f"{self.path.name}: condition must be {want} ({names}), got {c.shape}")
        if not np.isfinite(c).all():
            raise ValueError(f"{self.path.name}: the condition holds NaN or infinite values")
        return c

    def sample(
        self,
        condition: np.ndarray,
        n: int = 1,
        steps: int | None = None,
        seed: int = 0,
        eta: float = 0.0,
        guidance: float | None = None,
        callback=None,
    ) -> np.ndarray:
        """``n`` maps (n, nx, ny) in the target's units for one ``condition`` (C, nx, ny), physical units.

        ``steps`` DDIM steps (default ``info.default_steps``) from noise drawn with ``seed``; ``eta`` 0 is
        deterministic, 1 ancestral. ``guidance`` needs a model trained with condition dropout (none of the
        shipped ones: ValueError otherwise). ``callback(step, total, x0)`` after each step, x0 (n, nx, ny)
        physical; returning False raises :class:`GenerationCancelled`. A regression model returns its one
        answer ``n`` times.
        """
        if not 1 <= int(n) <= MAX_SAMPLES:
            raise ValueError(f"n must be 1 to {MAX_SAMPLES}, got {n}")
        if guidance is not None and not self.info.guidance:
            raise ValueError(
                f"{self.path.name}: guidance needs a model trained with condition dropout; this one was not"
            )
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        c = self._check_condition(condition)
        n = int(n)
        if not self.info.is_diffusion:
            y = self.predict(c[None])[0, 0]
            if callback is not None and callback(1, 1, np.repeat(y[None], n, 0)) is False:
                raise GenerationCancelled("generation cancelled")
            return np.repeat(y[None], n, axis=0).astype(np.float64)
        return self._ddim(c, n, int(steps or self.info.default_steps), int(seed), float(eta), callback)

    def _ddim(self, c: np.ndarray, n: int, steps: int, seed: int, eta: float, callback) -> np.ndarray:
        rng = np.random.default_rng(seed)
        nx, ny = self.info.grid
        x = rng.standard_normal((n, 1, nx, ny)).astype(np.float32)
        cond = np.repeat(c[None], n, axis=0)
        # a residual model adds its regression answer back; a plain one has nothing to add
        base = np.repeat(self.mean(c[None]), n, axis=0) if self.info.residual else None
        offset = 0.0 if base is None else base[:, 0].astype(np.float64)
        ts = gs.ddim_timesteps(len(self.alpha_bar), steps)
        for k, t in enumerate(ts):
            ab = float(self.alpha_bar[t])
            ab_prev = float(self.alpha_bar[ts[k + 1]]) if k + 1 < len(ts) else 1.0
            out, _ = self.denoise(x, np.full(n, t, np.float32), cond, base)
            x0, eps = gs.split_prediction(
                x.astype(np.float64), out.astype(np.float64), ab, self.info.prediction
            )
            x0 = np.clip(x0, *self._clip)
            eps = (x.astype(np.float64) - ab**0.5 * x0) / (1.0 - ab) ** 0.5
            noise = rng.standard_normal(x.shape) if eta > 0 else None
            x = gs.ddim_step(x0, eps, ab, ab_prev, eta, noise).astype(np.float32)
            if callback is not None:
                est = offset + x0[:, 0] * self._std + self._mean
                if callback(k + 1, len(ts), est) is False:
                    raise GenerationCancelled("generation cancelled")
        return offset + x[:, 0].astype(np.float64) * self._std + self._mean
