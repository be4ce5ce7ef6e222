"""The ``thermal-imaging`` system: conditional generation of 2D maps, with two reference data sources.

Radio maps of random cities (:mod:`.city`, the propagation model of :mod:`.radio`) and infrared camera
frames of laser melting (the plan-view melt solver of :mod:`.plate`, the camera of :mod:`.camera`, the runs
and condition maps of :mod:`.ir`). The per-source specs, dataset generation and Play's reference hooks live
in :mod:`.spec` and are re-exported here; importing the package registers the system's spec.
"""

from fieldcast.engine.systems.thermal_imaging.camera import Camera
from fieldcast.engine.systems.thermal_imaging.ir import IR_FIELDS, IRSettings
from fieldcast.engine.systems.thermal_imaging.radio import RadioParams, friis_loss_db, received_power
from fieldcast.engine.systems.thermal_imaging.spec import (
    SOURCES,
    THERMAL_IMAGING_SPEC,
    RadioSettings,
    check_options,
    reference,
    reference_ir_from_path,
    sample_condition,
    simulate_trajectory,
    spec_for,
    writer_options,
)

__all__ = [
    "IR_FIELDS",
    "SOURCES",
    "THERMAL_IMAGING_SPEC",
    "Camera",
    "IRSettings",
    "RadioParams",
    "RadioSettings",
    "check_options",
    "friis_loss_db",
    "received_power",
    "reference",
    "reference_ir_from_path",
    "sample_condition",
    "simulate_trajectory",
    "spec_for",
    "writer_options",
]
