"""Run folders and curricula: naming, status, reuse of finished parent stages, resuming.

A run folder holds ``config.yaml`` (the resolved recipe), ``run.json`` (name, config hash, status),
``metrics.jsonl``, ``checkpoints/`` and ``samples/``. Training the last stage of a curriculum trains each
parent stage that has no finished run with the same configuration, or reuses the one that has.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.limits import JsonFileError, read_json_file
from fieldcast.training.checkpoint import (
    CheckpointError,
    atomic_write,
    last_complete,
    load_checkpoint,
    load_train_state,
)
from fieldcast.training.config import (
    Recipe,
    RecipeError,
    apply_overrides,
    config_hash,
    load_recipe,
    recipe_from_dict,
    recipe_to_dict,
)
from fieldcast.training.distributed import DistContext
from fieldcast.training.events import FinishedEvent, StageEvent

__all__ = [
    "Curriculum",
    "best_weights",
    "default_stage",
    "find_finished",
    "new_run_dir",
    "prepare_run_dir",
    "read_status",
    "recipe_dict",
    "write_status",
]

_DONE = ("completed", "early_stopped")


def recipe_dict(recipe: Recipe) -> dict[str, Any]:
    return recipe_to_dict(recipe)


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """Create and return a fresh folder ``runs_dir/name`` (``name-2``, ``name-3`` ... when taken)."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = runs_dir / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder name for {name!r} in {runs_dir}")


def prepare_run_dir(run_dir: Path, recipe: Recipe, split: str | list[float] | None = None) -> None:
    """Create the folder layout, write ``config.yaml`` once and mark the run as running.

    ``split`` is the split the run really uses (``data.split: auto`` resolved to the file's stored split or
    to time ratios), written into ``config.yaml`` so the folder says how it was validated.
    """
    run_dir = Path(run_dir)
    for sub in ("checkpoints", "samples"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    config = run_dir / "config.yaml"
    if not config.exists():
        data = recipe_to_dict(recipe)
        if split is not None:
            data["data"]["split"] = split
        atomic_write(config, yaml.safe_dump(data, sort_keys=False).encode())
    write_status(run_dir, "running", name=recipe.name, config_hash=config_hash(recipe))


def read_status(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return None
    status = read_json_file(path, "run.json")  # JsonFileError naming the file when damaged or hostile
    if not isinstance(status, dict):
        raise JsonFileError(path, "run.json is not a JSON object")
    return status


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    """Update ``run.json`` atomically with ``status`` and ``extra`` fields."""
    record = read_status(run_dir) or {}
    record.update(extra, status=status, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write(Path(run_dir) / "run.json", json.dumps(record, indent=2).encode())


def best_weights(run_dir: Path) -> Path | None:
    """The best checkpoint of a run, or its last when no validation ran; None when it has neither."""
    for tag in ("best", "last"):
        path = Path(run_dir) / "checkpoints" / f"{tag}.safetensors"
        if path.is_file():
            return path
    return None


def find_finished(runs_dir: Path, recipe: Recipe) -> Path | None:
    """The newest finished run of ``recipe`` (same name and config hash) that has weights."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    wanted = config_hash(recipe)
    found = []
    for folder in runs_dir.iterdir():
        try:
            status = read_status(folder) if folder.is_dir() else None
        except (OSError, ValueError):  # a damaged run folder is not the finished run looked for
            continue
        if status and status.get("name") == recipe.name and status.get("config_hash") == wanted:
            if status.get("status") in _DONE and best_weights(folder) is not None:
                found.append((status.get("updated", ""), folder))
    return max(found)[1] if found else None


def _with_data(recipe: Recipe, data: str | None) -> Recipe:
    if data is None:
        return recipe
    return dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, path=str(Path(data).resolve())))


class Curriculum:
    """The stages to train for a recipe (its ``init_from_parent`` ancestors first), checked eagerly.

    Parameters
    ----------
    recipe : path or name of the last stage.
    overrides : ``key=value`` items applied to every stage.
    data : dataset file for every stage (else each stage's ``data.path``).
    resume : a run folder to continue instead (its ``config.yaml`` is the recipe; no parents).
    init_from : a run folder whose best weights the recipe's stage starts from, instead of training or
        reusing its parents (fine-tuning a finished model on other data).
    """

    def __init__(
        self,
        recipe: str | Path | None,
        overrides: Sequence[str] = (),
        runs_dir: str | Path = "runs",
        data: str | None = None,
        resume: str | Path | None = None,
        init_from: str | Path | None = None,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.init_from: Path | None = None
        if init_from is not None:
            if resume is not None:
                raise RecipeError("--init-from and --resume: give one of them")
            self.init_from = best_weights(Path(init_from)) if Path(init_from).is_dir() else None
            if self.init_from is None:
                raise RecipeError(f"--init-from {init_from}: not a run folder with checkpoints")
        self.resume = Path(resume) if resume else None
        self.resume_from: Path | None = None
        if self.resume is not None:
            last = self.resume / "checkpoints" / "last.safetensors"
            if not self.resume.is_dir():
                why = "it is a file" if self.resume.exists() else "no such folder"
                raise RecipeError(f"--resume {self.resume}: not a run folder ({why})")
            if not (self.resume / "config.yaml").is_file():
                raise RecipeError(f"--resume {self.resume}: not a run folder (it has no config.yaml)")
            if not last.is_file():
                raise RecipeError(f"--resume {self.resume}: the run has no checkpoints/last.safetensors")
            self.stages = [
                _with_data(load_recipe(self.resume / "config.yaml", overrides, inherit=False), data)
            ]
            self.resume_from = _checked_resume_point(last)
        else:
            if recipe is None and data is None:
                raise RecipeError(
                    "recipe: give a recipe file, --data FILE (a default recipe) or --resume RUN"
                )
            if recipe is None:
                stages = [default_stage(data, overrides)]
            else:
                stages = [_with_data(load_recipe(recipe, overrides), data)]
            while stages[0].parent and stages[0].init_from_parent and self.init_from is None:
                parent = load_recipe(_parent_path(stages[0]), overrides)
                stages.insert(0, _with_data(parent, data))
            self.stages = stages
        for stage in self.stages:
            if not stage.data.path:
                raise RecipeError(f"recipe {stage.source}: no dataset; set data.path or pass --data FILE")

    def run(
        self,
        *,
        device: str | None = None,
        token: CancelToken | None = None,
        control: Any = None,
        dist: DistContext | None = None,
        dataset: Any = None,
    ) -> Iterator[Any]:
        """Train every stage that needs it, yielding StageEvents and each trainer's events.

        ``dataset`` replaces opening each stage's ``data.path`` (tests, the GUI's already open dataset).
        """
        dist = dist or DistContext()
        n = len(self.stages)
        reused = [None] * n
        if dist.is_main and self.resume is None:
            reused = [
                find_finished(self.runs_dir, s) if i < n - 1 else None for i, s in enumerate(self.stages)
            ]
        reused = dist.broadcast(reused)
        opened: dict[str, Any] = {} if dataset is None else {s.data.path: dataset for s in self.stages}
        init = None
        for i, stage in enumerate(self.stages):
            if reused[i] is not None:
                init = best_weights(reused[i])
                yield StageEvent(stage.name, i, n, "reused", reused[i], None)
                continue
            start = init if (i > 0 and stage.init_from_parent and dist.is_main) else None
            if i == 0 and self.init_from is not None and dist.is_main:
                start = self.init_from
            trainer = self._trainer(stage, opened, start, device, token or CancelToken(), control, dist)
            yield StageEvent(stage.name, i, n, "start", trainer.run_dir, start)
            finished = None
            for event in trainer.run():
                if isinstance(event, FinishedEvent):
                    finished = event
                yield event
            yield StageEvent(stage.name, i, n, "done", trainer.run_dir, start)
            if finished is None or finished.status not in _DONE:
                return
            init = best_weights(trainer.run_dir) if trainer.run_dir is not None else None

    def _trainer(self, stage: Recipe, opened: dict, start, device, token, control, dist: DistContext):
        """Build the trainer of one stage in a fresh run folder (or the resumed one)."""
        from fieldcast.training.datasets import open_data
        from fieldcast.training.trainer import Trainer

        if stage.data.path not in opened:
            opened[stage.data.path] = open_data(stage.data.path)
        run_dir = self.resume or (new_run_dir(self.runs_dir, stage.name) if dist.is_main else None)
        resume_from = self.resume_from
        try:
            return Trainer(
                stage,
                opened[stage.data.path],
                run_dir,
                device=device,
                init_weights=start,
                resume_from=resume_from,
                token=token,
                control=control,
                dist=dist,
            )
        except BaseException:
            if run_dir is not None and self.resume is None:
                run_dir.rmdir()  # still empty: nothing was trained
            raise


def default_stage(data: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """The default recipe of dataset ``data`` (see :mod:`fieldcast.training.defaults`), with overrides."""
    from fieldcast.engine.data import DatasetError, open_dataset
    from fieldcast.training.defaults import default_recipe

    path = Path(data)
    if not path.is_file():
        raise RecipeError(f"dataset {path}: no such file")
    try:
        with open_dataset(path) as ds:
            plain = default_recipe(ds)
    except DatasetError as exc:
        raise RecipeError(str(exc)) from None
    plain = apply_overrides(plain, overrides)
    plain.setdefault("data", {})["path"] = str(path.resolve())
    return recipe_from_dict(plain, source=f"default recipe for {path.name}")


def _checked_resume_point(last: Path) -> Path:
    """The newest complete checkpoint beside ``last``, read once now so a damaged file is reported before
    the data is opened and the model built; raises :class:`CheckpointError` naming the file."""
    weights = last_complete(last.parent, "last")
    if weights is None:
        load_checkpoint(last)  # raises, naming the file that is wrong
        raise CheckpointError(last, "the checkpoint is incomplete (its writer was interrupted)")
    _, sidecar = load_checkpoint(weights)
    load_train_state(weights.with_suffix(".pt"), expected_step=int(sidecar["step"]))
    return weights


def _parent_path(recipe: Recipe) -> Path:
    from fieldcast.training.config import resolve_recipe_path

    folder = Path(recipe.source_path).parent if recipe.source_path else None
    return resolve_recipe_path(recipe.parent, folder)
