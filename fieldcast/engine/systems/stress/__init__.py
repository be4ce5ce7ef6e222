"""The ``stress`` system: von Mises stress fields of periodic J2 polycrystals in uniaxial tension.

A small-strain spectral (FFT Galerkin) solver (:mod:`.fft_solver`) over a backward-Euler J2
elasto-viscoplastic update (:mod:`.j2`), periodic Voronoi and inclusion microstructures with per-grain
properties (:mod:`.microstructure`), and the spec, trajectory function and splits used by dataset generation
(:mod:`.spec`). Importing the package registers the spec.
"""

from fieldcast.engine.systems.stress.fft_solver import IncrementResult, LoadPath, SpectralJ2Solver
from fieldcast.engine.systems.stress.j2 import GAMMA_DOT0, RATE_EXPONENT, J2Material, von_mises
from fieldcast.engine.systems.stress.microstructure import (
    RANGES,
    Microstructure,
    circular_inclusion,
    material_maps,
    sample_microstructure,
    sample_properties,
    square_inclusion,
    voronoi,
)
from fieldcast.engine.systems.stress.spec import (
    DT,
    STRESS_SPEC,
    TRAIN_STRAIN_LIMIT,
    check_options,
    microstructure_fields,
    simulate_microstructure,
    simulate_trajectory,
    split_recipe,
    writer_options,
)

__all__ = [
    "DT",
    "GAMMA_DOT0",
    "RANGES",
    "RATE_EXPONENT",
    "STRESS_SPEC",
    "TRAIN_STRAIN_LIMIT",
    "IncrementResult",
    "J2Material",
    "LoadPath",
    "Microstructure",
    "SpectralJ2Solver",
    "check_options",
    "circular_inclusion",
    "material_maps",
    "microstructure_fields",
    "sample_microstructure",
    "sample_properties",
    "simulate_microstructure",
    "simulate_trajectory",
    "split_recipe",
    "square_inclusion",
    "voronoi",
    "von_mises",
    "writer_options",
]
