"""Packaged resources (icons, styles, default models, recipes), read through one accessor."""

from __future__ import annotations

import importlib.resources
import pathlib

__all__ = ["resource_path"]


def resource_path(*parts: str) -> pathlib.Path:
    """Path of a packaged resource, e.g. ``resource_path("recipes", "smoke", "smoke_k1.yaml")``.

    Resources ship as plain files inside the package, so the path is a real file-system path.
    """
    root = importlib.resources.files("fieldcast.resources")
    return pathlib.Path(str(root.joinpath(*parts)))
