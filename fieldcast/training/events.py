"""Events the trainer yields, besides :class:`fieldcast.engine.jobs.Progress` for progress bars.

They are plain frozen dataclasses holding Python numbers, strings, paths and numpy arrays (never tensors), so
a GUI worker can pass them across threads as signal payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "CheckpointEvent",
    "DataEvent",
    "EpochEvent",
    "FinishedEvent",
    "SamplesEvent",
    "StageEvent",
    "StepEvent",
    "ValidationEvent",
]


@dataclass(frozen=True)
class DataEvent:
    """What a stage trains on: the task, the data as the task sees it, and how it was split."""

    task: str
    description: str  # e.g. "120 training and 24 validation windows of 4 frames"
    split: str  # e.g. "along time 70:15:15 of every trajectory (1 trajectory) ..."


@dataclass(frozen=True)
class StageEvent:
    """A curriculum stage starts (``start``), is reused from an earlier run (``reused``), or ends (``done``).

    ``init_from`` is the parent checkpoint the stage starts from.
    """

    name: str
    index: int  # 0-based position in the curriculum
    total: int
    status: str  # start | reused | done
    run_dir: Path | None = None
    init_from: Path | None = None  # weights the stage starts from


@dataclass(frozen=True)
class StepEvent:
    """One optimizer step: mean loss over the step's micro-batches and its terms."""

    epoch: int
    step: int  # optimizer steps done so far (1 after the first)
    loss: float
    lr: float
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEvent:
    epoch: int  # 0-based epoch that just ended
    step: int
    train_loss: float  # mean over the epoch's steps
    lr: float
    seconds: float


@dataclass(frozen=True)
class ValidationEvent:
    """Validation after an epoch.

    ``metrics`` holds ``loss`` (the training objective on validation windows), ``mse/<channel>`` and the
    system's physics metrics; ``rollout`` maps horizon (frames) to normalised MSE when a rollout test ran.
    """

    epoch: int
    step: int
    metrics: dict[str, float]
    rollout: dict[int, float] | None = None
    is_best: bool = False


@dataclass(frozen=True)
class SamplesEvent:
    """Ground truth vs prediction at the end of a validation rollout, (N, C, nx, ny) in physical units."""

    epoch: int
    step: int
    horizon: int  # frames rolled out from the initial state
    channel_names: tuple[str, ...]
    truth: np.ndarray
    prediction: np.ndarray
    path: Path | None = None  # samples/*.npz written by rank 0


@dataclass(frozen=True)
class CheckpointEvent:
    tag: str  # last | best
    path: Path  # the .safetensors file
    epoch: int
    step: int


@dataclass(frozen=True)
class FinishedEvent:
    """The stage ended: ``completed``, ``early_stopped``, ``cancelled``, ``diverged`` (non-finite loss)."""

    status: str
    epoch: int
    step: int
    run_dir: Path | None = None
    best: Path | None = None
    best_metric: float | None = None
    message: str = ""
