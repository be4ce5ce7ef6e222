"""Run training in a :class:`JobWorker` and report what happens, without the widgets.

Every recipe, whatever its task (field rollout, recurrent field, sequence ...), and every resume runs
through the one pipeline, :class:`fieldcast.training.runs.Curriculum`, so pause, stop, resume and live
learning-rate changes work the same for all of them.

The jobs themselves are in :mod:`fieldcast.app.train.jobs`.

Stopping sets the trainer's own cancel token (not the worker's): the trainer then finishes the batch it is
on, saves a ``last`` checkpoint and yields a ``cancelled`` FinishedEvent, which the worker still delivers.

Events are not sent to the GUI thread one queued signal each (a small model yields a hundred or more a
second): the worker thread appends them to an inbox and a timer in the GUI thread hands them on in batches,
every ``DELIVERY_MS``; the worker's end (error or finished) delivers what is left first, so order holds.
"""

from __future__ import annotations

import re
import sys
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from fieldcast.app.train.jobs import (
    ControlReady,
    DatasetFacts,
    LoadedRecipe,
    RecipeFailed,
    dataset_facts_job,
    default_recipe_job,
    load_recipe_job,
    train_job,
)
from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import CancelToken

__all__ = ["DatasetFacts", "LoadedRecipe", "RecipeFailed", "TrainController", "strict_errors"]

#: how often training events are handed from the worker thread to the window, in milliseconds
DELIVERY_MS = 50


def strict_errors(stages: list[dict]) -> dict[str, str]:
    """The recipe loader's verdict on ``stages`` as {dotted key: reason}; {} when training is not loaded yet.

    Only runs once :mod:`fieldcast.training` has been imported (by loading a recipe in the background), so
    the GUI thread never imports torch for it.
    """
    if "fieldcast.training.config" not in sys.modules:
        return {}
    from fieldcast.training.config import RecipeError, recipe_from_dict

    for stage in stages:
        try:
            recipe_from_dict(stage, source=stage.get("name") or "recipe")
        except RecipeError as exc:
            match = re.search(r"key '([^']+)'", str(exc))
            return {match.group(1) if match else "recipe": str(exc).split(": ", 1)[-1]}
    return {}


def _describe_failure(message: str) -> str:
    if message.startswith("RecipeError"):
        return "The recipe cannot be used. " + message.split(": ", 1)[-1]
    if "OutOfMemoryError" in message or "out of memory" in message.lower():
        return "The device ran out of memory. Try a smaller batch size or a smaller model. " + message
    if message.startswith("CheckpointError"):
        return "The run's checkpoint cannot be used. " + message.split(": ", 1)[-1]
    if message.startswith(("DatasetError", "FileNotFoundError", "OSError")):
        return "The dataset cannot be read. " + message.split(": ", 1)[-1]
    return "Training failed: " + message


class TrainController(QObject):
    """Start, pause, resume, stop and steer one training job at a time."""

    sig_state_changed = Signal(str)
    """The job state changed: "idle", "running", "paused" or "stopping"."""
    sig_event = Signal(object)
    """One training event (StageEvent, StepEvent, Progress, ValidationEvent ...)."""
    sig_failed = Signal(str, str, str)
    """Training ended badly: (what happened, what was kept, technical details)."""
    sig_recipe_loaded = Signal(object)
    """A recipe file was resolved into its stages (a LoadedRecipe)."""
    sig_recipe_failed = Signal(str)
    """A recipe file could not be read, or no default recipe could be built (the reason)."""
    sig_dataset_facts = Signal(object)
    """What a dataset holds and how it will be split (a DatasetFacts)."""

    def __init__(self, runs_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self.state = "idle"
        self.worker: JobWorker | None = None
        self.control: Any = None
        self.last_checkpoint: Path | None = None
        self.run_dir: Path | None = None
        self.resumable_run: Path | None = None
        self._stop: CancelToken | None = None
        self._recipe_request = 0  # only the answer to the latest recipe request is delivered
        self._facts_request: tuple[str, str] | None = None
        self._helpers: list[JobWorker] = []
        self._inbox: deque[Any] = deque()  # appended in the worker thread, emptied in the GUI thread
        self._delivery = QTimer(self, interval=DELIVERY_MS)
        self._delivery.timeout.connect(self._on_delivery_timeout)

    # Recipes and datasets -----------------------------------------------------------------------------
    def load_recipe(self, path: Path) -> None:
        """Resolve recipe ``path`` and its curriculum parents in the background (sig_recipe_loaded)."""
        self._recipe_request += 1
        self._run_helper(load_recipe_job(Path(path), self._recipe_request), "load-recipe")

    def load_default_recipe(self, dataset: Path) -> None:
        """Build the default recipe of ``dataset`` in the background (sig_recipe_loaded, path None)."""
        self._recipe_request += 1
        self._run_helper(default_recipe_job(Path(dataset), self._recipe_request), "default-recipe")

    def describe_dataset(self, path: Path, split: Any = "auto", force: bool = False) -> None:
        """Read what ``path`` holds and how ``split`` cuts it, in the background (sig_dataset_facts).

        Asking again for the same file and split does nothing unless ``force`` (the file was rewritten).
        """
        key = (str(path), repr(split))
        if key == self._facts_request and not force:
            return
        self._facts_request = key
        self._run_helper(dataset_facts_job(Path(path), split), "dataset-facts")

    def _run_helper(self, factory, name: str) -> None:
        worker = JobWorker(factory, name=name)
        worker.sig_event.connect(self._on_helper_event)
        worker.sig_error.connect(self._on_helper_error)
        self._helpers = [w for w in self._helpers if w.is_running()] + [worker]
        worker.start()

    # Training -----------------------------------------------------------------------------------------
    def start(self, stages: list[dict], dataset: Path | None) -> None:
        """Train ``stages`` on ``dataset`` in a new run folder (a curriculum reuses finished parents)."""
        self._launch(train_job, stages, dataset, None)

    def resume_run(self, run_dir: Path) -> None:
        """Continue the stopped run ``run_dir`` from its last checkpoint."""
        self._launch(train_job, [], None, Path(run_dir))

    def _launch(self, factory, recipe, dataset: Path | None, resume: Path | None) -> None:
        if self.state != "idle":
            raise RuntimeError("a training job is already running")
        self._stop = CancelToken()
        self.control = None
        self.last_checkpoint, self.run_dir = None, resume
        self.resumable_run = None
        worker = JobWorker(factory(recipe, dataset, self.runs_dir, resume, self._stop), name="train")
        # Runs in the worker thread: deque.append is atomic, and no Qt event is posted per training event.
        worker.sig_event.connect(self._inbox.append, Qt.ConnectionType.DirectConnection)
        worker.sig_error.connect(self._on_worker_error)
        worker.sig_finished.connect(self._on_worker_finished)
        self.worker = worker
        self._set_state("running")
        self._delivery.start()
        worker.start()

    def pause(self) -> None:
        if self.worker is not None and self.state == "running":
            self.worker.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self.worker is not None and self.state == "paused":
            self.worker.resume()
            self._set_state("running")

    def stop(self) -> None:
        """Ask the trainer to stop after the batch it is on; it saves a checkpoint first."""
        if self.worker is None or self.state in ("idle", "stopping"):
            return
        self._stop.cancel()
        self.worker.resume()
        self._set_state("stopping")

    def set_lr(self, lr: float) -> None:
        """New base learning rate for the running trainer, applied at its next step (ValueError if bad)."""
        if self.control is None or self.state == "idle":
            raise RuntimeError("the trainer is not running yet")
        self.control.set_lr(lr)

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """Stop the job and wait for it (the window is closing)."""
        self.stop()
        for worker in (self.worker, *self._helpers):
            if worker is not None and worker.is_running():
                worker.wait(wait_ms)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.sig_state_changed.emit(state)

    # Slots --------------------------------------------------------------------------------------------
    def _on_helper_event(self, event: Any) -> None:
        if isinstance(event, DatasetFacts):
            if (str(event.path), repr(event.split)) == self._facts_request:
                self.sig_dataset_facts.emit(event)
        elif isinstance(event, RecipeFailed):
            if event.request == self._recipe_request:
                self.sig_recipe_failed.emit(event.reason)
        elif isinstance(event, LoadedRecipe) and event.request == self._recipe_request:
            self.sig_recipe_loaded.emit(event)

    def _on_helper_error(self, message: str, _details: str) -> None:
        self.sig_recipe_failed.emit(message.split(": ", 1)[-1])

    def _on_delivery_timeout(self) -> None:
        """Hand on every event the worker has queued since the last delivery, in order."""
        inbox = self._inbox
        for _ in range(len(inbox)):
            self._on_worker_event(inbox.popleft())

    def _on_worker_event(self, event: Any) -> None:
        if isinstance(event, ControlReady):
            self.control = event.control
            return
        kind = type(event).__name__
        if kind == "CheckpointEvent" and event.tag == "last":
            self.last_checkpoint = event.path
        elif kind == "StageEvent" and event.run_dir is not None:
            self.run_dir = Path(event.run_dir)
        elif kind == "FinishedEvent":
            if event.status == "cancelled":
                self.resumable_run = event.run_dir
            elif event.status == "diverged":
                self.sig_failed.emit(f"Training diverged: {event.message}.", self._kept(), "")
        self.sig_event.emit(event)

    def _on_worker_error(self, message: str, details: str) -> None:
        self._on_delivery_timeout()
        self.sig_failed.emit(_describe_failure(message), self._kept(), details)

    def _kept(self) -> str:
        if self.last_checkpoint is not None:
            return f"Kept: the last good checkpoint {self.last_checkpoint}"
        if self.run_dir is not None:
            return f"Nothing was trained far enough to save a checkpoint; the run folder is {self.run_dir}"
        return "Nothing was saved."

    def _on_worker_finished(self, _status: str) -> None:
        self._on_delivery_timeout()
        self._delivery.stop()
        self.worker = None
        self.control = None
        self._set_state("idle")
