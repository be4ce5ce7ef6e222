"""Benchmark: Fieldcast's smoke solver against fair baselines and PhiFlow 3.4 on the same plume scene.

Scene: 128 × 128 closed box, a disc emitter (radius 8 cells) near the floor blowing upwards, a disc collider
(radius 12 cells) in the plume's path, buoyancy 0.03 cells/frame² per unit density, MacCormack advection of
density and velocity, dt = 1 frame, no vorticity confinement (PhiFlow has none built in).

Fieldcast runs three ways in the same process:

* ``cached``: as shipped, the pressure matrix factorised (sparse LU) once per collider layout and reused,
  so a step costs two triangular solves;
* ``lu_each_step``: the matrix rebuilt and factorised every step (what a solver without a layout cache
  pays, e.g. while colliders are being painted);
* ``cg_each_step``: the matrix rebuilt every step and solved by conjugate gradients warm-started from the
  last pressure to the same tolerance as PhiFlow (1e-5): the iterative solve PhiFlow itself uses.

PhiFlow runs on its numpy backend in float64 (its closed-box pressure solve needs it), warm-started from the
last pressure, with each pressure solver given in ``--phiflow-solvers``; the fastest that keeps the flow
finite is its best setting and the ratio is taken against it.

Divergence is measured on the MAC stencil both projections enforce: the RMS over fluid cells of the face
divergence ``(u[i+1/2] - u[i-1/2]) + (v[j+1/2] - v[j-1/2])`` per cell (``*_div``); the RMS central
difference of the cell-centred velocity (``*_div_centred``), which neither projection drives to zero, is
printed beside it for reference.

Run: ``python benchmarks/smoke_solver.py [--steps N] [--warmup N] [--size N]``. The last line is
``RESULT fieldcast_ms=... fieldcast_lu_ms=... fieldcast_cg_ms=... phiflow_ms=... speedup=...
speedup_vs_cg=... speedup_lu_vs_phiflow=... speedup_cg_vs_phiflow=... fieldcast_div=... phiflow_div=...``
(``speedup`` is PhiFlow's best over Fieldcast as shipped). PhiFlow is a benchmark-only dependency
(``pip install "phiflow==3.4.0"``, pinned in requirements-lock.txt).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse.linalg as spla

from fieldcast.engine.metrics import divergence_norm
from fieldcast.engine.systems.smoke import SmokeControls, SmokeParams, SmokeSolver, SmokeState
from fieldcast.engine.systems.smoke.pressure import Projector, _pressure_matrix, parse_boundary
from fieldcast.engine.systems.smoke.scenes import disc_mask

BUOYANCY = 0.03
RATE = 0.2  # density per frame inside the emitter
JET = 0.5  # emitter velocity, cells/frame upwards


def scene(n: int) -> dict:
    s = n / 128
    return {"emitter": ((n / 2, 15 * s), 8 * s), "collider": ((n / 2, 70 * s), 12 * s)}


class _EachStepProjector(Projector):
    """The shipped projection with its pressure solve rebuilt every step: sparse LU, or conjugate
    gradients on the (negated, positive semi-definite) same matrix warm-started from the last pressure."""

    def __init__(self, open_sides, method: str, tol: float) -> None:
        super().__init__(open_sides)
        self.method, self.tol = method, tol
        self.iterations: list[int] = []
        self._last: np.ndarray | None = None

    def _pressure_solver(self, solid):
        matrix, cells = _pressure_matrix(self.masks(solid))
        if self.method == "lu":
            return spla.splu(matrix, permc_spec="MMD_AT_PLUS_A").solve, cells
        positive = (-matrix).tocsr()

        def solve(rhs: np.ndarray) -> np.ndarray:
            count = [0]
            x0 = self._last if self._last is not None and self._last.size == rhs.size else None
            x, _ = spla.cg(
                positive, -rhs, x0=x0, rtol=self.tol, atol=self.tol, maxiter=5000,
                callback=lambda _x: count.__setitem__(0, count[0] + 1),
            )  # fmt: skip
            self.iterations.append(count[0])
            self._last = x
            return x

        return solve, cells


def _mac_divergence(u: np.ndarray, v: np.ndarray, solid: np.ndarray) -> float:
    """RMS over fluid cells of the face divergence of face arrays ``u`` (nx+1, ny) and ``v`` (nx, ny+1)."""
    div = (u[1:] - u[:-1]) + (v[:, 1:] - v[:, :-1])
    return float(np.sqrt(np.mean(div[~solid] ** 2)))


def run_fieldcast(n: int, warmup: int, steps: int, solve: str = "cached", tol: float = 1e-5) -> dict:
    geo = scene(n)
    solver = SmokeSolver(n, n, SmokeParams(boundary="closed", buoyancy=BUOYANCY, vorticity=0.0))
    if solve != "cached":
        solver._projector = _EachStepProjector(parse_boundary("closed"), solve, tol)
    emitter = disc_mask(n, n, *geo["emitter"])
    solid = disc_mask(n, n, *geo["collider"]) > 0.5
    controls = SmokeControls(emitter, solid.astype(float), emitter_rate=RATE, emitter_velocity=(0.0, JET))
    state = SmokeState.zeros(n, n)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        state = solver.step(state, controls)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    vel = state.velocity()
    iterations = getattr(solver._projector, "iterations", [])
    return {
        "ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "div": _mac_divergence(state.u, state.v, solid),
        "div_centred": float(divergence_norm(vel[..., 0], vel[..., 1])),
        "smoke": float(state.density.sum()),
        "iterations": float(np.median(iterations[warmup:])) if iterations else None,
    }


def run_phiflow(n: int, warmup: int, steps: int, method: str = "scipy-CG", tol: float = 1e-5) -> dict:
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
        # Warm-started from the last pressure, as in PhiFlow's smoke demos; the closed box leaves the
        # pressure defined up to a constant, which PhiFlow detects itself.
        solve = Solve(method, rel_tol=tol, abs_tol=tol, x0=pressure, max_iterations=5000)
        velocity, pressure = fluid.make_incompressible(velocity, (obstacle,), solve)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    centred = velocity.at_centers().values.numpy("x,y,vector")
    solid = disc_mask(n, n, *geo["collider"]) > 0.5
    face_div = divergence(velocity, order=2).values.numpy("x,y")  # the MAC stencil, per cell
    density = smoke.values.numpy("x,y")
    return {
        "ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "div": float(np.sqrt(np.mean(face_div[~solid] ** 2))),
        "div_centred": float(divergence_norm(centred[..., 0], centred[..., 1])),
        "smoke": float(density.sum()),
        "finite": bool(np.isfinite(density).all() and np.isfinite(centred).all()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=30, help="steps before timing (the plume develops)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per solver")
    parser.add_argument(
        "--phiflow-solvers",
        default="scipy-CG,scipy-direct",
        help="PhiFlow pressure solvers to try (its numpy CG diverges on this closed box with an obstacle)",
    )
    parser.add_argument(
        "--tol", type=float, default=1e-5, help="iterative solvers' relative/absolute tolerance"
    )
    args = parser.parse_args()
    n = args.size

    runs = {}
    for solve in ("cached", "lu", "cg"):
        runs[solve] = r = run_fieldcast(n, args.warmup, args.steps, solve, args.tol)
        its = f", CG iterations {r['iterations']:.0f}" if r["iterations"] is not None else ""
        print(
            f"fieldcast {solve:7s} {n}x{n}: median {r['ms']:.2f} ms/step (min {r['min_ms']:.2f}){its}; "
            f"MAC divergence {r['div']:.2e}, centred {r['div_centred']:.2e}; smoke {r['smoke']:.1f}"
        )
    fc, lu, cg = runs["cached"], runs["lu"], runs["cg"]
    line = (
        f"RESULT fieldcast_ms={fc['ms']:.3f} fieldcast_lu_ms={lu['ms']:.3f} fieldcast_cg_ms={cg['ms']:.3f} "
        f"speedup_vs_lu={lu['ms'] / fc['ms']:.2f} speedup_vs_cg={cg['ms'] / fc['ms']:.2f} "
        f"fieldcast_div={fc['div']:.3e} fieldcast_cg_div={cg['div']:.3e} "
        f"fieldcast_div_centred={fc['div_centred']:.3e}"
    )
    try:
        import phi  # noqa: F401
    except ImportError:
        print("phiflow is not installed (pip install 'phiflow==3.4.0'): no comparison")
        print(line)
        return
    best = None
    for method in args.phiflow_solvers.split(","):
        with warnings.catch_warnings():
            # scipy's sparse-format hint from inside PhiFlow's backend is noise here.
            warnings.simplefilter("ignore", category=Warning)
            try:
                r = run_phiflow(n, args.warmup, args.steps, method, args.tol)
            except Exception as exc:  # a solver PhiFlow cannot run here: say so and try the next
                print(f"phiflow   {method}: failed ({str(exc).splitlines()[0][:120]})")
                continue
        print(
            f"phiflow   {method} {n}x{n}: median {r['ms']:.2f} ms/step (min {r['min_ms']:.2f}); "
            f"MAC divergence {r['div']:.2e}, centred {r['div_centred']:.2e}; smoke {r['smoke']:.1f}; "
            f"finite {r['finite']}"
        )
        if r["finite"] and (best is None or r["ms"] < best[1]["ms"]):
            best = (method, r)
    if best is None:
        print(line)
        return
    method, pf = best
    print(f"phiflow best setting: {method}")
    print(
        f"{line} phiflow_ms={pf['ms']:.3f} speedup={pf['ms'] / fc['ms']:.1f} "
        f"speedup_lu_vs_phiflow={pf['ms'] / lu['ms']:.2f} speedup_cg_vs_phiflow={pf['ms'] / cg['ms']:.2f} "
        f"phiflow_div={pf['div']:.3e} phiflow_div_centred={pf['div_centred']:.3e}"
    )


if __name__ == "__main__":
    main()
