"""Which recipe files the Train panel trains, and with which loop, read from the YAML alone (no torch).

Two kinds are trained here:

``rollout``
    field-rollout recipes (smoke, the melt temperature UNet ...), run by the curriculum trainer and
    editable in the recipe form;
``melt``
    the melt microstructure ConvLSTM (model ``convlstm``), run by :func:`fieldcast.training.melt_train.
    train_melt`, its own loop with its own recipe schema: it runs as written in its file.

Sequence recipes (trajectory LSTM) train from ``fieldcast train`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fieldcast.resources import resource_path

__all__ = ["melt_note", "recipe_kind", "recipe_system", "shipped_recipes"]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def recipe_kind(path: Path) -> str | None:
    """``"rollout"``, ``"melt"``, or None for a recipe this panel does not train (or cannot read)."""
    data = _read(path)
    if not data:
        return None
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    if model.get("name") == "convlstm":
        return "melt"  # the same test as training.melt_train.is_melt_recipe, without importing torch
    if data.get("system") == "trajectory" or model.get("name") == "lstm":
        return None
    return "rollout"


def recipe_system(path: Path) -> str:
    """The system a recipe trains: its ``system`` key, else the packaged folder it sits in, else ""."""
    system = _read(path).get("system")
    if isinstance(system, str):
        return system
    folder = Path(path).parent
    return folder.name if folder.parent == resource_path("recipes") else ""


def shipped_recipes() -> list[Path]:
    """The packaged recipes this panel trains, by system then name (shared ``*_base`` files left out)."""
    paths = [
        p
        for p in resource_path("recipes").glob("*/*.yaml")
        if not p.stem.endswith("_base") and recipe_kind(p) is not None
    ]
    return sorted(paths, key=lambda p: (p.parent.name, p.stem))


def melt_note(recipe: dict[str, Any], path: Path) -> str:
    """What the panel says in place of the recipe form about a melt microstructure recipe (a dict)."""
    data, train = recipe.get("data") or {}, recipe.get("train") or {}
    return (
        f"{recipe.get('description') or 'Melt microstructure ConvLSTM'}. This recipe trains with the melt"
        f" microstructure loop and runs as written in {Path(path).name} ({train.get('epochs', 10)} epochs,"
        f" batch {data.get('batch_size', 16)}). The recipe form is for field-rollout recipes and does not"
        " apply: edit the file to change this one. Validation shows the model's MSE and front MSE against"
        " persistence (dashed)."
    )
