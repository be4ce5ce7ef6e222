"""Stress surrogates (the shipped ONNX files by default) against the FFT J2 solver, on cells made here.

    python benchmarks/stress_surrogate.py [--model ONNX] [--paper-model ONNX] [--fast-model ONNX]
                                          [--microstructures 20] [--seed 424242] [--plots DIR]

Trains nothing. Draws ``--microstructures`` ten-grain 64² Voronoi cells from ``--seed`` (not the training
seed), loads each over 40 increments (F11 up to 1.008) with the reference solver, timing every increment,
and scores each model on them:

- MAE (MPa) of one step, σvM(t) → σvM(t+Δt) from the solver's field, over the increments up to F11 = 1.004
  (the training range), and over those beyond it (the extrapolation range); for a model that predicts K
  increments per call, its first predicted increment;
- rollout MAE (MPa): the network fed its own predictions from the unloaded cell over all 20 training-range
  increments (mean over the increments, and at the last); a K-increment model is called once every K
  increments, from its own last prediction (K = 20: one call for the whole load path);
- where the error sits: MAE on grain-boundary cells, triple-junction cells and grain interiors;
- one-step MAE on the special cases of the reference study: 5 and 20 grains, a circular and a square
  inclusion, narrow and wide property contrast (shipped / paper setup, ``--special`` cells each);
- the time per increment of the network (batch 1, one thread; a K-increment call's time divided by K)
  against the solver's (one thread), and their ratio; times are medians of the CPU time of this process
  (the solver over every increment of the held-out set, the network over 200 calls, ONNX Runtime on one
  thread with all graph optimisations), which a machine shared with other jobs inflates far less than wall
  time, with the wall-clock medians printed beside them; and the network's time per
  microstructure-increment when the whole held-out set is one batch.

``--fast-model`` (default the shipped ``stress_fast.onnx``, when present) is scored the same way.
Ends with ``RESULT mae_mpa=… mae_paper_setup_mpa=… mae_extrap_mpa=… rollout_mae_mpa=… speedup=…`` (the first,
the extrapolation and rollout figures and the speed-up are the shipped model's), followed by
``fast_mae_mpa=… fast_rollout_mae_mpa=… fast_speedup=…`` when a fast model was scored.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

TRAIN_LAST = 20  # frame at F11 = 1.004
INCREMENTS = 40


def _shipped(name: str) -> Path:
    from fieldcast.resources import resource_path

    return resource_path("models", name)


def simulate(n: int, seed: int, **kind) -> tuple[list[dict], list[float]]:
    """``n`` microstructures loaded over :data:`INCREMENTS` increments; solver CPU seconds of each increment.

    ``kind`` goes to ``sample_microstructure`` (``grains``, ``kind``, ``contrast``), ten grains by default.
    """
    from fieldcast.engine.systems.stress import (
        J2Material,
        SpectralJ2Solver,
        material_maps,
        microstructure_fields,
        sample_microstructure,
    )

    cases, seconds = [], []
    for child in np.random.SeedSequence(seed).spawn(n):
        micro = sample_microstructure(np.random.default_rng(child), (64, 64), **{"grains": 10, **kind})
        solver = SpectralJ2Solver(J2Material(**material_maps(micro)))
        vm = [np.zeros((64, 64), np.float32)]
        for _ in range(INCREMENTS):
            t0 = time.process_time()
            result = solver.step()
            seconds.append(time.process_time() - t0)
            vm.append(result.von_mises.astype(np.float32))
        cases.append({"grains": micro.grains, "controls": microstructure_fields(micro), "vm": np.stack(vm)})
    return cases, seconds


def regions(grains: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of grain-boundary cells (a 4-neighbour in another grain), triple junctions (three or more grains
    in the 3×3 block) and grain interiors; periodic."""
    boundary = np.zeros(grains.shape, bool)
    for axis in (0, 1):
        for shift in (1, -1):
            boundary |= np.roll(grains, shift, axis=axis) != grains
    block = np.stack([np.roll(grains, (dx, dy), axis=(0, 1)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    block.sort(axis=0)
    distinct = 1 + (np.diff(block, axis=0) != 0).sum(axis=0)
    return {"boundary": boundary, "junction": distinct >= 3, "interior": ~boundary}


def evaluate(path: Path, cases: list[dict]) -> dict[str, float]:
    from fieldcast.engine.model_format import OUTPUT
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.engine.systems.stress.play import network_call

    session = ModelSession(path, threads=1)
    layout = dict(session.info.layout)
    k = session.info.increments

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(x)[OUTPUT]

    one, extrap, roll, roll_last = [], [], [], []
    where = {"boundary": [], "junction": [], "interior": []}
    for case in cases:
        vm, controls = case["vm"], case["controls"]
        masks = regions(case["grains"])
        state, pending = vm[0], []
        for t in range(INCREMENTS):
            err = np.abs(network_call(run, layout, vm[t], controls, k)[0] - vm[t + 1])
            (one if t + 1 <= TRAIN_LAST else extrap).append(float(err.mean()))
            if t + 1 <= TRAIN_LAST:
                for name, mask in masks.items():
                    if mask.any():  # an inclusion has no triple junction
                        where[name].append(float(err[mask].mean()))
                if not pending:  # one call every k increments, from the network's own last field
                    pending = list(network_call(run, layout, state, controls, k))
                state = pending.pop(0)
                roll.append(float(np.abs(state - vm[t + 1]).mean()))
        roll_last.append(roll[-1])
    x = np.stack([cases[0]["vm"][5]] + [cases[0]["controls"][n] for n in layout["controls"]])[None]
    x = x.astype(np.float32)
    for _ in range(10):
        run(x)
    times, walls = [], []
    for _ in range(200):
        t0, w0 = time.process_time(), time.perf_counter()
        run(x)
        times.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
    batch = np.concatenate([x] * len(cases))
    run(batch)
    t0 = time.process_time()
    for _ in range(3):
        run(batch)
    batched = (time.process_time() - t0) / (3 * len(cases) * k)
    return {
        "mae": float(np.mean(one)),
        "mae_extrap": float(np.mean(extrap)),
        "rollout_mae": float(np.mean(roll)),
        "rollout_last": float(np.mean(roll_last)),
        **{f"mae_{k}": float(np.mean(v)) if v else float("nan") for k, v in where.items()},
        "increments": k,
        "seconds": float(np.median(times)) / k,
        "wall_seconds": float(np.median(walls)) / k,
        "batched_seconds": float(batched),
    }


def error_picture(path: Path, cases: list[dict], out: Path) -> Path:
    """σvM of the solver and the network and |error| at F11 = 1.004 for the first case, as one PNG."""
    from PIL import Image

    from fieldcast.engine.model_format import OUTPUT
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.engine.systems.stress.play import network_call
    from fieldcast.widgets.field_colors import colorize

    session = ModelSession(path, threads=1)
    case = cases[0]
    vm = case["vm"]
    run = lambda x: session.run(x)[OUTPUT]  # noqa: E731
    pred = network_call(run, dict(session.info.layout), vm[19], case["controls"], session.info.increments)[0]
    top = float(vm[20].max())
    err = np.abs(pred - vm[20])
    tiles = [colorize(vm[20], "inferno", (0, top)), colorize(pred, "inferno", (0, top))]
    tiles.append(colorize(err, "magma", (0, max(1.0, float(np.percentile(err, 99.5))))))
    gap = np.full((64, 4, 3), 255, np.uint8)
    row = np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)
    Image.fromarray(np.repeat(np.repeat(row, 4, axis=0), 4, axis=1)).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=_shipped("stress_default.onnx"))
    parser.add_argument("--paper-model", type=Path, default=_shipped("stress_paper_setup.onnx"))
    parser.add_argument("--fast-model", type=Path, default=_shipped("stress_fast.onnx"))
    parser.add_argument("--microstructures", type=int, default=20)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--plots", type=Path, default=None, help="folder for an error picture")
    parser.add_argument(
        "--special", type=int, default=3, help="cells per special case (grain counts, inclusions, contrast)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    t0 = time.perf_counter()
    cases, solver_times = simulate(args.microstructures, args.seed)
    solver_s = float(np.median(solver_times))
    print(
        f"held-out set: {len(cases)} ten-grain 64² microstructures, seed {args.seed}, {INCREMENTS} "
        f"increments each ({time.perf_counter() - t0:.1f} s wall); solver {1e3 * solver_s:.1f} ms CPU per "
        f"increment, median of {len(solver_times)} (mean {1e3 * np.mean(solver_times):.1f}; "
        f"{20 * np.mean(solver_times):.2f} s per 20-increment microstructure)"
    )
    results = {}
    models = [("shipped", args.model), ("paper setup", args.paper_model)]
    if args.fast_model.is_file() and args.fast_model.resolve() != args.model.resolve():
        models.append(("fast", args.fast_model))
    for label, path in models:
        if not path.is_file():
            print(f"{label}: {path} not found; skipped")
            continue
        r = evaluate(path, cases)
        results[label] = r
        print(
            f"{label:12s} {path.name}: one-step MAE {r['mae']:.3f} MPa (F11 <= 1.004), "
            f"{r['mae_extrap']:.3f} MPa (1.004 < F11 <= 1.008); rollout MAE {r['rollout_mae']:.3f} MPa "
            f"(mean over 20 increments, {r['rollout_last']:.3f} at the last)"
        )
        print(
            f"{'':12s} where: grain boundaries {r['mae_boundary']:.3f}, triple junctions "
            f"{r['mae_junction']:.3f}, grain interiors {r['mae_interior']:.3f} MPa; network "
            f"{1e3 * r['seconds']:.3f} ms CPU per increment ({r['increments']} per call) "
            f"({solver_s / r['seconds']:.1f}x the solver's speed; "
            f"wall median {1e3 * r['wall_seconds']:.3f} ms); batched over the set (batch {len(cases)}) "
            f"{1e3 * r['batched_seconds']:.3f} ms per microstructure-increment "
            f"({solver_s / r['batched_seconds']:.1f}x)"
        )
    if args.special and args.model.is_file():
        special = {
            "5 grains": {"grains": 5},
            "20 grains": {"grains": 20},
            "circular inclusion": {"kind": "circle"},
            "square inclusion": {"kind": "square"},
            "contrast x1.5": {"contrast": 1.5},
            "contrast x5": {"contrast": 5.0},
        }
        print("special cases, one-step MAE of " + " / ".join(label for label, _ in models))
        for label, kind in special.items():
            more, _ = simulate(args.special, args.seed + 1, **kind)
            scores = [evaluate(p, more)["mae"] for _, p in models if p.is_file()]
            print(f"special case {label:20s} one-step MAE " + " / ".join(f"{s:.3f}" for s in scores) + " MPa")
    if args.plots is not None and args.model.is_file():
        args.plots.mkdir(parents=True, exist_ok=True)
        print(f"error picture: {error_picture(args.model, cases, args.plots / 'stress_error.png')}")
    main_r = results.get("shipped", {})
    paper = results.get("paper setup", {})
    fast = results.get("fast", {})

    def fmt(value: float | None, digits: int = 3) -> str:
        return "nan" if value is None else f"{value:.{digits}f}"

    print(
        f"RESULT mae_mpa={fmt(main_r.get('mae'))} mae_paper_setup_mpa={fmt(paper.get('mae'))} "
        f"mae_extrap_mpa={fmt(main_r.get('mae_extrap'))} rollout_mae_mpa={fmt(main_r.get('rollout_mae'))} "
        f"speedup={fmt(solver_s / main_r['seconds'] if main_r else None, 1)}"
        + (
            f" fast_mae_mpa={fmt(fast['mae'])} fast_rollout_mae_mpa={fmt(fast['rollout_mae'])} "
            f"fast_speedup={fmt(solver_s / fast['seconds'], 1)}"
            if fast
            else ""
        )
    )


if __name__ == "__main__":
    main()
