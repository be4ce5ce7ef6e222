"""Which recipes the Train panel offers, read from the YAML alone (no torch).

Every recipe trains through the one pipeline (:class:`fieldcast.training.runs.Curriculum`), whatever its
task, so the list holds every packaged recipe grouped by the system it trains, plus the default recipe
built for the chosen dataset (:func:`fieldcast.training.defaults.default_recipe`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fieldcast.engine.limits import loads_yaml, read_json_file
from fieldcast.resources import resource_path

__all__ = [
    "DEFAULT_ENTRY",
    "TASK_TITLES",
    "recipe_system",
    "recipe_task",
    "run_task",
    "shipped_recipes",
]

#: item data of the "Default for this dataset" entry of the recipe list
DEFAULT_ENTRY = "default-for-dataset"

#: a recipe is a page of settings (the trainer refuses larger ones, saying so)
MAX_RECIPE_BYTES = 1 << 20

#: how the panel names each task
TASK_TITLES = {
    "field_rollout": "field rollout",
    "recurrent_field": "recurrent field",
    "sequence": "sequence",
}


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RECIPE_BYTES + 1)
        if len(raw) > MAX_RECIPE_BYTES:
            return {}  # not a recipe; loading it for training says why
        data = loads_yaml(raw.decode("utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8, too deep, an alias bomb
        return {}
    return data if isinstance(data, dict) else {}


def _parent_file(name: str, folder: Path) -> Path | None:
    """The file of parent recipe ``name``: beside the child, else among the packaged recipes."""
    for candidate in (folder / name, folder / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return next(iter(resource_path("recipes").glob(f"*/{name}.yaml")), None)


def _inherited(path: Path, key: str) -> Any:
    """Top-level ``key`` of a recipe, looked up through its ``parent`` chain (None when nobody sets it)."""
    seen: set[Path] = set()
    current: Path | None = Path(path)
    while current is not None and current not in seen:
        seen.add(current)
        data = _read(current)
        if key in data:
            return data[key]
        parent = data.get("parent")
        current = _parent_file(parent, current.parent) if isinstance(parent, str) else None
    return None


def recipe_task(path: Path) -> str:
    """The task a recipe file trains (``field_rollout`` unless it or a parent says otherwise)."""
    task = _inherited(path, "task")
    return task if isinstance(task, str) else "field_rollout"


def recipe_system(path: Path) -> str:
    """The system a recipe trains: its ``system`` key, else the packaged folder it sits in, else ""."""
    system = _inherited(path, "system")
    if isinstance(system, str):
        return system
    folder = Path(path).parent
    return folder.name if folder.parent == resource_path("recipes") else ""


def shipped_recipes() -> list[Path]:
    """Every packaged recipe, by system folder then name (shared ``*_base`` files left out)."""
    paths = [p for p in resource_path("recipes").glob("*/*.yaml") if not p.stem.endswith("_base")]
    return sorted(paths, key=lambda p: (p.parent.name, p.stem))


def run_task(run_dir: Path) -> str:
    """The task of run folder ``run_dir`` from its ``run.json`` (field rollout when it does not say)."""
    try:
        status = read_json_file(Path(run_dir) / "run.json", "run.json")
    except (OSError, ValueError):
        return "field_rollout"
    task = status.get("task") if isinstance(status, dict) else None
    return task if isinstance(task, str) else "field_rollout"
