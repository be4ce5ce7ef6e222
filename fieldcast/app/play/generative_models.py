"""Which generative models the Play page offers: the shipped model of each source, those exported from runs,
and files opened by hand. No Qt here."""

from __future__ import annotations

from pathlib import Path

from fieldcast.app.play.generative_condition import SOURCES
from fieldcast.app.play.model_picker import run_models
from fieldcast.resources import resource_path

__all__ = ["default_generative_model", "models_of_source", "no_model_text"]


def default_generative_model(source: str) -> Path | None:
    """The shipped model of ``source`` ("radio" or "ir"), if this installation has it."""
    path = resource_path("models", SOURCES[source].default_model)
    return path if path.is_file() else None


def no_model_text(source: str) -> str:
    """What the page says when it has no model of ``source``."""
    name = SOURCES[source].default_model
    return (
        f"No {source} model: this installation has no fieldcast/resources/models/{name}. Train one "
        f"(Train panel, thermal-imaging recipes), export it and open it with Open model…; the condition "
        "can be drawn meanwhile."
    )


def models_of_source(source: str, runs: Path | None, opened: list[Path]) -> list[tuple[str, str]]:
    """(label, path) of the generative models of ``source``: the shipped one, those exported from the runs
    of ``runs`` (newest first), then ``opened``. Files that are not readable generative models are left
    out."""
    from fieldcast.engine.generative import load_generative_checked
    from fieldcast.engine.runtime import ModelError

    models: list[tuple[str, str]] = []
    shipped = default_generative_model(source)
    if shipped is not None:
        models.append((f"Shipped {source} model", str(shipped)))
    for path in run_models(runs) + list(opened):
        try:
            _, info = load_generative_checked(path)
        except ModelError:
            continue  # not a generative model, or not a readable one: another page's file
        if info.source in ("", source) and str(path) not in [p for _, p in models]:
            label = (
                f"Run {path.parent.name}" if runs is not None and path.parent.parent == runs else path.name
            )
            models.append((label, str(path)))
    return models
