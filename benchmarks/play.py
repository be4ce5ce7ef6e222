"""Benchmark: the Play panel's simulation, headless, 1000 frames from each starting scene.

Each frame goes through :meth:`fieldcast.app.play.simulation.Simulation.advance`, exactly what the panel's
stepper thread calls (take the painted controls, step the model, re-impose the controls, measure the frame),
without drawing. The model is the shipped default one, or ``--model PATH``; ``--solver`` measures the
reference solver instead.

Run: ``python benchmarks/play.py [--model PATH | --solver] [--frames 1000] [--size 128]``. One line per
scene, then ``RESULT fps=... ms_p50=... ms_p99=... max_density=... finite=1`` for the worst scene (lowest
frame rate, highest step times and density; finite=1 only when every scene stayed finite), and
``bounds_cells_pct``: the largest, over the scenes, mean share of cells Play's safety bounds changed per step.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from fieldcast.app.play.model_picker import default_model_path
from fieldcast.app.play.scenes import scene_names
from fieldcast.app.play.simulation import ModelBackend, Simulation, SolverBackend


def run_scene(scene: str, factory, frames: int, size: int) -> dict[str, float]:
    """Step ``scene`` for ``frames`` simulated frames; returns steps per second (``fps``, what the canvas
    shows), simulated frames per second, step-time percentiles and physics extremes."""
    sim = Simulation(size, scene, factory)
    k = max(1, int(getattr(sim.backend, "frames_per_step", 1)))
    steps = max(1, frames // k)
    ms = np.empty(steps)
    max_density, finite, last = 0.0, True, None
    bounded = []
    t0 = time.perf_counter()
    for i in range(steps):
        last = sim.advance()
        ms[i] = last.ms_total
        finite = finite and last.finite
        max_density = max(max_density, last.stats["max_density"])
        bounded.append(last.stats.get("bounded_cells", 0.0))
    elapsed = time.perf_counter() - t0
    return {
        "fps": steps / elapsed,
        "sim_fps": steps * k / elapsed,
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p99": float(np.percentile(ms, 99)),
        "max_density": max_density,
        "total_smoke": last.stats["total_smoke"],
        "divergence_norm": last.stats["divergence_norm"],
        "finite": float(finite),
        # Share of cells Play's safety bounds changed per step, % (0 for the solver, which has none).
        "bounds_cells_pct": 100.0 * float(np.mean(bounded)),
        "bounds_cells_pct_max": 100.0 * float(np.max(bounded)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Fieldcast smoke model (default: the shipped one)")
    parser.add_argument("--solver", action="store_true", help="benchmark the reference solver instead")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args(argv)

    if args.solver:
        name, factory = "reference solver", lambda nx, ny: SolverBackend(nx, ny)
    else:
        path = args.model or default_model_path()
        if path is None:
            print("no model: the default smoke model is not shipped yet; pass --model PATH or --solver")
            return 2
        probe = ModelBackend(path)  # validates once and shows the providers before timing starts
        name = f"{probe.name} on {probe.provider}"
        sessions = [probe]

        def factory(nx: int, ny: int) -> ModelBackend:
            return sessions.pop() if sessions else ModelBackend(path)

    print(f"{name}: {args.frames} frames per scene at {args.size}×{args.size}", flush=True)
    results = {}
    for scene in scene_names():
        r = run_scene(scene, factory, args.frames, args.size)
        results[scene] = r
        print(
            f"{scene:26s} fps={r['fps']:7.1f} simulated_fps={r['sim_fps']:7.1f} "
            f"ms_p50={r['ms_p50']:6.2f} ms_p99={r['ms_p99']:6.2f} "
            f"max_density={r['max_density']:.3f} total_smoke={r['total_smoke']:.0f} "
            f"divergence={r['divergence_norm']:.3g} finite={int(r['finite'])} "
            f"bounds_cells={r['bounds_cells_pct']:.3f}% (max {r['bounds_cells_pct_max']:.3f}%)",
            flush=True,
        )
    worst = {
        "fps": min(r["fps"] for r in results.values()),
        "ms_p50": max(r["ms_p50"] for r in results.values()),
        "ms_p99": max(r["ms_p99"] for r in results.values()),
        "max_density": max(r["max_density"] for r in results.values()),
        "finite": int(all(r["finite"] for r in results.values())),
        "bounds_cells_pct": max(r["bounds_cells_pct"] for r in results.values()),
    }
    print(
        f"RESULT fps={worst['fps']:.1f} ms_p50={worst['ms_p50']:.2f} ms_p99={worst['ms_p99']:.2f} "
        f"max_density={worst['max_density']:.3f} finite={worst['finite']} "
        f"bounds_cells_pct={worst['bounds_cells_pct']:.3f}"
    )
    return 0 if worst["finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
