"""The background jobs of the Train panel: reading recipes, building a dataset's default recipe, reading a
dataset's facts, and training. Each is a factory of a generator that a :class:`JobWorker` runs.

torch and :mod:`fieldcast.training` are imported inside the jobs, in the worker thread, so the window opens
without them and the GUI thread never pays for the import.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fieldcast.app.responsiveness import lower_thread_priority
from fieldcast.engine.files import atomic_write
from fieldcast.engine.jobs import CancelToken

__all__ = [
    "ControlReady",
    "DatasetFacts",
    "LoadedRecipe",
    "RecipeFailed",
    "dataset_facts_job",
    "default_recipe_job",
    "load_recipe_job",
    "train_job",
    "write_stage_files",
]

log = logging.getLogger("fieldcast.app")

#: How much nicer than the window the training thread runs (Linux), so drawing seldom waits for a CPU.
#: Not more: the thread shares the GIL with the window, and a training thread starved of CPU by other
#: programs keeps the window waiting for the GIL it holds (on two busy cores, nice 10 put the window's
#: 99th-percentile latency at 80-100 ms against 30-40 ms with 5; on a quiet machine both give 5-15 ms).
BACKGROUND_NICENESS = 5


def prepare_training_thread() -> None:
    """Run at the start of a training job, in its thread."""
    lower_thread_priority(BACKGROUND_NICENESS, "training thread")
    import torch

    # Leave one core to the window: torch's own thread pool would otherwise take every core, and the
    # GUI thread would wait for a CPU behind it.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class LoadedRecipe:
    """A recipe resolved into its curriculum stages (complete plain dictionaries, first stage first).

    ``path`` is the recipe file, or None for the default recipe built for ``dataset``. Every recipe, of
    every task, trains through the same pipeline and is edited in the same recipe form.
    """

    path: Path | None
    stages: list[dict]
    dataset: Path | None = None
    request: int = 0

    @property
    def is_default(self) -> bool:
        return self.path is None

    @property
    def task(self) -> str:
        return str(self.stages[-1].get("task") or "field_rollout") if self.stages else "field_rollout"

    @property
    def title(self) -> str:
        if self.path is not None:
            return self.path.name
        return f"the default recipe for {self.dataset.name if self.dataset else 'the dataset'}"


@dataclass(frozen=True)
class RecipeFailed:
    """A recipe could not be read or built (the reason names the file)."""

    reason: str
    request: int = 0


@dataclass(frozen=True)
class DatasetFacts:
    """What the panel says about a dataset before training: its system and how it will be split."""

    path: Path
    split: Any  # the recipe's data.split setting these facts were made for
    system: str = ""
    built_in: bool = True  # a system Fieldcast ships (else a generic one, built from the file's fields)
    trajectories: int = 0
    frames: int = 0
    grid: tuple[int, ...] = ()
    split_note: str = ""
    problem: str = ""  # the file cannot be read, or the split does not fit it


def _recipe_failure(exc: Exception, request: int) -> RecipeFailed:
    log.info("recipe not loaded: %s", exc)
    return RecipeFailed(str(exc), request)


def load_recipe_job(path: Path, request: int):
    def job(_token: CancelToken) -> Iterator[Any]:
        from fieldcast.engine.data import DatasetError
        from fieldcast.training.config import (
            RecipeError,
            load_recipe,
            recipe_to_dict,
            resolve_recipe_path,
        )

        try:
            chain = [load_recipe(path)]
            while chain[0].parent and chain[0].init_from_parent:
                folder = Path(chain[0].source_path).parent if chain[0].source_path else None
                chain.insert(0, load_recipe(resolve_recipe_path(chain[0].parent, folder)))
        except (RecipeError, DatasetError, OSError) as exc:
            yield _recipe_failure(exc, request)
            return
        yield LoadedRecipe(Path(path), [recipe_to_dict(r) for r in chain], request=request)

    return job


def default_recipe_job(dataset: Path, request: int):
    """The default recipe of ``dataset`` (:func:`fieldcast.training.defaults.default_recipe`), resolved."""

    def job(_token: CancelToken) -> Iterator[Any]:
        from fieldcast.engine.data import DatasetError
        from fieldcast.training.config import RecipeError, recipe_to_dict
        from fieldcast.training.runs import default_stage

        try:
            stage = recipe_to_dict(default_stage(dataset))
        except (RecipeError, DatasetError, OSError) as exc:
            yield _recipe_failure(exc, request)
            return
        yield LoadedRecipe(None, [stage], dataset=Path(dataset), request=request)

    return job


def dataset_facts_job(path: Path, split: Any):
    """Open ``path`` (metadata only, no torch) and say how ``split`` cuts it."""

    def job(_token: CancelToken) -> Iterator[DatasetFacts]:
        from fieldcast.engine.data import DatasetError, open_dataset
        from fieldcast.engine.systems import system_names

        try:
            ds = open_dataset(path)
        except Exception as exc:  # any unreadable file: the panel says why, next to the dataset
            yield DatasetFacts(Path(path), split, problem=str(exc) or type(exc).__name__)
            return
        with ds:
            facts = {
                "system": ds.spec.name,
                "built_in": ds.spec.name in system_names(),
                "trajectories": ds.n_trajectories,
                "frames": ds.n_frames,
                "grid": tuple(ds.grid),
            }
            try:
                ds.use_split(split)
                yield DatasetFacts(Path(path), split, split_note=ds.split_note, **facts)
            except (DatasetError, ValueError) as exc:
                yield DatasetFacts(Path(path), split, problem=f"split {split!r}: {exc}", **facts)

    return job


def write_stage_files(stages: list[dict], folder: Path) -> Path:
    """Write each stage as a complete recipe naming the previous one as parent; returns the last file."""
    path = folder
    for i, stage in enumerate(stages):
        data = dict(stage)
        data["parent"] = stages[i - 1]["name"] if i > 0 and data.get("init_from_parent", True) else None
        path = folder / f"{data['name']}.yaml"
        atomic_write(path, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))
    return path


@dataclass(frozen=True)
class ControlReady:
    """First event of a training job: the TrainerControl it steers (made in the worker thread)."""

    control: Any


def train_job(stages: list[dict], dataset: Path | None, runs_dir: Path, resume: Path | None, stop):
    """Every recipe, of every task, and every resume: one :class:`~fieldcast.training.runs.Curriculum`."""

    def job(_token: CancelToken) -> Iterator[Any]:
        from fieldcast.training.datasets import open_data
        from fieldcast.training.runs import Curriculum
        from fieldcast.training.trainer import TrainerControl

        prepare_training_thread()
        control = TrainerControl()
        yield ControlReady(control)

        if resume is not None:
            curriculum = Curriculum(None, runs_dir=runs_dir, resume=resume)
        else:
            with tempfile.TemporaryDirectory(prefix="fieldcast-recipe-") as tmp:
                last = write_stage_files(stages, Path(tmp))
                curriculum = Curriculum(last, runs_dir=runs_dir, data=str(dataset) if dataset else None)
        with open_data(curriculum.stages[-1].data.path) as data:
            yield from curriculum.run(token=stop, control=control, dataset=data)

    return job
