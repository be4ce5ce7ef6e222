"""What the Train panel says in words: the dataset and its split, the recipe, what a stage trains on."""

from __future__ import annotations

import html
from typing import Any

from fieldcast.app.train.controller import DatasetFacts, LoadedRecipe
from fieldcast.app.train.recipes import TASK_TITLES

__all__ = [
    "NO_SAMPLES",
    "data_event_text",
    "dataset_text",
    "recipe_text",
    "samples_caption",
    "task_title",
]

#: shown in place of the samples when a validation brought none: the task draws none (a sequence model has
#: no fields to show), or the validation frames are fewer than its rollout test needs
NO_SAMPLES = "No pictures from this validation: the task draws none, or too few frames for a rollout test."

_WARN = "color:#b9770e"
_ERROR = "color:#c0392b"


def task_title(task: str) -> str:
    return TASK_TITLES.get(task, task.replace("_", " "))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def dataset_text(facts: DatasetFacts) -> str:
    """The dataset's system, size and how it will be split (rich text), before anything trains."""
    if facts.problem and not facts.system:
        return f"<span style='{_ERROR}'>{html.escape(facts.problem)}</span>"
    origin = "" if facts.built_in else " (built from the file's own fields)"
    grid = "×".join(str(n) for n in facts.grid)
    size = _count(facts.trajectories, "trajectory", "trajectories")
    lines = [
        f"<b>System</b> {html.escape(facts.system)}{origin}: {size} of {facts.frames} frames, grid {grid}",
    ]
    if facts.problem:
        lines.append(f"<span style='{_ERROR}'><b>Split</b> {html.escape(facts.problem)}</span>")
    else:
        lines.append(f"<b>Split</b> {html.escape(facts.split_note)}")
    return "<br>".join(lines)


def recipe_text(recipe: LoadedRecipe, facts: DatasetFacts | None) -> str:
    """What the loaded recipe is (rich text), with a warning when it names another system than the data."""
    last = recipe.stages[-1]
    model = (last.get("model") or {}).get("name", "")
    what = f"{task_title(recipe.task)}, {model}"
    if recipe.is_default:
        name = recipe.dataset.name if recipe.dataset else "the dataset"
        text = f"Default recipe for {html.escape(name)} ({what}): edit it below, then Start."
    else:
        names = " → ".join(s["name"] for s in recipe.stages)
        text = f"{len(recipe.stages)} stage(s): {html.escape(names)} ({what})"
    system = last.get("system")
    if facts is not None and facts.system and system not in (None, "auto", facts.system):
        text += (
            f"<br><span style='{_WARN}'>This recipe trains {html.escape(str(system))} data;"
            f" {html.escape(facts.path.name)} holds {html.escape(facts.system)} data. Choose"
            " &quot;Default for this dataset&quot; to train on it.</span>"
        )
    return text


def data_event_text(event: Any) -> str:
    """A stage's DataEvent in words: the task, the data as it sees it, the split."""
    parts = [f"<b>Task</b> {html.escape(task_title(event.task))}"]
    if event.description:
        parts.append(html.escape(event.description))
    text = ": ".join(parts)
    if event.split:
        text += f"<br><b>Split</b> {html.escape(event.split)}"
    return text


def samples_caption(event: Any) -> str:
    if event.horizon:
        return f"Validation rollout after {event.horizon} frames, epoch {event.epoch + 1}"
    return f"Validation prediction of the next frame, epoch {event.epoch + 1}"
