"""Benchmark: how much of the reference solver's smoke its own advection makes or loses.

A model whose structure keeps the smoke budget exactly (inflow less outflow, ``conserve_smoke``) can only
follow the solver's total smoke as far as the solver itself keeps that budget. Neither advection scheme of
the solver conserves what it carries: limited MacCormack tends to make smoke, semi-Lagrangian to lose it. For
the five Play scenes and ``--held-out`` scenes (the held-out seed of ``smoke_surrogate.py``), each scheme
runs ``--frames`` frames; before every step its advection is applied once more to a copy of the state, and
the change in total smoke that the open sides do not account for (each edge face carrying its cell's density
at the face's normal velocity) is summed:

- ``gain``: smoke the advection made (negative: lost) over the run;
- ``outflow``: smoke that left through the open sides;
- ``gain %``: gain / (smoke in the grid at the end + outflow), the share of all the smoke the run held that
  its advection made.

Run: ``python benchmarks/smoke_budget.py [--frames 1000] [--held-out 5] [--size 128]``.
Ends with ``RESULT maccormack_gain_pct_min=… maccormack_gain_pct_median=… maccormack_gain_pct_max=…
semi_lagrangian_gain_pct_min=… semi_lagrangian_gain_pct_median=… semi_lagrangian_gain_pct_max=…``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from smoke_surrogate import held_out_scenes

from fieldcast.app.play.scenes import make_scene, scene_names
from fieldcast.engine.systems.smoke import SmokeScene
from fieldcast.engine.systems.smoke.advect import advect

SCHEMES = ("maccormack", "semi_lagrangian")


def outflow(density: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """Smoke leaving the grid per frame through its four sides (inflow negative)."""
    right = float(u[-1] @ density[-1]) - float(u[0] @ density[0])
    top = float(v[:, -1] @ density[:, -1]) - float(v[:, 0] @ density[:, 0])
    return right + top


def budget(scene: SmokeScene, scheme: str, frames: int) -> dict[str, float]:
    """Advection's gain, the outflow and the final total of one scheme's run of ``scene``."""
    solver = scene.solver().with_params(advection=scheme)
    if solver.params.substeps != 1:
        raise SystemExit("the budget is measured for one solver step per frame")
    controls = scene.controls()
    state = scene.initial_state(solver)
    gain = left = 0.0
    for _ in range(frames):
        d, u, v = state.density, state.u, state.v
        out = outflow(d, u, v)
        advected = advect(d.copy(), u.copy(), v.copy(), 1.0, maccormack=scheme == "maccormack")[0]
        gain += float(advected.sum()) - (float(d.sum()) - out)
        left += out
        state = solver.step(state, controls)
    total = float(state.density.sum())
    held = total + left
    return {
        "gain": gain,
        "outflow": left,
        "total": total,
        "pct": 100.0 * gain / held if held > 1.0 else np.nan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="simulated frames per scene (default 1000)")
    parser.add_argument("--held-out", type=int, default=5, help="held-out scenes (default 5)")
    parser.add_argument("--size", type=int, default=128, help="grid of the runs (default 128)")
    args = parser.parse_args(argv)

    scenes = [(name, make_scene(name, args.size)) for name in scene_names()]
    scenes += held_out_scenes(args.held_out, args.size)
    print(f"{args.frames} frames per scene at {args.size}²; smoke in density·cells", flush=True)
    print(f"{'scene':26s} {'scheme':16s} {'in grid':>9s} {'outflow':>9s} {'gain':>9s} {'gain %':>7s}")
    pct: dict[str, list[float]] = {s: [] for s in SCHEMES}
    for name, scene in scenes:
        for scheme in SCHEMES:
            b = budget(scene, scheme, args.frames)
            row = f"{b['total']:9.1f} {b['outflow']:9.1f} {b['gain']:9.1f} {b['pct']:7.1f}"
            print(f"{name:26s} {scheme:16s} {row}", flush=True)
            if np.isfinite(b["pct"]):
                pct[scheme].append(b["pct"])
    figures = []
    for scheme in SCHEMES:
        values = pct[scheme] or [np.nan]
        figures += [
            f"{scheme}_gain_pct_min={min(values):.1f}",
            f"{scheme}_gain_pct_median={float(np.median(values)):.1f}",
            f"{scheme}_gain_pct_max={max(values):.1f}",
        ]
    print("RESULT " + " ".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
