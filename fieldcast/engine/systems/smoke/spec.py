"""The ``smoke`` system: 2D incompressible buoyant smoke with emitters and colliders.

This module holds the system's :class:`~fieldcast.engine.systems.base.SystemSpec` (registered on import),
the solver API re-exported from :mod:`.solver`, and the scene sampler and trajectory function that dataset
generation calls; the package re-exports all of it.

A model sees, per frame, density and cell-centred velocity (state, two frames of history) plus the emitter
and collider masks (controls), as in the original smoke surrogate's six input channels.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from fieldcast.engine.systems.base import FieldSpec, SystemSpec, register_spec
from fieldcast.engine.systems.smoke.pressure import parse_boundary
from fieldcast.engine.systems.smoke.scenes import Emitter, SmokeScene, sample_scene, simulate_trajectory
from fieldcast.engine.systems.smoke.solver import SmokeControls, SmokeParams, SmokeSolver, SmokeState

__all__ = [
    "SMOKE_SPEC",
    "Emitter",
    "SmokeControls",
    "SmokeParams",
    "SmokeScene",
    "SmokeSolver",
    "SmokeState",
    "sample_scene",
    "simulate_trajectory",
    "EMITTER_RATE_FIELD",
    "check_options",
    "dataset_spec",
    "simulation_parameters",
    "writer_options",
]

SMOKE_SPEC = register_spec(
    SystemSpec(
        name="smoke",
        fields=(
            FieldSpec(
                "density",
                role="state",
                units="1",
                colormap="inferno",
                description="smoke concentration at cell centres, 0 (clear) to 1 (emitter saturation)",
            ),
            FieldSpec(
                "velocity",
                role="state",
                order=1,
                units="cells/frame",
                colormap="coolwarm",
                description="flow velocity at cell centres (mean of the MAC faces), x right and y up",
            ),
            FieldSpec(
                "emitter",
                role="control",
                units="1",
                colormap="viridis",
                description="emitter mask in [0, 1]: smoke and velocity are injected where it is positive",
            ),
            FieldSpec(
                "collider",
                role="control",
                units="1",
                colormap="gray",
                description="collider mask: 1 in solid cells (no flow through, no smoke inside)",
            ),
        ),
        history=2,
        dt=1.0,
        time_units="frame",
        kind="rollout",
        description="2D incompressible buoyant smoke (MAC grid, MacCormack advection, exact projection)",
        metrics=("divergence_norm", "kinetic_energy", "collider_violation", "total_smoke"),
        extra={"length_units": "cells", "velocity_location": "cell centres"},
    )
)


#: Stored with ``--set store_rate=true``: the emitters' injection rate as a control, so a model can see how
#: fast each emitter makes smoke (Play hands it the painted rate). It sits before the masks, so the
#: emitter and collider stay the last two input channels.
EMITTER_RATE_FIELD = FieldSpec(
    "emitter_rate",
    role="control",
    units="1/frame",
    colormap="viridis",
    description="density an emitter adds per frame where its mask is 1 (0 outside emitters)",
)


def dataset_spec(**options: Any) -> SystemSpec:
    """The spec of a dataset generated with ``options``: the system's, plus the emitter rate when stored."""
    if not options.get("store_rate", False):
        return SMOKE_SPEC
    fields = list(SMOKE_SPEC.fields)
    at = next(i for i, f in enumerate(fields) if f.name == "emitter")
    return replace(SMOKE_SPEC, fields=tuple(fields[:at] + [EMITTER_RATE_FIELD] + fields[at:]))


def simulation_parameters(frames: int, size: int, **options: Any) -> dict[str, Any]:
    """The solver settings a dataset generated with these options was made with (for file attributes)."""
    scene_keys = (
        "vorticity",
        "buoyancy",
        "viscosity",
        "boundary",
        "advection",
        "empty_fraction",
        "collider_fraction",
    )
    defaults = SmokeParams()
    params: dict[str, Any] = {
        "solver": "fieldcast smoke (MAC grid, exact sparse projection)",
        "frames": frames,
        "size": size,
        "warmup": options.get("warmup", 0),
        "stride": options.get("stride", 1),
        "impose_emitters": bool(options.get("impose_emitters", False)),
        "store_rate": bool(options.get("store_rate", False)),
        "vorticity": defaults.vorticity,
        "buoyancy": 0.03 * size / 128.0,
        "viscosity": defaults.viscosity,
        "boundary": defaults.boundary,
        "advection": defaults.advection,
    }
    params.update({k: v for k, v in options.items() if k in scene_keys and v is not None})
    return params


def writer_options(frames: int, size: int, **options: Any) -> dict[str, Any]:
    """Keyword arguments for the dataset writer: numeric parameters, extent in cells, boundary kinds."""
    params = simulation_parameters(frames, size, **options)
    numeric = {k: v for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    open_sides = parse_boundary(params["boundary"])
    # The Well records one kind per axis; an axis with any open side is reported open.
    bcs = {"x": "OPEN" if any(open_sides[:2]) else "WALL", "y": "OPEN" if any(open_sides[2:]) else "WALL"}
    return {
        "spec": dataset_spec(**options),
        "dt": float(params["stride"]),  # frames between stored frames
        "simulation_parameters": numeric,
        "extent": (float(size), float(size)),
        "boundary_conditions": bcs,
        "extra_meta": {"generator": params},
    }


def check_options(**options: Any) -> None:
    """Raise TypeError for an option :func:`simulate_trajectory` does not know, ValueError for a bad value."""
    known = set(inspect.signature(sample_scene).parameters) - {"rng", "size"} | {
        "warmup",
        "stride",
        "impose_emitters",
        "store_rate",
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if int(options.get("warmup", 0)) < 0:
        raise ValueError("warmup must be 0 or more frames")
    if int(options.get("stride", 1)) < 1:
        raise ValueError("stride must be 1 or more frames")
    for key in ("impose_emitters", "store_rate"):
        if not isinstance(options.get(key, False), bool):
            raise ValueError(f"{key} must be true or false")
    for key in ("empty_fraction", "collider_fraction"):
        if key in options and not 0.0 <= float(options[key]) <= 1.0:
            raise ValueError(f"{key} must be between 0 and 1")
    params = {k: options[k] for k in ("vorticity", "viscosity", "boundary", "advection") if k in options}
    SmokeParams(**params)  # validates boundary and advection names
