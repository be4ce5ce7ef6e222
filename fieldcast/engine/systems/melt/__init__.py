"""The ``melt`` system: laser melting of a plate cross-section with grain growth.

A heat-conduction solver with a moving Gaussian laser and latent heat (:mod:`.thermal`), a grain automaton
for nucleation and epitaxial growth (:mod:`.grains`), inverse-pole-figure colouring of grain orientations
(:mod:`.ipf`), a scan-path scene sampler (:mod:`.scenes`) and Play's control hooks (:mod:`.play`). The spec
and the public API live in :mod:`.spec` and are re-exported here; importing the package registers the spec.
"""

from fieldcast.engine.systems.melt import report as _report  # noqa: F401  (registers its report pictures)
from fieldcast.engine.systems.melt.spec import (
    IPF_CHANNELS,
    MELT_SPEC,
    GrainField,
    GrainParams,
    Laser,
    Material,
    MeltScene,
    ScanPass,
    ThermalParams,
    ThermalSolver,
    check_options,
    ipf_colors,
    ipf_rgb,
    laser_at,
    melt_pool_size,
    random_quaternions,
    rosenthal_gaussian,
    rosenthal_line,
    sample_scene,
    simulate_scene,
    simulate_trajectory,
    simulation_parameters,
    writer_options,
)

__all__ = [
    "GrainField",
    "GrainParams",
    "IPF_CHANNELS",
    "Laser",
    "MELT_SPEC",
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
