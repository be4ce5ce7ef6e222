"""System specs: which fields a system has, what role each plays, and their units.

Array convention used everywhere in Fieldcast (as in The Well): spatial axes come last in the order
(x, y), so a scalar frame is ``field[ix, iy]`` with shape ``(nx, ny)`` and ``y`` pointing up. A window of
frames read for training is ``(T, C, nx, ny)`` with channels in :meth:`SystemSpec.channels` order.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Channel", "FieldSpec", "SystemSpec", "get_spec", "register_spec", "system_names"]

Role = Literal["state", "control", "conditioning"]
_AXES = ("x", "y", "z")


@dataclass(frozen=True)
class FieldSpec:
    """One physical field of a system.

    ``order`` is the tensor order as in The Well: 0 for a scalar (stored in ``t0_fields``), 1 for a vector
    with one component per spatial axis (``t1_fields``).
    """

    name: str
    role: Role = "state"
    order: int = 0
    units: str = ""
    colormap: str = "viridis"
    description: str = ""

    def component_names(self, n_dims: int = 2) -> list[str]:
        if self.order == 0:
            return [self.name]
        if self.order == 1:
            return [f"{self.name}_{a}" for a in _AXES[:n_dims]]
        raise ValueError(f"field {self.name!r}: tensor order {self.order} is not supported")


@dataclass(frozen=True)
class Channel:
    """One scalar channel of a window: a component of a field."""

    name: str
    field: str
    component: int
    role: Role
    units: str


@dataclass(frozen=True)
class SystemSpec:
    """What a system's data looks like and how a surrogate consumes it.

    Attributes
    ----------
    name : system id (``smoke``, ``melt`` ...), or ``generic:<dataset>`` for a file Fieldcast has no spec for.
    fields : the fields in the order their channels are stacked.
    history : number of past frames of the state a model sees.
    dt : time between stored frames, in ``time_units``.
    kind : ``rollout``, ``generative`` or ``sequence``.
    metrics : names of the physics metrics the system reports.
    """

    name: str
    fields: tuple[FieldSpec, ...]
    history: int = 1
    dt: float = 1.0
    time_units: str = "s"
    n_dims: int = 2
    kind: str = "rollout"
    description: str = ""
    metrics: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"system {self.name!r} has no field {name!r}")

    def fields_with_role(self, role: Role) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.role == role)

    def channels(self, role: Role | None = None) -> list[Channel]:
        out = []
        for f in self.fields:
            if role is not None and f.role != role:
                continue
            for i, cname in enumerate(f.component_names(self.n_dims)):
                out.append(Channel(cname, f.name, i, f.role, f.units))
        return out

    def channel_names(self, role: Role | None = None) -> list[str]:
        return [c.name for c in self.channels(role)]


_REGISTRY: dict[str, SystemSpec] = {}
# Systems whose modules register their spec on import; imported on first lookup so that asking for a
# spec never pays for every solver.
_KNOWN_MODULES = {
    "smoke": "fieldcast.engine.systems.smoke",
    "melt": "fieldcast.engine.systems.melt",
    "stress": "fieldcast.engine.systems.stress",
    "thermal-imaging": "fieldcast.engine.systems.thermal_imaging",
    "trajectory": "fieldcast.engine.systems.trajectory",
}


def register_spec(spec: SystemSpec) -> SystemSpec:
    """Make ``spec`` known by its name (called by each system module at import)."""
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> SystemSpec:
    """Return the spec of system ``name``; raises KeyError with the known names if there is none."""
    if name not in _REGISTRY and name in _KNOWN_MODULES:
        try:
            importlib.import_module(_KNOWN_MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name != _KNOWN_MODULES[name]:
                raise
    if name not in _REGISTRY:
        raise KeyError(f"unknown system {name!r}; known systems: {', '.join(system_names()) or 'none'}")
    return _REGISTRY[name]


def system_names() -> list[str]:
    """Names of the systems whose modules are present in this installation."""
    names = set(_REGISTRY)
    for name, module in _KNOWN_MODULES.items():
        if importlib.util.find_spec(module) is not None:
            names.add(name)
    return sorted(names)
