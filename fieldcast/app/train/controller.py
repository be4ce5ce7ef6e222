"""Run training in a :class:`JobWorker` and report what happens, without the widgets.

Field-rollout recipes run the training curriculum; the melt microstructure ConvLSTM runs its own loop
(:func:`fieldcast.training.melt_train.train_melt`), which yields the same events, in a run folder of the
same layout so the Runs panel follows it too.

torch and :mod:`fieldcast.training` are imported inside the jobs, in the worker thread, so the window opens
without them and the GUI thread never pays for the import.

Stopping sets the trainer's own cancel token (not the worker's): the trainer then finishes the batch it is
on, saves a ``last`` checkpoint and yields a ``cancelled`` FinishedEvent, which the worker still delivers.

Events are not sent to the GUI thread one queued signal each (a small model yields a hundred or more a
second): the worker thread appends them to an inbox and a timer in the GUI thread hands them on in batches,
every ``DELIVERY_MS``; the worker's end (error or finished) delivers what is left first, so order holds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from fieldcast.app.train.recipes import recipe_kind
from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import CancelToken

__all__ = ["LoadedRecipe", "TrainController", "write_stage_files"]

log = logging.getLogger("fieldcast.app")

#: How much nicer than the window the training thread runs (Linux), so drawing seldom waits for a CPU.
#: Not more: the thread shares the GIL with the window, and a training thread starved of CPU by other
#: programs keeps the window waiting for the GIL it holds (on two busy cores, nice 10 put the window's
#: 99th-percentile latency at 80-100 ms against 30-40 ms with 5; on a quiet machine both give 5-15 ms).
BACKGROUND_NICENESS = 5

#: how often training events are handed from the worker thread to the window, in milliseconds
DELIVERY_MS = 50


def lower_thread_priority(steps: int = BACKGROUND_NICENESS) -> None:
    """Lower the calling thread's CPU priority where the OS allows it per thread (Linux); else do nothing."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError as exc:
        log.info("training thread keeps its priority: %s", exc)


def _prepare_training_thread() -> None:
    """Run at the start of a training job, in its thread."""
    lower_thread_priority()
    import torch

    # Leave one core to the window: torch's own thread pool would otherwise take every core, and the
    # GUI thread would wait for a CPU behind it.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class LoadedRecipe:
    """A recipe file resolved into its curriculum stages (plain dictionaries, first stage first).

    ``kind`` is ``"rollout"`` (the curriculum trainer; the stages are what the recipe form edits) or
    ``"melt"`` (the melt microstructure loop; one stage, the recipe as written in ``path``, not editable).
    """

    path: Path
    stages: list[dict]
    kind: str = "rollout"


def _load_recipe_job(path: Path):
    def job(_token: CancelToken) -> Iterator[LoadedRecipe]:
        if recipe_kind(path) == "melt":
            from fieldcast.training.melt_train import load_melt_recipe

            yield LoadedRecipe(Path(path), [dataclasses.asdict(load_melt_recipe(path))], kind="melt")
            return
        from fieldcast.training.config import load_recipe, recipe_to_dict, resolve_recipe_path

        chain = [load_recipe(path)]
        while chain[0].parent and chain[0].init_from_parent:
            folder = Path(chain[0].source_path).parent if chain[0].source_path else None
            chain.insert(0, load_recipe(resolve_recipe_path(chain[0].parent, folder)))
        yield LoadedRecipe(Path(path), [recipe_to_dict(r) for r in chain])

    return job


def write_stage_files(stages: list[dict], folder: Path) -> Path:
    """Write each stage as a complete recipe naming the previous one as parent; returns the last file."""
    path = folder
    for i, stage in enumerate(stages):
        data = dict(stage)
        data["parent"] = stages[i - 1]["name"] if i > 0 and data.get("init_from_parent", True) else None
        path = folder / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class _ControlReady:
    """First event of a training job: the TrainerControl it steers (made in the worker thread)."""

    control: Any


def _train_job(stages: list[dict], dataset: Path | None, runs_dir: Path, resume: Path | None, stop):
    def job(_token: CancelToken) -> Iterator[Any]:
        from fieldcast.training.runs import Curriculum
        from fieldcast.training.trainer import TrainerControl

        _prepare_training_thread()
        control = TrainerControl()
        yield _ControlReady(control)

        if resume is not None:
            curriculum = Curriculum(None, runs_dir=runs_dir, resume=resume)
        else:
            with tempfile.TemporaryDirectory(prefix="fieldcast-recipe-") as tmp:
                last = write_stage_files(stages, Path(tmp))
                curriculum = Curriculum(last, runs_dir=runs_dir, data=str(dataset) if dataset else None)
        yield from curriculum.run(token=stop, control=control)

    return job


def _melt_record(event: Any) -> dict[str, Any] | None:
    """The ``metrics.jsonl`` record of a melt training event, in the curriculum trainer's format."""
    kind = type(event).__name__
    if kind == "StepEvent":
        return {"kind": "step", "epoch": event.epoch, "step": event.step, "loss": event.loss, "lr": event.lr}
    if kind == "EpochEvent":
        return {"kind": "epoch", "epoch": event.epoch, "step": event.step, "train_loss": event.train_loss,
                "lr": event.lr, "seconds": event.seconds}  # fmt: skip
    if kind == "ValidationEvent":
        return {"kind": "validation", "epoch": event.epoch, "step": event.step, **event.metrics}
    return None


def _melt_train_job(recipe_path: Path, dataset: Path, runs_dir: Path, _resume: None, stop: CancelToken):
    """``train_melt`` in a new run folder, with the ``run.json`` and ``metrics.jsonl`` the Runs panel reads.

    Stopping uses ``train_melt``'s token: it ends before its next batch. It cannot resume a run.
    """

    def job(_token: CancelToken) -> Iterator[Any]:
        from fieldcast.engine.data import open_dataset
        from fieldcast.training.config import RecipeError
        from fieldcast.training.events import FinishedEvent, StageEvent
        from fieldcast.training.melt_train import load_melt_recipe, train_melt
        from fieldcast.training.runs import new_run_dir, write_status
        from fieldcast.training.tracking import MetricsWriter

        _prepare_training_thread()
        recipe = load_melt_recipe(recipe_path)
        data = open_dataset(dataset)
        if data.spec.name != recipe.system:
            raise RecipeError(
                f"recipe {recipe.name}: it trains on {recipe.system} data, and {Path(dataset).name} holds"
                f" {data.spec.name} data"
            )
        run_dir = new_run_dir(runs_dir, recipe.name)
        (run_dir / "config.yaml").write_text(
            yaml.safe_dump(dataclasses.asdict(recipe), sort_keys=False), encoding="utf-8"
        )
        write_status(run_dir, "running", name=recipe.name)
        yield StageEvent(recipe.name, 0, 1, "start", run_dir)
        metrics, status = MetricsWriter(run_dir / "metrics.jsonl"), "failed"
        try:
            for event in train_melt(recipe, data, run_dir, token=stop):
                if (record := _melt_record(event)) is not None:
                    metrics.write(record)
                if isinstance(event, FinishedEvent):
                    status = event.status
                yield event
        finally:
            metrics.close()
            write_status(run_dir, status)
        yield StageEvent(recipe.name, 0, 1, "done", run_dir)

    return job


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
    """A recipe file could not be read (the reason)."""

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
        self.job_kind = "rollout"  # of the current or last job: "melt" can neither resume nor change lr
        self._recipe_worker: JobWorker | None = None
        self._inbox: deque[Any] = deque()  # appended in the worker thread, emptied in the GUI thread
        self._delivery = QTimer(self, interval=DELIVERY_MS)
        self._delivery.timeout.connect(self._on_delivery_timeout)

    # Recipes ------------------------------------------------------------------------------------------
    def load_recipe(self, path: Path) -> None:
        """Resolve recipe ``path`` and its curriculum parents in the background (sig_recipe_loaded)."""
        worker = JobWorker(_load_recipe_job(Path(path)), name="load-recipe")
        worker.sig_event.connect(self.sig_recipe_loaded)
        worker.sig_error.connect(
            lambda message, _details: self.sig_recipe_failed.emit(message.split(": ", 1)[-1])
        )
        self._recipe_worker = worker
        worker.start()

    # Training -----------------------------------------------------------------------------------------
    def start(self, stages: list[dict], dataset: Path | None) -> None:
        """Train ``stages`` on ``dataset`` in a new run folder (a curriculum reuses finished parents)."""
        self._launch(_train_job, stages, dataset, None)

    def start_melt(self, recipe: Path, dataset: Path) -> None:
        """Train the melt microstructure recipe file ``recipe`` on ``dataset`` in a new run folder."""
        self._launch(_melt_train_job, Path(recipe), dataset, None, kind="melt")

    def resume_run(self, run_dir: Path) -> None:
        """Continue the stopped run ``run_dir`` from its last checkpoint."""
        self._launch(_train_job, [], None, Path(run_dir))

    def _launch(self, factory, recipe, dataset: Path | None, resume: Path | None, kind="rollout") -> None:
        if self.state != "idle":
            raise RuntimeError("a training job is already running")
        self._stop = CancelToken()
        self.control = None
        self.last_checkpoint, self.run_dir = None, resume
        self.resumable_run = None
        self.job_kind = kind
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
        for worker in (self.worker, self._recipe_worker):
            if worker is not None and worker.is_running():
                worker.wait(wait_ms)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.sig_state_changed.emit(state)

    # Slots --------------------------------------------------------------------------------------------
    def _on_delivery_timeout(self) -> None:
        """Hand on every event the worker has queued since the last delivery, in order."""
        inbox = self._inbox
        for _ in range(len(inbox)):
            self._on_worker_event(inbox.popleft())

    def _on_worker_event(self, event: Any) -> None:
        if isinstance(event, _ControlReady):
            self.control = event.control
            return
        kind = type(event).__name__
        if kind == "CheckpointEvent" and event.tag == "last":
            self.last_checkpoint = event.path
        elif kind == "StageEvent" and event.run_dir is not None:
            self.run_dir = Path(event.run_dir)
        elif kind == "FinishedEvent":
            if event.status == "cancelled" and self.job_kind == "rollout":
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
