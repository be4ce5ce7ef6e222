"""The ``stress`` system: von Mises stress in periodic J2 polycrystals pulled in uniaxial tension.

Frame ``k`` of a trajectory is the cell after ``k`` load increments of ``dt`` seconds (frame 0 is the unloaded
cell): ``F11 = 1 + 1e-3 k dt`` with ``dt = 0.2`` s, so frame 20 sits at ``F11 = 1.004``. The
surrogate's state is the von Mises stress; the four material maps are controls, constant along a trajectory.
The stress tensor components are stored beside it for analysis. Stresses are in MPa, E and h0 in GPa.

Splits are by microstructure (80/20, seeded); frames with ``F11`` beyond 1.004 are kept out of training and
validation, and those of the validation microstructures form the ``test`` split, the extrapolation split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldcast.engine.systems.base import FieldSpec, SystemSpec, register_spec
from fieldcast.engine.systems.stress.fft_solver import LoadPath, SpectralJ2Solver
from fieldcast.engine.systems.stress.j2 import J2Material
from fieldcast.engine.systems.stress.microstructure import (
    KINDS,
    Microstructure,
    material_maps,
    sample_microstructure,
)

__all__ = [
    "DT",
    "STRESS_SPEC",
    "TRAIN_STRAIN_LIMIT",
    "check_options",
    "microstructure_fields",
    "simulate_microstructure",
    "simulate_trajectory",
    "split_recipe",
    "writer_options",
]

TRAIN_STRAIN_LIMIT = 0.004  # F11 - 1 up to which frames train and validate
_DEFAULTS: dict[str, Any] = {
    "grains": 10,
    "microstructure": "voronoi",
    "contrast": None,
    "fraction": 0.2,
}
DT = 0.2  # s per load increment
_STRESS_COMPONENTS = (("sigma_xx", 0), ("sigma_yy", 1), ("sigma_xy", 2), ("sigma_zz", 3))
# Material maps as stored (GPa for moduli) from solver units (MPa).
_STORED = (("E", 1e-3), ("nu", 1.0), ("xi0", 1.0), ("h0", 1e-3))

STRESS_SPEC = register_spec(
    SystemSpec(
        name="stress",
        fields=(
            FieldSpec("sigma_vM", "state", units="MPa", colormap="inferno", description="von Mises stress"),
            *(
                FieldSpec(name, "state", units="MPa", colormap="RdBu_r", description=f"stress {name[-2:]}")
                for name, _ in _STRESS_COMPONENTS
            ),
            FieldSpec("E", "control", units="GPa", colormap="viridis", description="Young's modulus"),
            FieldSpec("nu", "control", units="1", colormap="viridis", description="Poisson's ratio"),
            FieldSpec("xi0", "control", units="MPa", colormap="viridis", description="initial flow stress"),
            FieldSpec("h0", "control", units="GPa", colormap="viridis", description="hardening modulus"),
        ),
        history=1,
        dt=DT,
        time_units="s",
        kind="rollout",
        description="J2 elasto-viscoplastic polycrystal in uniaxial tension, FFT solver; sigma_vM in MPa",
        metrics=("mae_mpa",),
        extra={
            "load": "F11 = 1 + 1e-3 t (1/s), mean s22 = s12 = s33 = 0",
            "strain_rate": 1e-3,
            "train_strain_limit": TRAIN_STRAIN_LIMIT,
            "extrapolation_split": "test",
            "error_units": "MPa",
        },
    )
)


def check_options(**options: Any) -> None:
    """Raise TypeError for an unknown option, ValueError for a bad value."""
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_DEFAULTS))}")
    grains = options.get("grains", 10)
    values = grains if isinstance(grains, (list, tuple)) else [grains]
    if len(values) not in (1, 2) or not all(isinstance(g, int) and 1 <= g <= 1000 for g in values):
        raise ValueError(f"grains must be a count from 1 to 1000 or a range [low, high], got {grains!r}")
    if len(values) == 2 and values[0] > values[1]:
        raise ValueError(f"grains range {grains!r}: low is above high")
    if options.get("microstructure", "voronoi") not in KINDS:
        raise ValueError(f"microstructure must be one of {', '.join(KINDS)}")
    contrast = options.get("contrast")
    if contrast is not None and not (isinstance(contrast, (int, float)) and contrast >= 1.0):
        raise ValueError(f"contrast must be a number >= 1, got {contrast!r}")
    if not 0.0 < float(options.get("fraction", 0.2)) < 1.0:
        raise ValueError("fraction must be in (0, 1)")


def microstructure_fields(micro: Microstructure) -> dict[str, np.ndarray]:
    """The four control maps of a microstructure in stored units (GPa, -, MPa, GPa), ``(nx, ny)`` each."""
    maps = material_maps(micro)
    return {name: (maps[name] * scale).astype(np.float32) for name, scale in _STORED}


def simulate_microstructure(micro: Microstructure, frames: int, dt: float = DT) -> dict[str, np.ndarray]:
    """Load ``micro`` for ``frames - 1`` increments; fields ``(frames, nx, ny)`` float32, frame 0 unloaded."""
    maps = material_maps(micro)
    solver = SpectralJ2Solver(J2Material(**maps), LoadPath(dt=dt))
    nx, ny = micro.grains.shape
    out = {name: np.zeros((frames, nx, ny), np.float32) for name in STRESS_SPEC.channel_names()}
    for k in range(1, frames):
        res = solver.step()
        out["sigma_vM"][k] = res.von_mises
        for name, j in _STRESS_COMPONENTS:
            out[name][k] = res.stress[j]
    for name, value in microstructure_fields(micro).items():
        out[name][:] = value
    return out


def simulate_trajectory(seed, frames: int, size: int, **options: Any) -> dict[str, np.ndarray]:
    """One microstructure drawn from ``seed`` and its stress fields over ``frames`` frames."""
    params = {**_DEFAULTS, **options}
    rng = np.random.default_rng(seed)
    micro = sample_microstructure(
        rng,
        (size, size),
        kind=params["microstructure"],
        grains=params["grains"],
        contrast=params["contrast"],
        fraction=params["fraction"],
    )
    return simulate_microstructure(micro, frames)


def split_recipe(n_trajectories: int, n_frames: int, dt: float = DT, seed: int = 0) -> dict:
    """80/20 by microstructure up to ``F11 = 1.004``; later frames of the validation ones are ``test``."""
    order = np.random.default_rng(seed).permutation(n_trajectories)
    n_valid = max(1, int(round(0.2 * n_trajectories))) if n_trajectories >= 2 else 0
    valid = set(order[:n_valid].tolist())
    last = int(np.floor(TRAIN_STRAIN_LIMIT / (1e-3 * dt) + 1e-9))  # frame at the limit
    stop = min(n_frames, last + 1)
    segments: dict[str, list[list[int]]] = {"train": [], "valid": [], "test": []}
    for i in range(n_trajectories):
        segments["valid" if i in valid else "train"].append([i, 0, stop])
        if i in valid and n_frames > stop:
            segments["test"].append([i, last, n_frames])
    return {"method": "explicit", "segments": segments, "note": "by microstructure 80/20; test = F11 > 1.004"}


def writer_options(frames: int, size: int, **options: Any) -> dict[str, Any]:
    """Dataset writer arguments: periodic boundaries, the time step, the solver settings and the split."""
    params = {**_DEFAULTS, **options}
    dt = DT
    numeric = {
        "strain_rate": 1e-3,
        "increment_dt": dt,
        "gamma_dot0": 1e-3,
        "rate_exponent": 20.0,
    }
    return {
        "grid": (size, size),
        "simulation_parameters": numeric,
        "extent": (1.0, 1.0),
        "boundary_conditions": {"x": "PERIODIC", "y": "PERIODIC"},
        "extra_meta": {
            "generator": {
                "solver": "fieldcast stress (small-strain FFT Galerkin, rotated scheme, J2 viscoplasticity)",
                "frames": frames,
                "size": size,
                **{k: v for k, v in params.items()},
            }
        },
        "split": split_recipe,
    }
