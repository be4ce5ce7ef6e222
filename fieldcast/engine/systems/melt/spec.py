"""The ``melt`` system: laser melting of a plate cross-section with grain growth.

This module holds the system's :class:`~fieldcast.engine.systems.base.SystemSpec` (registered on import),
the solver API re-exported from :mod:`.thermal`, :mod:`.grains` and :mod:`.ipf`, and the scene sampler and
trajectory function that dataset generation calls; the package re-exports all of it.

Per frame a model sees the temperature (K) and the grain orientations as inverse-pole-figure colours of the
sample X (scan), Y (out of plane) and Z (surface normal) directions, three RGB channels each, 0 where the
metal is liquid (state), and the absorbed laser flux on the surface over the next frame interval (control).
"""

from __future__ import annotations

import inspect
from typing import Any

from fieldcast.engine.systems.base import FieldSpec, SystemSpec, register_spec
from fieldcast.engine.systems.melt.grains import GrainField, GrainParams
from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS, ipf_colors, ipf_rgb, random_quaternions
from fieldcast.engine.systems.melt.scenes import (
    MeltScene,
    ScanPass,
    laser_at,
    sample_scene,
    simulate_scene,
    simulate_trajectory,
)
from fieldcast.engine.systems.melt.thermal import (
    Laser,
    Material,
    ThermalParams,
    ThermalSolver,
    melt_pool_size,
    rosenthal_gaussian,
    rosenthal_line,
)

__all__ = [
    "IPF_CHANNELS",
    "MELT_SPEC",
    "GrainField",
    "GrainParams",
    "Laser",
    "Material",
    "MeltScene",
    "ScanPass",
    "ThermalParams",
    "ThermalSolver",
    "check_options",
    "ipf_colors",
    "ipf_rgb",
    "laser_at",
    "melt_pool_size",
    "random_quaternions",
    "rosenthal_gaussian",
    "rosenthal_line",
    "sample_scene",
    "simulate_scene",
    "simulate_trajectory",
    "simulation_parameters",
    "writer_options",
]

_DEFAULTS = {
    k: p.default for k, p in inspect.signature(sample_scene).parameters.items() if p.kind == p.KEYWORD_ONLY
}
_COLORMAPS = {"r": "Reds", "g": "Greens", "b": "Blues"}
_AXIS_NAMES = {"x": "X (scan direction)", "y": "Y (out of the section)", "z": "Z (surface normal)"}


def _ipf_field(name: str) -> FieldSpec:
    _, axis, colour = name.split("_")
    return FieldSpec(
        name,
        role="state",
        units="1",
        colormap=_COLORMAPS[colour],
        description=f"IPF colour ({colour.upper()}) of the crystal direction along sample "
        f"{_AXIS_NAMES[axis]}, cubic symmetry; 0 in liquid",
    )


MELT_SPEC = register_spec(
    SystemSpec(
        name="melt",
        fields=(
            FieldSpec(
                "temperature",
                role="state",
                units="K",
                colormap="inferno",
                description="temperature of the cross-section (x along the scan, y up to the surface)",
            ),
            *(_ipf_field(n) for n in IPF_CHANNELS),
            FieldSpec(
                "laser",
                role="control",
                units="W/m^2",
                colormap="magma",
                description="absorbed laser flux into the surface cells, mean over the next frame interval",
            ),
        ),
        history=3,
        dt=_DEFAULTS["frame_dt"],
        time_units="s",
        kind="rollout",
        description="laser melting of a 316L plate section: enthalpy heat conduction and grain growth",
        metrics=("melt_pool_depth", "melt_pool_width", "front_mse"),
        extra={
            "length_units": "m",
            "cell_size": _DEFAULTS["dx"],
            "solidus": Material().solidus,
            "liquidus": Material().liquidus,
            "ipf_groups": {axis: [f"ipf_{axis}_{c}" for c in "rgb"] for axis in "xyz"},
        },
    )
)


def simulation_parameters(frames: int, size: int, **options: Any) -> dict[str, Any]:
    """The solver settings a dataset generated with these options was made with (for file attributes)."""
    params = {**_DEFAULTS, **options}
    m, t = Material(), ThermalParams()
    return {
        "solver": "fieldcast melt (explicit enthalpy conduction, grain cellular automaton)",
        "frames": frames,
        "size": size,
        "depth": params["depth"] if params["depth"] is not None else max(8, size // 2),
        "dx": params["dx"],
        "frame_dt": params["frame_dt"],
        "power_min": params["power"][0],
        "power_max": params["power"][1],
        "speed_min": params["speed"][0],
        "speed_max": params["speed"][1],
        "radius": params["radius"],
        "absorptivity": params["absorptivity"],
        "density": m.density,
        "specific_heat": m.specific_heat,
        "conductivity": m.conductivity,
        "solidus": m.solidus,
        "liquidus": m.liquidus,
        "latent_heat": m.latent_heat,
        "liquid_conductivity_factor": m.liquid_conductivity_factor,
        "thickness": t.thickness,
        "lateral": t.lateral,
        "ambient": t.ambient,
    }


def writer_options(frames: int, size: int, **options: Any) -> dict[str, Any]:
    """Keyword arguments for the dataset writer: the (size × depth) grid, extent in m, boundary kinds."""
    params = simulation_parameters(frames, size, **options)
    numeric = {k: v for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    nx, ny = size, params["depth"]
    return {
        "grid": (nx, ny),
        "simulation_parameters": numeric,
        "extent": (nx * params["dx"], ny * params["dx"]),
        "boundary_conditions": {"x": "WALL", "y": "WALL"},
        "extra_meta": {"generator": params},
    }


def check_options(**options: Any) -> None:
    """Raise TypeError for an option :func:`simulate_trajectory` does not know, ValueError for a bad value."""
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_DEFAULTS))}")
    for key in ("power", "speed"):
        if key in options:
            lo, hi = options[key]
            if not 0 < lo <= hi:
                raise ValueError(f"{key} must be a range (low, high) with 0 < low <= high")
    for key in ("dx", "frame_dt", "radius"):
        if key in options and not float(options[key]) > 0:
            raise ValueError(f"{key} must be positive")
    if "absorptivity" in options and not 0 < float(options["absorptivity"]) <= 1:
        raise ValueError("absorptivity must be in (0, 1]")
    if options.get("depth") is not None and int(options["depth"]) < 8:
        raise ValueError("depth must be at least 8 cells")
