"""One generation of the generative Play page as a job: reference answer, denoising step by step, samples.

:func:`generation_job` is a plain generator (see :mod:`fieldcast.engine.jobs`) that the page runs in a
:class:`~fieldcast.app.workers.JobWorker`: it yields :class:`~fieldcast.engine.jobs.Progress`, one
:class:`DenoiseStep` per denoising step (the x0 estimate of every sample, physical units) and one
:class:`GenerationResult` at the end. The model's sampler reports its steps through a callback, so it runs
in a thread of its own and the job hands its steps on as they come; cancelling makes the callback answer
False, which stops the sampler at its next step. No Qt here.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fieldcast.app.play.generative_condition import DrawnCondition, stack_condition
from fieldcast.engine.jobs import Cancelled, CancelToken, Progress

__all__ = [
    "ConditionReady",
    "DenoiseStep",
    "GenerationRequest",
    "GenerationResult",
    "generation_job",
    "spread_of",
    "summary_metrics",
]


@dataclass(frozen=True)
class ConditionReady:
    """The condition maps the model gets and the reference answer (None if there is none), before sampling."""

    condition: dict[str, np.ndarray]
    reference: np.ndarray | None


@dataclass(frozen=True)
class DenoiseStep:
    """The model's estimate of the clean samples after denoising step ``step`` of ``total``."""

    step: int
    total: int
    x0: np.ndarray  # (n, nx, ny) physical units


@dataclass
class GenerationRequest:
    """What to generate: a condition (maps, or a drawing the reference turns into maps) and the sampler's
    settings. ``reference`` is the known answer (a dataset's target); None asks the reference generator."""

    source: str
    n: int = 4
    steps: int | None = None
    seed: int = 0
    condition: dict[str, np.ndarray] | None = None
    drawing: DrawnCondition | None = None
    reference: np.ndarray | None = None
    reference_label: str = "reference generator"


@dataclass
class GenerationResult:
    """Samples of one condition, their mean and per-pixel spread, the reference and the scores."""

    condition: dict[str, np.ndarray]
    samples: np.ndarray  # (n, nx, ny)
    reference: np.ndarray | None
    reference_label: str
    steps: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    @property
    def spread(self) -> np.ndarray:
        """Per-pixel standard deviation of the samples: the model's uncertainty (0 for one sample)."""
        return spread_of(self.samples)


def spread_of(samples: np.ndarray) -> np.ndarray:
    """(nx, ny) per-pixel standard deviation of ``samples`` (n, nx, ny), taken about the first sample so
    that identical samples (a regression model's) give exactly zero, not float rounding."""
    return (samples - samples[:1]).std(axis=0)


def summary_metrics(
    samples: np.ndarray, reference: np.ndarray | None, data_range: tuple[float, float] | None = None
) -> dict[str, float]:
    """Scores of ``samples`` (n, nx, ny) against ``reference``: NMSE and SSIM of their mean on maps scaled
    to [0, 1] by ``data_range`` (the model's training range of the target, as generative-model papers score
    them; the reference's own range without one), RMSE in the map's units, the mean per-pixel spread, and
    the spread's correlation with the mean's error (how well the model knows where it is wrong; NaN for one
    sample or a deterministic model). Only the spread without a reference."""
    from fieldcast.engine import generative_metrics as gm

    spread = float(spread_of(samples).mean())
    if reference is None:
        return {"spread": spread}
    mean = samples.mean(axis=0)
    lo, hi = data_range if data_range is not None else (float(reference.min()), float(reference.max()))
    if not hi > lo:
        hi = lo + 1.0
    unit_mean, unit_ref = gm.to_unit_range(mean, lo, hi), gm.to_unit_range(reference, lo, hi)
    calibration = gm.spread_error(samples, reference)
    return {
        "nmse": gm.nmse(unit_mean, unit_ref),
        "ssim": gm.ssim(unit_mean, unit_ref, data_range=1.0),
        "rmse": gm.rmse(mean, reference),
        "spread": spread,
        "spread_error_corr": float(calibration["corr"]),
    }


def _resolve_condition(request: GenerationRequest) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The condition maps and the reference answer of ``request`` (the slow part for a drawn laser path)."""
    from fieldcast.engine.systems import thermal_imaging as ti

    if request.condition is not None:
        condition = request.condition
        if request.reference is not None:
            return condition, request.reference
        return condition, np.asarray(ti.reference(request.source, condition), np.float32)
    drawing = request.drawing
    if drawing is None:
        raise ValueError("nothing to generate from: no condition and no drawing")
    if drawing.source == "radio":
        condition = drawing.radio_condition()
        return condition, np.asarray(ti.reference("radio", condition), np.float32)
    condition, target = ti.reference_ir_from_path(
        list(drawing.path), drawing.power, drawing.speed, drawing.size, request.seed
    )
    return {k: np.asarray(v, np.float32) for k, v in condition.items()}, np.asarray(target, np.float32)


def _sample_in_thread(
    token: CancelToken, sample: Callable[..., np.ndarray], kwargs: dict[str, Any]
) -> Iterator[DenoiseStep | np.ndarray]:
    """Run ``sample(**kwargs, callback=...)`` in a thread; yield its steps, then its samples."""
    events: queue.SimpleQueue = queue.SimpleQueue()

    def callback(step: int, total: int, x0: np.ndarray) -> bool:
        events.put(DenoiseStep(int(step), int(total), np.array(x0, np.float32, copy=True)))
        return not token.cancelled

    def run() -> None:
        try:
            events.put(("done", sample(**kwargs, callback=callback)))
        except BaseException as exc:  # handed to the job's thread, which raises it there
            events.put(("error", exc))

    thread = threading.Thread(target=run, name="fieldcast-generate-sampler", daemon=True)
    thread.start()
    while True:
        event = events.get()
        if isinstance(event, DenoiseStep):
            yield event
            continue
        kind, value = event
        thread.join()
        if kind == "error":
            if token.cancelled:
                raise Cancelled("cancelled by the user")
            raise value
        yield np.asarray(value, np.float32)
        return


@dataclass
class RandomCondition:
    """A condition drawn by the data generator, with its reference target."""

    condition: dict[str, np.ndarray]
    target: np.ndarray


def random_condition_job(token: CancelToken, source: str, seed: int, size: int) -> Iterator[Any]:
    """Draw a random condition of ``source`` as the generator does (an infrared one runs the melt solver
    along a random scan, about a second: off the GUI thread)."""
    from fieldcast.engine.systems.thermal_imaging import sample_condition

    yield Progress("condition", 0, None, "Drawing a random condition…")
    condition, target = sample_condition(source, np.random.default_rng(seed), size)
    token.raise_if_cancelled()
    yield RandomCondition(condition, np.asarray(target, np.float32))


def generation_job(token: CancelToken, session: Any, request: GenerationRequest) -> Iterator[Any]:
    """Generate ``request.n`` samples of one condition with ``session`` (a
    :class:`~fieldcast.engine.generative.GenerativeSession`); see the module docstring for the events."""
    info = session.info
    yield Progress("reference", 0, None, f"Preparing the condition ({request.reference_label})…")
    condition, reference = _resolve_condition(request)
    token.raise_if_cancelled()
    yield ConditionReady(condition, reference)
    stacked = stack_condition(condition, list(info.condition_channels))
    steps = int(request.steps or info.default_steps or 1)
    total = steps if info.is_diffusion else 1
    yield Progress("denoise", 0, total, f"Denoising {request.n} sample(s)…")
    start = time.perf_counter()
    samples = None
    kwargs = {"condition": stacked, "n": request.n, "steps": steps, "seed": request.seed}
    for event in _sample_in_thread(token, session.sample, kwargs):
        if isinstance(event, DenoiseStep):
            yield event
            yield Progress("denoise", event.step, event.total, f"Denoising {request.n} sample(s)…")
        else:
            samples = event
    token.raise_if_cancelled()
    seconds = time.perf_counter() - start
    yield Progress("denoise", total, total, "Scoring the samples…")
    yield GenerationResult(
        condition=condition,
        samples=samples,
        reference=reference,
        reference_label=request.reference_label,
        steps=steps,
        seconds=seconds,
        metrics=summary_metrics(samples, reference, info.data_range),
    )
