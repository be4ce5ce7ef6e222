"""Physical systems: one module per system with its spec, reference solver and scenario sampler."""

from fieldcast.engine.systems.base import (
    Channel,
    FieldSpec,
    SystemSpec,
    get_spec,
    register_spec,
    system_names,
)

__all__ = ["Channel", "FieldSpec", "SystemSpec", "get_spec", "register_spec", "system_names"]
