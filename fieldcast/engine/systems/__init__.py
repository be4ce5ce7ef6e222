"""Physical systems: one package per system with its spec, reference solver and scenario sampler."""

from fieldcast.engine.systems.base import (
    Channel,
    FieldSpec,
    SystemSpec,
    get_spec,
    register_spec,
    resolve_spec,
    spec_from_dict,
    spec_to_dict,
    system_names,
)

__all__ = [
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
