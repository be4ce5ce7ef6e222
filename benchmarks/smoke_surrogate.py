"""Benchmark: the smoke surrogate on its own against the reference solver: stability, accuracy and speed.

For each of the five Play scenes and ``--held-out`` scenes drawn from a seed no training data used, the model
is rolled out with **no Play bounds** (emitters and colliders re-imposed, density clipped to [0, 1], nothing
else) for ``--frames`` simulated frames, and the reference solver runs from the same state under the same
controls. At each checkpoint (10, 50, 100, 200, 400, 1000 frames; 2000 and 3000 with a longer ``--frames``)
it records:

- density NMSE against the solver: ``sum((model - solver)²) / sum(solver²)``;
- total smoke, model / solver (scenes where the solver holds less than 1 unit of smoke are skipped);
- the largest speed either one reached so far (cells/frame), the model's divided by the solver's.

Beside them, the solver itself with semi-Lagrangian instead of MacCormack advection runs from the same start:
how far two faithful solvers drift apart in each scene (its NMSE and smoke ratio), the floor a surrogate's
figures are read against. NMSE at 50 and 100 frames is the median over the held-out scenes.

Speed per simulated frame is timed in the same run on the same threads: the solver's step against the model's
call divided by the frames it advances, at 128² and 256², medians of interleaved repeats. Finally the model
runs *with* Play's bounds in the five scenes and the share of cells the bounds changed per frame is recorded
(its largest mean over a scene).

Run: ``python benchmarks/smoke_surrogate.py [--model PATH] [--frames 1000] [--held-out 20] [--size 128]``.
Ends with ``RESULT nmse50=… nmse100=… worst_speed_ratio=… smoke_ratio_min=… smoke_ratio_max=… speedup128=…
speedup256=… bounds_cells_pct=…`` and the floor: ``smoke_misses`` (scenes whose total smoke leaves ±30 % of
the solver's at some checkpoint), ``floor_nmse50``, ``floor_nmse100``, ``floor_smoke_misses``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from fieldcast.app.play.model_picker import default_model_path
from fieldcast.app.play.scenes import make_scene, scene_names
from fieldcast.engine.rollout import Rollout
from fieldcast.engine.runtime import ModelSession
from fieldcast.engine.systems.smoke import SmokeScene, sample_scene

CHECKPOINTS = (10, 50, 100, 200, 400, 1000, 2000, 3000)  # those within --frames
HELD_OUT_SEED = 20261207  # never used to generate training data
MIN_SMOKE = 1.0  # below this much smoke in the solver, a ratio of totals says nothing


def held_out_scenes(n: int, size: int) -> list[tuple[str, SmokeScene]]:
    seeds = np.random.SeedSequence(HELD_OUT_SEED).spawn(n)
    return [(f"held-out {i + 1}", sample_scene(np.random.default_rng(s), size)) for i, s in enumerate(seeds)]


def model_controls(scene: SmokeScene) -> dict[str, np.ndarray]:
    c = scene.controls()
    return {
        "emitter": c.emitter.astype(np.float32),
        "collider": c.collider.astype(np.float32),
        "emitter_rate": np.asarray(c.emitter_rate, np.float32),
        "emitter_velocity": np.asarray(c.emitter_velocity, np.float32),
    }


def start_fields(scene: SmokeScene, state) -> dict[str, np.ndarray]:
    """The model's first input: the scene's start with the emitters' velocity imposed, as Play hands it."""
    c = scene.controls()
    velocity = state.velocity()
    velocity += c.emitter[..., None] * (np.asarray(c.emitter_velocity) - velocity)
    return {"density": state.density, "velocity": velocity}


def speed_max(velocity: np.ndarray) -> float:
    return float(np.hypot(velocity[..., 0], velocity[..., 1]).max())


def compare_scene(sessions: list[ModelSession], scene: SmokeScene, frames: int) -> list[dict]:
    """Roll each model alone and the solver (once) from the scene's start; figures at each checkpoint, one
    dict per model, plus persistence (the start's density kept) in the first one's ``persistence``."""
    solver = scene.solver()
    controls = scene.controls()
    state = scene.initial_state(solver)
    start = start_fields(scene, state)
    rollouts = []
    for session in sessions:
        rollout = Rollout(session, bounds=False)
        rollout.reset(start)
        rollouts.append(rollout)
    k = rollouts[0].frames_per_step
    if any(r.frames_per_step != k for r in rollouts):
        raise SystemExit("the model and the baseline must advance the same frames per call")
    ctrl = model_controls(scene)
    outs = [{"nmse": {}, "smoke_ratio": {}, "finite": True, "persistence": {}} for _ in sessions]
    # The solver's own scheme variant (semi-Lagrangian instead of MacCormack advection) from the same start:
    # how far two faithful solvers drift apart in this scene, the floor any surrogate is measured against.
    variant = solver.with_params(advection="semi_lagrangian")
    other = state.copy()
    floor = {"nmse": {}, "smoke_ratio": {}}
    model_speed = [speed_max(start["velocity"])] * len(sessions)
    solver_speed = speed_max(state.velocity())
    held = start["density"].astype(np.float64)
    frame = 0
    while frame < frames:
        results = [r.step(ctrl) if out["finite"] else None for r, out in zip(rollouts, outs, strict=True)]
        for _ in range(k):
            state = solver.step(state, controls)
            other = variant.step(other, controls)
            solver_speed = max(solver_speed, speed_max(state.velocity()))
        frame += k
        truth = state.density
        denom = float(np.sum(truth**2))
        total = float(truth.sum())
        if frame in CHECKPOINTS and denom > 0:
            outs[0]["persistence"][frame] = float(np.sum((held - truth) ** 2)) / denom
            floor["nmse"][frame] = float(np.sum((other.density - truth) ** 2)) / denom
            if total >= MIN_SMOKE:
                floor["smoke_ratio"][frame] = float(other.density.sum()) / total
        for i, (result, out) in enumerate(zip(results, outs, strict=True)):
            if result is None:
                continue
            fields = result.fields
            if not result.stats["finite"]:
                out["finite"] = False
                continue
            model_speed[i] = max(model_speed[i], speed_max(fields["velocity"]))
            if frame in CHECKPOINTS:
                pred = fields["density"].astype(np.float64)
                out["nmse"][frame] = float(np.sum((pred - truth) ** 2)) / denom if denom > 0 else float("nan")
                if total >= MIN_SMOKE:
                    out["smoke_ratio"][frame] = float(pred.sum()) / total
    outs[0]["floor"] = floor
    for i, out in enumerate(outs):
        out["speed_ratio"] = model_speed[i] / max(solver_speed, 1e-6)
        out["model_speed"], out["solver_speed"] = model_speed[i], solver_speed
    return outs


def bounded_share(session: ModelSession, scene: SmokeScene, frames: int) -> float:
    """Mean share of cells Play's bounds changed per model step in ``scene``, %."""
    solver = scene.solver()
    state = scene.initial_state(solver)
    rollout = Rollout(session, bounds=True)
    rollout.reset(start_fields(scene, state))
    ctrl = model_controls(scene)
    shares = [rollout.step(ctrl).stats["bounded_cells"] for _ in range(frames // rollout.frames_per_step)]
    return 100.0 * float(np.mean(shares))


def time_per_frame(session: ModelSession, size: int, repeats: int = 7) -> tuple[float, float]:
    """Median ms per simulated frame of the solver and of the model in the Plume scene at ``size``²."""
    scene = make_scene("Plume", size)
    solver = scene.solver()
    controls = scene.controls()
    state = scene.initial_state(solver)
    for _ in range(40):  # a developed plume, factorisations cached
        state = solver.step(state, controls)
    rollout = Rollout(session, bounds=False)
    rollout.reset({"density": state.density, "velocity": state.velocity()})
    ctrl = model_controls(scene)
    k = rollout.frames_per_step
    rollout.step(ctrl)
    solver_ms, model_ms = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        t0 = time.perf_counter()
        for _ in range(k):
            state = solver.step(state, controls)
        solver_ms.append((time.perf_counter() - t0) * 1e3 / k)
        t0 = time.perf_counter()
        rollout.step(ctrl)
        model_ms.append((time.perf_counter() - t0) * 1e3 / k)
    return float(np.median(solver_ms)), float(np.median(model_ms))


def report_timings(session: ModelSession) -> dict[int, float]:
    """Solver / model time per simulated frame at 128² and 256², printed as measured."""
    timings = {}
    for size in (128, 256):
        solver_ms, model_ms = time_per_frame(session, size)
        timings[size] = solver_ms / model_ms
        print(
            f"time per simulated frame at {size}²: solver {solver_ms:.2f} ms, model {model_ms:.2f} ms "
            f"({timings[size]:.1f}x)",
            flush=True,
        )
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Fieldcast smoke model (default: the shipped one)")
    parser.add_argument("--frames", type=int, default=1000, help="simulated frames per scene (default 1000)")
    parser.add_argument("--held-out", type=int, default=20, help="held-out scenes (default 20)")
    parser.add_argument("--size", type=int, default=128, help="grid of the rollouts (default 128)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    parser.add_argument(
        "--baseline",
        help="a second smoke model rolled out beside the first on the same scenes, e.g. the physics "
        "structure with an untrained network (RESULT gains baseline_nmse50=... baseline_nmse100=...)",
    )
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="only the time per simulated frame (RESULT speedup128=... speedup256=...)",
    )
    args = parser.parse_args(argv)

    path = args.model or default_model_path()
    if path is None:
        print("no model: pass --model PATH")
        return 2
    session = ModelSession(path, providers=["CPUExecutionProvider"], threads=args.threads)
    sessions = [session]
    if args.baseline:
        sessions.append(ModelSession(args.baseline, providers=["CPUExecutionProvider"], threads=args.threads))
    k = session.info.frames_per_step
    print(f"{path}: {k} frames per call; {args.frames} frames per scene at {args.size}²", flush=True)

    if args.timing_only:
        timings = report_timings(session)
        print(f"RESULT speedup128={timings[128]:.1f} speedup256={timings[256]:.1f}")
        return 0
    scenes = [(name, make_scene(name, args.size)) for name in scene_names()]
    scenes += held_out_scenes(args.held_out, args.size)
    results, baseline, persistence = {}, {}, {}
    header = " ".join(f"nmse@{c:<5d}" for c in CHECKPOINTS if c <= args.frames)
    print(f"{'scene':26s} {header} smoke ratio min..max  speed model/solver", flush=True)
    for name, scene in scenes:
        rs = compare_scene(sessions, scene, args.frames)
        r = results[name] = rs[0]
        persistence[name] = r["persistence"]
        cells = " ".join(f"{r['nmse'].get(c, float('nan')):10.3f}" for c in CHECKPOINTS if c <= args.frames)
        ratios = list(r["smoke_ratio"].values()) or [float("nan")]
        print(
            f"{name:26s} {cells} {min(ratios):6.2f}..{max(ratios):<6.2f} "
            f"{r['model_speed']:.2f}/{r['solver_speed']:.2f} finite={int(r['finite'])}",
            flush=True,
        )
        if r["smoke_ratio"]:
            by_frame = " ".join(f"{f}:{v:.2f}" for f, v in r["smoke_ratio"].items())
            print(f"{'  smoke ratio by frame':26s} {by_frame}", flush=True)
        fl = r["floor"]
        cells = " ".join(f"{fl['nmse'].get(c, float('nan')):10.3f}" for c in CHECKPOINTS if c <= args.frames)
        ratios = list(fl["smoke_ratio"].values()) or [float("nan")]
        print(f"{'  solver, SL advection':26s} {cells} {min(ratios):6.2f}..{max(ratios):<6.2f}", flush=True)
        if args.baseline:
            b = baseline[name] = rs[1]
            cells = " ".join(
                f"{b['nmse'].get(c, float('nan')):10.3f}" for c in CHECKPOINTS if c <= args.frames
            )
            ratios = list(b["smoke_ratio"].values()) or [float("nan")]
            print(
                f"{'  baseline':26s} {cells} {min(ratios):6.2f}..{max(ratios):<6.2f} "
                f"{b['model_speed']:.2f} finite={int(b['finite'])}",
                flush=True,
            )

    def held_median(table: dict[str, dict], frame: int) -> float:
        values = [v.get(frame, np.nan) for n, v in table.items() if n.startswith("held-out")]
        return float(np.nanmedian(values)) if values else float("nan")

    nmse50 = held_median({n: r["nmse"] for n, r in results.items()}, 50)
    nmse100 = held_median({n: r["nmse"] for n, r in results.items()}, 100)
    print(
        f"held-out medians: model {nmse50:.3f} / {nmse100:.3f} at 50 / 100 frames; persistence "
        f"{held_median(persistence, 50):.3f} / {held_median(persistence, 100):.3f}",
        flush=True,
    )
    extra = ""
    if args.baseline:
        b50 = held_median({n: b["nmse"] for n, b in baseline.items()}, 50)
        b100 = held_median({n: b["nmse"] for n, b in baseline.items()}, 100)
        print(f"held-out medians, baseline {args.baseline}: {b50:.3f} / {b100:.3f}", flush=True)
        b_misses = sum(any(abs(v - 1.0) > 0.3 for v in b["smoke_ratio"].values()) for b in baseline.values())
        extra = f" baseline_nmse50={b50:.3f} baseline_nmse100={b100:.3f} baseline_smoke_misses={b_misses}"
    floor50 = held_median({n: r["floor"]["nmse"] for n, r in results.items()}, 50)
    floor100 = held_median({n: r["floor"]["nmse"] for n, r in results.items()}, 100)
    floor_ratios = [v for r in results.values() for v in r["floor"]["smoke_ratio"].values()]
    floor_misses = sum(
        any(abs(v - 1.0) > 0.3 for v in r["floor"]["smoke_ratio"].values()) for r in results.values()
    )
    misses = sum(any(abs(v - 1.0) > 0.3 for v in r["smoke_ratio"].values()) for r in results.values())
    print(
        f"held-out medians, the solver with semi-Lagrangian advection: {floor50:.3f} / {floor100:.3f}; "
        f"scenes whose total smoke leaves ±30 % of the solver's: model {misses}, that solver {floor_misses} "
        f"(its smoke ratio {min(floor_ratios, default=float('nan')):.2f}.."
        f"{max(floor_ratios, default=float('nan')):.2f})",
        flush=True,
    )
    extra += (
        f" smoke_misses={misses} floor_nmse50={floor50:.3f} floor_nmse100={floor100:.3f} "
        f"floor_smoke_misses={floor_misses}"
    )
    all_ratios = [v for r in results.values() for v in r["smoke_ratio"].values()]
    finite = all(r["finite"] for r in results.values())
    worst_speed = max(r["speed_ratio"] for r in results.values()) if finite else float("inf")

    timings = report_timings(session)
    bounded = {
        name: bounded_share(session, make_scene(name, args.size), args.frames) for name in scene_names()
    }
    for name, share in bounded.items():
        print(f"with Play's bounds, {name}: {share:.3f} % of cells changed per frame (mean)", flush=True)

    print(
        f"RESULT nmse50={nmse50:.3f} nmse100={nmse100:.3f} worst_speed_ratio={worst_speed:.2f} "
        f"smoke_ratio_min={min(all_ratios, default=float('nan')):.2f} "
        f"smoke_ratio_max={max(all_ratios, default=float('nan')):.2f} finite={int(finite)} "
        f"speedup128={timings[128]:.1f} speedup256={timings[256]:.1f} "
        f"bounds_cells_pct={max(bounded.values()):.3f}{extra}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
