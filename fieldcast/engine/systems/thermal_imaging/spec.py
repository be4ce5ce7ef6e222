"""The ``thermal-imaging`` system: conditional generation of 2D maps from condition maps, two data sources.

- ``radio``: a city's building mask and a transmitter blob (conditioning) -> received power in dBm (state),
  from the propagation model of :mod:`.radio` over the random cities of :mod:`.city`. A trajectory is one
  city; its frames are ``frames`` transmitter positions in it.
- ``ir``: the laser now, the laser over the last frames, the scan path so far and the plate's surface map
  (conditioning) -> the infrared camera's normalised reading (state), from the plan-view melt solver and the
  camera model of :mod:`.ir`. A trajectory is one scan; its frames are ``frame_dt`` apart.

Each source has its own spec (:func:`spec_for`), which the dataset file carries; the registered spec of the
system is the radio one. The shipped models' data were made with::

    fieldcast generate thermal-imaging --source radio --trajectories 600 --frames 8 --size 64 --seed 41 \\
        --workers 1 --out radio64.h5
    fieldcast generate thermal-imaging --source ir --trajectories 200 --frames 12 --size 64 --seed 42 \\
        --workers 1 --out ir64.h5
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from fieldcast.engine.systems.base import FieldSpec, SystemSpec, register_spec
from fieldcast.engine.systems.thermal_imaging.city import (
    place_transmitters,
    sample_city,
    transmitter_map,
    transmitter_position,
)
from fieldcast.engine.systems.thermal_imaging.ir import (
    IR_FIELDS,
    IRSettings,
    ir_from_path,
    sample_ir_run,
    simulate_ir,
)
from fieldcast.engine.systems.thermal_imaging.radio import RadioParams, received_power

__all__ = [
    "SOURCES",
    "THERMAL_IMAGING_SPEC",
    "RadioSettings",
    "check_options",
    "reference",
    "reference_ir_from_path",
    "sample_condition",
    "simulate_trajectory",
    "spec_for",
    "writer_options",
]

SOURCES = ("ir", "radio")
NAME = "thermal-imaging"


@dataclass(frozen=True)
class RadioSettings(RadioParams):
    """Every knob of the radio source: the propagation model's constants (:class:`RadioParams`) and the
    city sampler's ranges."""

    density: tuple[float, float] = (0.1, 0.45)
    footprint: tuple[float, float] = (0.05, 0.2)
    street: int = 1

    @classmethod
    def from_options(cls, **options: Any) -> RadioSettings:
        """Defaults with ``options`` replaced; TypeError for an unknown key, ValueError for a bad value."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"unknown radio option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        settings = replace(cls(), **{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
        for key in ("frequency", "cell_size", "min_distance"):
            if not float(getattr(settings, key)) > 0:
                raise ValueError(f"radio option {key} must be positive")
        for key in ("indoor_loss", "reflection_loss"):
            if not float(getattr(settings, key)) >= 0:
                raise ValueError(f"radio option {key} must be >= 0")
        if settings.wall_loss is not None and not float(settings.wall_loss) >= 0:
            raise ValueError("radio option wall_loss must be >= 0 (or null for 5 + 4 f_GHz)")
        for key in ("density", "footprint"):
            lo, hi = getattr(settings, key)
            if not 0 <= lo <= hi < 1:
                raise ValueError(f"radio option {key} must be a range [low, high] within [0, 1)")
        if not isinstance(settings.street, int) or settings.street < 0:
            raise ValueError("radio option street must be a whole number of cells >= 0")
        if not isinstance(settings.reflections, bool):
            raise ValueError("radio option reflections must be true or false")
        return settings

    @property
    def params(self) -> RadioParams:
        names = {f.name for f in fields(RadioParams)}
        return RadioParams(**{k: v for k, v in asdict(self).items() if k in names})


def _radio_spec(settings: RadioSettings) -> SystemSpec:
    p = settings.params
    return SystemSpec(
        name=NAME,
        fields=(
            FieldSpec(
                "buildings", "conditioning", units="1", colormap="gray", description="1 inside a building"
            ),
            FieldSpec(
                "transmitter",
                "conditioning",
                units="1",
                colormap="magma",
                description="Gaussian blob of peak 1 at the transmitter",
            ),
            FieldSpec(
                "power_db",
                "state",
                units="dBm",
                colormap="viridis",
                description="received power: Friis + wall penetration + one reflection, floored at the noise",
            ),
        ),
        history=1,
        dt=1.0,
        time_units="transmitter",
        kind="generative",
        description="radio map of a city from its building layout and a transmitter (propagation model)",
        metrics=("nmse", "rmse", "ssim", "psnr"),
        extra={
            "source": "radio",
            "frequency": p.frequency,
            "cell_size": p.cell_size,
            "length_units": "m",
            "tx_power": p.tx_power,
            "wall_loss": p.wall_loss_db,
            "indoor_loss": p.indoor_loss,
            "reflection_loss": p.reflection_loss,
            "reflections": p.reflections,
            "noise_floor": p.noise_floor,
        },
    )


def _ir_spec(settings: IRSettings) -> SystemSpec:
    return SystemSpec(
        name=NAME,
        fields=(
            FieldSpec(
                "laser",
                "conditioning",
                units="W",
                colormap="magma",
                description="laser spot now, P exp(-2r²/R²)",
            ),
            FieldSpec(
                "laser_recent",
                "conditioning",
                units="W",
                colormap="magma",
                description="laser spot over the last frames, halved per frame of age",
            ),
            FieldSpec(
                "scan_path",
                "conditioning",
                units="1",
                colormap="gray",
                description="1 where the beam has passed",
            ),
            FieldSpec(
                "material",
                "conditioning",
                units="1",
                colormap="cividis",
                description="plate surface: 0 bright metal, 1 oxidised (higher emissivity)",
            ),
            FieldSpec(
                "ir",
                "state",
                units="1",
                colormap="inferno",
                description="infrared camera reading, 0..1 of the full well (1 = saturated)",
            ),
        ),
        history=1,
        dt=float(settings.frame_dt),
        time_units="s",
        kind="generative",
        description="infrared camera frames of laser melting: plan-view melt solver and a camera model",
        metrics=("nmse", "rmse", "ssim", "psnr"),
        extra={
            "source": "ir",
            "pixel_size": settings.dx * settings.factor,
            "length_units": "m",
            "radiance_model": settings.radiance_model,
            "eps_bright": settings.eps_bright,
            "eps_oxide": settings.eps_oxide,
            "eps_liquid": settings.eps_liquid,
            "full_well_temperature": settings.full_well_temperature,
        },
    )


def _split(options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    opts = dict(options)
    source = opts.pop("source", "radio")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return source, opts


def _settings(source: str, options: dict[str, Any]) -> RadioSettings | IRSettings:
    return RadioSettings.from_options(**options) if source == "radio" else IRSettings.from_options(**options)


def spec_for(source: str, **options: Any) -> SystemSpec:
    """The spec of ``source`` (``"ir"`` or ``"radio"``); generation ``options`` fill its ``extra``."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    settings = _settings(source, options)
    return _radio_spec(settings) if source == "radio" else _ir_spec(settings)  # type: ignore[arg-type]


THERMAL_IMAGING_SPEC = register_spec(spec_for("radio"))


def check_options(**options: Any) -> None:
    """Raise TypeError for an unknown option, ValueError for a bad value (``source`` defaults to radio)."""
    source, opts = _split(options)
    _settings(source, opts)


def _radio_trajectory(
    rng: np.random.Generator, frames: int, size: int, s: RadioSettings
) -> dict[str, np.ndarray]:
    buildings = sample_city(rng, size, s.density, s.footprint, s.street)
    out = {
        "buildings": np.broadcast_to(buildings, (frames, size, size)).astype(np.float32),
        "transmitter": np.zeros((frames, size, size), np.float32),
        "power_db": np.zeros((frames, size, size), np.float32),
    }
    for k, tx in enumerate(place_transmitters(rng, buildings, frames)):
        out["transmitter"][k] = transmitter_map((size, size), tx)
        out["power_db"][k] = received_power(buildings, tx, s.params)
    return out


def simulate_trajectory(seed, frames: int, size: int, **options: Any) -> dict[str, np.ndarray]:
    """One trajectory of the source named by ``options["source"]`` (radio by default), float32 fields."""
    source, opts = _split(options)
    settings = _settings(source, opts)
    rng = np.random.default_rng(seed)
    if source == "radio":
        return _radio_trajectory(rng, frames, size, settings)  # type: ignore[arg-type]
    run = sample_ir_run(rng, size, frames, settings)  # type: ignore[arg-type]
    return simulate_ir(run, frames, rng)


def writer_options(frames: int, size: int, **options: Any) -> dict[str, Any]:
    """Dataset writer arguments: the source's spec, the grid's extent in m and the settings as attributes."""
    source, opts = _split(options)
    settings = _settings(source, opts)
    values = asdict(settings)
    numeric = {
        k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if source == "radio":
        pitch = settings.cell_size  # type: ignore[union-attr]
        dt = 1.0
    else:
        pitch = settings.dx * settings.factor  # type: ignore[union-attr]
        dt = settings.frame_dt  # type: ignore[union-attr]
    return {
        "spec": spec_for(source, **opts),
        "grid": (size, size),
        "dt": dt,
        "simulation_parameters": numeric,
        "extent": (size * pitch, size * pitch),
        "boundary_conditions": {"x": "OPEN", "y": "OPEN"},
        "extra_meta": {"generator": {"source": source, "frames": frames, "size": size, **values}},
    }


# Play: references and random conditions ------------------------------------------------------------------


def reference(source: str, condition: dict[str, np.ndarray], **options: Any) -> np.ndarray:
    """The target map ``(nx, ny)`` float32 the reference generator gives for a condition.

    radio: ``condition`` holds ``buildings`` (> 0.5 inside) and ``transmitter`` (the transmitter stands at
    its peak's cell); ``options`` are radio settings. ir: a camera frame depends on the whole scan history,
    which the condition maps do not hold; use :func:`reference_ir_from_path`.
    """
    if source == "ir":
        raise ValueError(
            "an infrared frame depends on the scan's history, not only on its condition maps: "
            "use reference_ir_from_path(path, power, speed, size, seed)"
        )
    if source != "radio":
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    missing = [k for k in ("buildings", "transmitter") if k not in condition]
    if missing:
        raise ValueError(f"the radio condition lacks {', '.join(missing)}")
    buildings = np.asarray(condition["buildings"], float)
    tmap = np.asarray(condition["transmitter"], float)
    if buildings.ndim != 2 or buildings.shape != tmap.shape:
        raise ValueError(f"buildings {buildings.shape} and transmitter {tmap.shape} must be equal 2D maps")
    if not np.isfinite(buildings).all():
        raise ValueError("the buildings map holds NaN or infinite values")
    tx = transmitter_position(tmap)
    settings = RadioSettings.from_options(**options)
    return received_power(buildings, tx, settings.params).astype(np.float32)


def reference_ir_from_path(
    path_points, power: float, speed: float, size: int, seed: int = 0, **options: Any
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Condition maps and camera frame at the end of a laser scan along a drawn path.

    ``path_points``: ``(N, 2)`` polyline in sensor pixels (x, y) of a ``size`` × ``size`` frame; ``power``
    in W, ``speed`` in mm/s; ``seed`` draws the sensor noise; ``options`` are ir settings. The plate is
    bare metal. The solver covers at most the path's last 8 cooling time constants (8 ms for the default
    plate, a few seconds on one core); earlier parts of the path only mark the scan path.
    Returns ``(condition, target)``: the four conditioning maps and the ``ir`` frame, ``(size, size)``.
    """
    settings = IRSettings.from_options(**options)
    pts = np.asarray(path_points, float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2 or not np.isfinite(pts).all():
        raise ValueError("the laser path must be two or more finite (x, y) points")
    if not (power > 0 and speed > 0):
        raise ValueError(f"power and speed must be positive, got {power} W and {speed} mm/s")
    out = ir_from_path(
        pts, float(power), float(speed) * 1e-3, int(size), np.random.default_rng(seed), settings
    )
    condition = {name: out[name][0] for name in IR_FIELDS if name != "ir"}
    return condition, out["ir"][0]


def sample_condition(
    source: str, rng: np.random.Generator, size: int, **options: Any
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A random condition as the generator draws them, and its target: ``(condition dict, (size, size))``."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    fields_ = simulate_trajectory(rng, 1, size, source=source, **options)
    spec = spec_for(source, **options)
    target = spec.fields_with_role("state")[0].name
    condition = {f.name: fields_[f.name][0] for f in spec.fields_with_role("conditioning")}
    return condition, fields_[target][0]
