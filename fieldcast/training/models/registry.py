"""A registry of model families that know their own constructor arguments.

Every family registers a name, a dataclass config and a version. A model built through :func:`build_model`
carries ``model_name``, ``model_args`` and ``model_version`` so a checkpoint can rebuild it exactly:
``build_model(meta["name"], meta["args"])``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import nn

__all__ = ["ModelFamily", "build_model", "get_family", "model_metadata", "model_names", "register_model"]


@dataclass(frozen=True)
class ModelFamily:
    """One registered family: its module class, its config dataclass and the version of its weights layout."""

    name: str
    cls: type[nn.Module]
    config_cls: type
    version: str


_FAMILIES: dict[str, ModelFamily] = {}


def register_model(name: str, config_cls: type, version: str = "1"):
    """Class decorator registering a model family under ``name``.

    The decorated class must accept an instance of ``config_cls`` as its only constructor argument.
    """

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _FAMILIES and _FAMILIES[name].cls is not cls:
            raise ValueError(f"model family {name!r} is already registered")
        _FAMILIES[name] = ModelFamily(name, cls, config_cls, version)
        return cls

    return decorate


def get_family(name: str) -> ModelFamily:
    """Return the family registered as ``name``; KeyError listing the known names otherwise."""
    if name not in _FAMILIES:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(model_names()) or 'none'}")
    return _FAMILIES[name]


def model_names() -> list[str]:
    """Names of all registered model families."""
    return sorted(_FAMILIES)


def build_model(name: str, args: dict[str, Any]) -> nn.Module:
    """Build family ``name`` from its constructor arguments and stamp them on the module."""
    family = get_family(name)
    config = family.config_cls(**args)
    model = family.cls(config)
    model.model_name = name
    model.model_args = dataclasses.asdict(config)
    model.model_version = family.version
    return model


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """The ``{"name", "args", "version"}`` record stored beside a model's weights."""
    return {"name": model.model_name, "args": dict(model.model_args), "version": model.model_version}
