"""What a task is: the part of training that differs between model kinds.

The trainer (:mod:`fieldcast.training.trainer`) owns the loop: devices, mixed precision, DDP, checkpoints,
resume, schedules, early stopping, live learning rate, tracking and events. A task owns the rest:

- which model it builds and the module the loop differentiates (the model with its normalisation);
- the training items (a torch ``Dataset``) and how a batch of them is prepared;
- the loss of one batch, and the validation metrics (always beside the persistence baseline);
- what the checkpoint sidecar must carry for export, evaluation and Play to rebuild the model.

Adding a model kind is one new module here, registered with :func:`register_task`; the loop stays one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from fieldcast.training.config import Recipe, RecipeError

__all__ = ["Samples", "Task", "get_task", "register_task", "task_names"]

_TASKS: dict[str, type[Task]] = {}

# (horizon -> error, truth, prediction, channel names): pictures of a validation for the Train panel.
Samples = tuple[dict[int, float], Any, Any, tuple[str, ...]]


class Task:
    """One way of learning from a system's data. Subclasses set ``name`` and implement the hooks."""

    name: ClassVar[str] = ""
    monitor: ClassVar[str] = "loss"  # the validation metric that picks the best checkpoint (lower is better)

    def __init__(self, recipe: Recipe, dataset: Any) -> None:
        self.recipe, self.dataset = recipe, dataset
        self.spec = dataset.spec
        self.train_set: torch.utils.data.Dataset | None = None

    def fail(self, problem: str) -> RecipeError:
        """A :class:`RecipeError` naming the recipe and the dataset file."""
        where = getattr(self.dataset, "path", "the dataset")
        return RecipeError(f"recipe {self.recipe.source or self.recipe.name}: {where}: {problem}")

    # ------------------------------------------------------------ model and data

    def build_model(self) -> nn.Module:
        """The registry model (what checkpoints store), with channel counts taken from the data."""
        raise NotImplementedError

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the loop trains: ``model`` with normalisation (and whatever the loss calls)."""
        raise NotImplementedError

    def prepare(self, batch: Any, flips: list[bool]) -> Any:
        """A collated batch before it moves to the device (augmentations); identity by default."""
        return batch

    @staticmethod
    def to_device(batch: Any, device: torch.device) -> Any:
        if isinstance(batch, (tuple, list)):
            return type(batch)(b.to(device, non_blocking=True) for b in batch)
        return batch.to(device, non_blocking=True)

    # ------------------------------------------------------------ learning

    def loss(self, module: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar loss of one batch and its named terms (``module`` may be DDP-wrapped)."""
        raise NotImplementedError

    def validate(self, module: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation metrics, including :attr:`monitor` and the persistence baseline where it applies."""
        raise NotImplementedError

    def samples(self, module: nn.Module, device: torch.device) -> Samples | None:
        """Truth and prediction pairs (and error against horizon) for the Train panel; None if none."""
        return None

    def has_validation(self) -> bool:
        raise NotImplementedError

    def artifacts(self, run_dir: Any, epoch: int, step: int) -> list[dict[str, Any]]:
        """Files the last validation leaves in the run folder (``run_dir`` None: none) and the
        ``metrics.jsonl`` records that describe them; none by default."""
        return []

    def sidecar(self) -> dict[str, Any]:
        """What the checkpoint sidecar carries for this task (normalisation, channel names, grid ...)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line about the data as this task sees it, e.g. ``120 windows of 4 frames``."""
        return ""


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make a task known by its ``name``."""
    _TASKS[cls.name] = cls
    return cls


def task_names() -> list[str]:
    _import_all()
    return sorted(_TASKS)


def get_task(name: str) -> Callable[[Recipe, Any], Task]:
    """The task class called ``name``; raises KeyError listing the known ones."""
    _import_all()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def _import_all() -> None:
    from fieldcast.training.tasks import (  # noqa: F401
        field_block,
        field_rollout,
        generative,
        recurrent_field,
        sequence,
    )


def batches_of(items: list[Any], size: int, limit: int | None = None) -> Iterator[list[Any]]:
    """Consecutive slices of ``items`` of ``size`` (at most ``limit`` of them)."""
    for b, i in enumerate(range(0, len(items), size)):
        if limit is not None and b >= limit:
            return
        yield items[i : i + size]
