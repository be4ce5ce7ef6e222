"""System specs: which fields a system has, what role each plays, and their units.

Array convention used everywhere in Fieldcast (as in The Well): spatial axes come last in the order
(x, y), so a scalar frame is ``field[ix, iy]`` with shape ``(nx, ny)`` and ``y`` pointing up. A window of
frames read for training is ``(T, C, nx, ny)`` with channels in :meth:`SystemSpec.channels` order.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "MAX_FIELDS",
    "MAX_NAME",
    "Channel",
    "FieldSpec",
    "SystemSpec",
    "get_spec",
    "register_spec",
    "resolve_spec",
    "spec_from_dict",
    "spec_to_dict",
    "system_names",
]

Role = Literal["state", "control", "conditioning"]
_ROLES = ("state", "control", "conditioning")
_KINDS = ("rollout", "generative", "sequence")
_AXES = ("x", "y", "z")

# Bounds on a spec read from a file or a model: generous for real systems, small enough that a crafted
# value cannot make a reader allocate or print without limit.
MAX_FIELDS = 256
MAX_NAME = 128
_MAX_TEXT = 4096
_MAX_HISTORY = 1024
_MAX_EXTRA_BYTES = 64 << 10


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


def resolve_spec(name: str, carried: Mapping[str, Any] | SystemSpec | None = None) -> SystemSpec:
    """The spec a run or a model carries when it carries one, else the built-in spec of system ``name``.

    ``carried`` is a :func:`spec_to_dict` record (validated here) or a spec. Raises ValueError when it is
    malformed or names another system than ``name``, KeyError when nothing is carried and ``name`` is not a
    built-in system.
    """
    if carried is None:
        return get_spec(name)
    spec = carried if isinstance(carried, SystemSpec) else spec_from_dict(carried)
    if spec.name != name:
        raise ValueError(f"the carried spec is for system {spec.name!r}, not {name!r}")
    return spec


# Serialisation -------------------------------------------------------------------------------------------
_FIELD_KEYS = ("name", "role", "order", "units", "colormap", "description")
_SPEC_KEYS = (
    "name",
    "fields",
    "history",
    "dt",
    "time_units",
    "n_dims",
    "kind",
    "description",
    "metrics",
    "extra",
)


def spec_to_dict(spec: SystemSpec) -> dict[str, Any]:
    """``spec`` as plain JSON-ready data that :func:`spec_from_dict` turns back into an equal spec.

    Entries of ``extra`` that are not JSON (solver objects) are left out: they do not travel with data.
    """
    extra = {}
    for key, value in spec.extra.items():
        try:
            extra[str(key)] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            continue
    return {
        "name": spec.name,
        "fields": [
            {
                "name": f.name,
                "role": f.role,
                "order": int(f.order),
                "units": f.units,
                "colormap": f.colormap,
                "description": f.description,
            }
            for f in spec.fields
        ],
        "history": int(spec.history),
        "dt": float(spec.dt),
        "time_units": spec.time_units,
        "n_dims": int(spec.n_dims),
        "kind": spec.kind,
        "description": spec.description,
        "metrics": list(spec.metrics),
        "extra": extra,
    }


def spec_from_dict(data: Any) -> SystemSpec:
    """Rebuild a spec written by :func:`spec_to_dict`, checking every key.

    ``name`` and ``fields`` are required, the other keys take the :class:`SystemSpec` defaults. Raises
    ValueError naming the first bad key (``fields[2].role`` ...): an unknown key, a wrong type, an unknown
    role or kind, a duplicate field, more than :data:`MAX_FIELDS` fields or a name over :data:`MAX_NAME`
    characters.
    """
    d = _mapping(data, "spec", _SPEC_KEYS)
    if "fields" not in d:
        raise ValueError("spec: key 'fields' is missing")
    raw_fields = d["fields"]
    if not isinstance(raw_fields, (list, tuple)):
        raise ValueError(f"spec key 'fields': expected a list, got {type(raw_fields).__name__}")
    if not 1 <= len(raw_fields) <= MAX_FIELDS:
        raise ValueError(f"spec key 'fields': {len(raw_fields)} fields, expected 1 to {MAX_FIELDS}")
    fields = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_fields):
        where = f"fields[{i}]"
        f = _mapping(raw, where, _FIELD_KEYS)
        name = _name(f, where)
        if name in seen:
            raise ValueError(f"spec key '{where}.name': field {name!r} appears twice")
        seen.add(name)
        role = _text(f, where, "role", "state", MAX_NAME)
        if role not in _ROLES:
            raise ValueError(f"spec key '{where}.role': unknown role {role!r} (expected {', '.join(_ROLES)})")
        order = _int(f, where, "order", 0, 0, 1)
        fields.append(
            FieldSpec(
                name=name,
                role=role,
                order=order,
                units=_text(f, where, "units", "", MAX_NAME),
                colormap=_text(f, where, "colormap", "viridis", MAX_NAME),
                description=_text(f, where, "description", "", _MAX_TEXT),
            )
        )
    dt = d.get("dt", 1.0)
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"spec key 'dt': expected a finite number > 0, got {dt!r}")
    kind = _text(d, None, "kind", "rollout", MAX_NAME)
    if kind not in _KINDS:
        raise ValueError(f"spec key 'kind': unknown kind {kind!r} (expected {', '.join(_KINDS)})")
    metrics = d.get("metrics", [])
    if not isinstance(metrics, (list, tuple)) or len(metrics) > MAX_FIELDS:
        raise ValueError(f"spec key 'metrics': expected a list of at most {MAX_FIELDS} names")
    for i, m in enumerate(metrics):
        if not isinstance(m, str) or not 0 < len(m) <= MAX_NAME:
            raise ValueError(f"spec key 'metrics[{i}]': expected a name of 1 to {MAX_NAME} characters")
    extra = d.get("extra", {})
    if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
        raise ValueError("spec key 'extra': expected an object with string keys")
    try:
        size = len(json.dumps(extra, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError("spec key 'extra': not plain JSON data") from None
    if size > _MAX_EXTRA_BYTES:
        raise ValueError(f"spec key 'extra': {size} bytes of JSON, at most {_MAX_EXTRA_BYTES}")
    return SystemSpec(
        name=_name(d, None),
        fields=tuple(fields),
        history=_int(d, None, "history", 1, 1, _MAX_HISTORY),
        dt=float(dt),
        time_units=_text(d, None, "time_units", "s", MAX_NAME),
        n_dims=_int(d, None, "n_dims", 2, 1, len(_AXES)),
        kind=kind,
        description=_text(d, None, "description", "", _MAX_TEXT),
        metrics=tuple(metrics),
        extra=dict(extra),
    )


def _mapping(value: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    label = "spec" if where == "spec" else f"spec key '{where}'"
    if not isinstance(value, Mapping):
        raise ValueError(f"{label}: expected an object, got {type(value).__name__}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        key = unknown[0] if where == "spec" else f"{where}.{unknown[0]}"
        raise ValueError(f"spec key {key!r} is not known (keys: {', '.join(allowed)})")
    return value


def _key(where: str | None, key: str) -> str:
    return f"'{key}'" if where is None else f"'{where}.{key}'"


def _name(d: Mapping[str, Any], where: str | None) -> str:
    if "name" not in d:
        raise ValueError(f"spec: key {_key(where, 'name')} is missing")
    name = d["name"]
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"spec key {_key(where, 'name')}: expected a name of 1 to {MAX_NAME} characters")
    return name


def _text(d: Mapping[str, Any], where: str | None, key: str, default: str, limit: int) -> str:
    value = d.get(key, default)
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"spec key {_key(where, key)}: expected text of at most {limit} characters")
    return value


def _int(d: Mapping[str, Any], where: str | None, key: str, default: int, low: int, high: int) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"spec key {_key(where, key)}: expected an integer from {low} to {high}, got {value!r}"
        )
    return value
