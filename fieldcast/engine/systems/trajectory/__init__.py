"""The ``trajectory`` system: where a 3D printer deviates from its G-code path.

G-code parsing (:mod:`.gcode`), parametric toolpaths (:mod:`.paths`), a firmware-style motion planner
(:mod:`.planner`) and belt-compliant axis dynamics (:mod:`.dynamics`). The spec, the machine model and the
dataset writer live in :mod:`.spec` and are re-exported here; importing the package registers the spec.
"""

from fieldcast.engine.systems.trajectory import report as _report  # noqa: F401  (registers its report pictures)
from fieldcast.engine.systems.trajectory.spec import (
    INPUTS,
    OUT_HZ,
    PROFILE,
    SHAPERS,
    TARGETS,
    TRAJECTORY_SPEC,
    AxisParams,
    Machine,
    MotionLimits,
    check_options,
    iter_simulate_toolpath,
    iter_write_dataset,
    sample_machine,
    simulate_toolpath,
    simulate_trajectory,
    writer_options,
)

__all__ = [
    "AxisParams",
    "INPUTS",
    "Machine",
    "MotionLimits",
    "OUT_HZ",
    "PROFILE",
    "SHAPERS",
    "TARGETS",
    "TRAJECTORY_SPEC",
    "check_options",
    "iter_simulate_toolpath",
    "iter_write_dataset",
    "sample_machine",
    "simulate_toolpath",
    "simulate_trajectory",
    "writer_options",
]
