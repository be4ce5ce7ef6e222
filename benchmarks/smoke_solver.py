"""Benchmark: Fieldcast's smoke solver against PhiFlow 3.4 on the same plume scene.

Scene: 128 × 128 closed box, a disc emitter (radius 8 cells) near the floor blowing upwards, a disc collider
(radius 12 cells) in the plume's path, buoyancy 0.03 cells/frame² per unit density, MacCormack advection of
density and velocity, dt = 1 frame, no vorticity confinement (PhiFlow has none built in). PhiFlow runs on its
numpy backend in float64 (its closed-box pressure solve needs it) with scipy conjugate gradients to 1e-5.

Both divergences are measured with one stencil (:func:`fieldcast.engine.metrics.divergence_norm`, the RMS
central-difference divergence of the cell-centred velocity, fluid cells and colliders alike); the face
divergence each solver's own projection drives to zero is printed beside it.

Run: ``python benchmarks/smoke_solver.py [--steps N] [--warmup N] [--size N]``. The last line is
``RESULT fieldcast_ms=... phiflow_ms=... speedup=... fieldcast_div=... phiflow_div=...``.
PhiFlow is a benchmark-only dependency (``pip install "phiflow==3.4.0"``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from fieldcast.engine.metrics import divergence_norm
from fieldcast.engine.systems.smoke import SmokeControls, SmokeParams, SmokeSolver, SmokeState
from fieldcast.engine.systems.smoke.scenes import disc_mask

BUOYANCY = 0.03
RATE = 0.2  # density per frame inside the emitter
JET = 0.5  # emitter velocity, cells/frame upwards


def scene(n: int) -> dict:
    s = n / 128
    return {"emitter": ((n / 2, 15 * s), 8 * s), "collider": ((n / 2, 70 * s), 12 * s)}


def run_fieldcast(n: int, warmup: int, steps: int) -> tuple[list[float], float, float, np.ndarray]:
    geo = scene(n)
    solver = SmokeSolver(n, n, SmokeParams(boundary="closed", buoyancy=BUOYANCY, vorticity=0.0))
    emitter = disc_mask(n, n, *geo["emitter"])
    collider = (disc_mask(n, n, *geo["collider"]) > 0.5).astype(float)
    controls = SmokeControls(emitter, collider, emitter_rate=RATE, emitter_velocity=(0.0, JET))
    state = SmokeState.zeros(n, n)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        state = solver.step(state, controls)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    vel = state.velocity()
    face = float(np.abs(solver.divergence(state)).max())
    return times, float(divergence_norm(vel[..., 0], vel[..., 1])), face, state.density


def run_phiflow(
    n: int, warmup: int, steps: int, method: str = "scipy-CG", tol: float = 1e-5
) -> tuple[list[float], float, float, np.ndarray]:
    from phi import math
    from phi.field import divergence, resample
    from phi.flow import Box, CenteredGrid, Obstacle, Solve, Sphere, StaggeredGrid, advect, fluid, vec

    math.set_global_precision(64)
    geo = scene(n)
    bounds = Box(x=n, y=n)
    # Fieldcast's cell i has its centre at i; PhiFlow's at i + 0.5: shift the shapes to the same cells.
    (ex, ey), er = geo["emitter"]
    (cx, cy), cr = geo["collider"]
    emitter = CenteredGrid(Sphere(vec(x=ex + 0.5, y=ey + 0.5), radius=er), 0, bounds, x=n, y=n)
    emitter_faces = resample(emitter, to=StaggeredGrid(0, 0, bounds, x=n, y=n))
    obstacle = Obstacle(Sphere(vec(x=cx + 0.5, y=cy + 0.5), radius=cr))
    smoke = CenteredGrid(0, 0, bounds, x=n, y=n)
    velocity = StaggeredGrid(0, 0, bounds, x=n, y=n)  # zero velocity outside: a closed box
    jet = StaggeredGrid(vec(x=0, y=JET), 0, bounds, x=n, y=n)
    pressure = None
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        smoke = advect.mac_cormack(smoke, velocity, dt=1.0) + emitter * RATE
        velocity = advect.mac_cormack(velocity, velocity, dt=1.0)
        velocity = velocity + resample(smoke * vec(x=0, y=BUOYANCY), to=velocity)
        velocity = velocity * (1 - emitter_faces) + jet * emitter_faces
        # Conjugate gradients warm-started from the last pressure, as in PhiFlow's smoke demos; the closed
        # box leaves the pressure defined up to a constant, which PhiFlow detects itself.
        solve = Solve(method, rel_tol=tol, abs_tol=tol, x0=pressure, max_iterations=5000)
        velocity, pressure = fluid.make_incompressible(velocity, (obstacle,), solve)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    centred = velocity.at_centers().values.numpy("x,y,vector")
    solid = disc_mask(n, n, *geo["collider"]) > 0.5
    face_div = divergence(velocity, order=2).values.numpy("x,y")
    face = float(np.abs(face_div[~solid]).max())
    return times, float(divergence_norm(centred[..., 0], centred[..., 1])), face, smoke.values.numpy("x,y")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=30, help="steps before timing (the plume develops)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per solver")
    parser.add_argument(
        "--phiflow-solver",
        default="scipy-CG",
        help="PhiFlow pressure solver; its own numpy CG diverges on this closed box with an obstacle",
    )
    parser.add_argument("--phiflow-tol", type=float, default=1e-5, help="PhiFlow relative/absolute tolerance")
    args = parser.parse_args()
    n = args.size

    times, fc_div, fc_face, fc_density = run_fieldcast(n, args.warmup, args.steps)
    fc_ms = 1e3 * statistics.median(times)
    print(
        f"fieldcast  {n}x{n}: median {fc_ms:.2f} ms/step (min {1e3 * min(times):.2f}) over {len(times)} steps"
    )
    print(f"           divergence_norm {fc_div:.3e}, max face divergence {fc_face:.1e}")
    try:
        import phi  # noqa: F401
    except ImportError:
        print("phiflow is not installed (pip install 'phiflow==3.4.0'): no comparison")
        print(
            f"RESULT fieldcast_ms={fc_ms:.3f} phiflow_ms=nan speedup=nan "
            f"fieldcast_div={fc_div:.4e} phiflow_div=nan"
        )
        return
    with warnings.catch_warnings():
        # scipy's sparse-format hint from inside PhiFlow's backend is noise here.
        warnings.simplefilter("ignore", category=Warning)
        times, pf_div, pf_face, pf_density = run_phiflow(
            n, args.warmup, args.steps, args.phiflow_solver, args.phiflow_tol
        )
    pf_ms = 1e3 * statistics.median(times)
    print(
        f"phiflow    {n}x{n} ({args.phiflow_solver}, tol {args.phiflow_tol:g}): median {pf_ms:.2f} ms/step "
        f"(min {1e3 * min(times):.2f}) over {len(times)} steps"
    )
    print(f"           divergence_norm {pf_div:.3e}, max face divergence {pf_face:.1e}")
    print(f"total smoke: fieldcast {fc_density.sum():.1f}, phiflow {pf_density.sum():.1f}")
    print(
        f"RESULT fieldcast_ms={fc_ms:.3f} phiflow_ms={pf_ms:.3f} speedup={pf_ms / fc_ms:.1f} "
        f"fieldcast_div={fc_div:.4e} phiflow_div={pf_div:.4e}"
    )


if __name__ == "__main__":
    main()
