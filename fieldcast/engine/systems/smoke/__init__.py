"""The ``smoke`` system: 2D incompressible buoyant smoke with emitters and colliders.

A MAC-grid reference solver (:mod:`.solver`) with semi-Lagrangian / MacCormack advection (:mod:`.advect`)
and a pressure projection around solid obstacles (:mod:`.pressure`), a scene sampler for dataset generation
(:mod:`.scenes`), and the hooks Play uses to impose painted controls (:mod:`.play`). The spec and the public
solver API live in :mod:`.spec` and are re-exported here; importing the package registers the spec.
"""

from fieldcast.engine.systems.smoke.spec import (
    SMOKE_SPEC,
    Emitter,
    SmokeControls,
    SmokeParams,
    SmokeScene,
    SmokeSolver,
    SmokeState,
    check_options,
    sample_scene,
    simulate_trajectory,
    simulation_parameters,
    writer_options,
)

__all__ = [
    "Emitter",
    "SMOKE_SPEC",
    "SmokeControls",
    "SmokeParams",
    "SmokeScene",
    "SmokeSolver",
    "SmokeState",
    "check_options",
    "sample_scene",
    "simulate_trajectory",
    "simulation_parameters",
    "writer_options",
]
