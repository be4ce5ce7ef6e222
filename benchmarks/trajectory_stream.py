"""Trajectory surrogate on held-out toolpaths and held-out printers, beside its baselines and its ceiling.

Measures an exported trajectory model (default: the shipped ``trajectory_default.onnx``; ``--train`` first
generates data, trains the committed ``trajectory_default`` recipe through the one trainer and exports the
run exactly as ``fieldcast generate`` / ``fieldcast train`` / ``fieldcast export`` do) on test trajectories
that training never saw: new random printers (drawn from the generator's ranges with other seeds), new
parametric toolpaths, and windows of a G-code program written here (a gear, a star and infill with arcs and
``M204`` accelerations), which no training file contains.

Rows, all on the same samples, model alone (its engine session streaming one sample per call):

* ``model``: the exported model (the printer's physics filter plus the learned correction);
* ``physics``: the physics filter alone (:mod:`fieldcast.engine.systems.trajectory.features`);
* ``linear/printer``: the linear ARX/FIR filter fitted by least squares on the evaluated trajectory itself,
  one fit per printer, i.e. the best any linear filter of the reference motion can do for that printer
  with its own measured error (an upper bound of the linear baseline given per-printer information);
* ``linear/pooled``: the same filter fitted once on all training-distribution trajectories (no printer
  information);
* ``zero``: no error;
* ``ceiling``: the same printer and toolpath simulated again with different noise (timer jitter), scored
  against the first simulation: the roof any predictor can reach.

Streaming time is the engine session's ``step`` (physics filter + ONNX step, one CPU thread), per sample.

Usage::

    python benchmarks/trajectory_stream.py [--model FILE | --train] [--printers 24] [--seconds 20]

The last line is ``RESULT r2_x=… r2_y=… mae_um=… linear_mae_um=… ceiling_r2=… stream_ms_p99=…`` where
``linear_mae_um`` is the per-printer linear filter's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fieldcast.engine.sequence_runtime import SequenceSession
from fieldcast.engine.systems.trajectory import PROFILE, TARGETS, sample_machine, simulate_toolpath
from fieldcast.engine.systems.trajectory.baseline import LinearBaseline, error_metrics
from fieldcast.engine.systems.trajectory.features import PhysicsFeatures
from fieldcast.engine.systems.trajectory.gcode import parse_gcode
from fieldcast.engine.systems.trajectory.paths import random_toolpath
from fieldcast.resources import resource_path

_SHOW = ("mae_um", "rmse_um", "r2_x", "r2_y", "p50_um", "p90_um", "p99_um")


def heldout_gcode() -> str:
    """A G-code program unlike the packaged sample: a gear outline, a star, arcs and zig-zag infill."""
    lines = ["; held-out benchmark part", "G21", "G90", "M83", "G28", "G1 Z0.2 F600"]
    for layer in range(3):
        lines.append(f"M204 S{(800, 1500, 3000)[layer]}")
        feed = (2400, 4800, 7200)[layer]
        cx, cy = 80.0 + 20 * layer, 90.0
        teeth = 14
        pts = []
        for k in range(teeth * 4):
            r = 22.0 if (k // 2) % 2 == 0 else 18.0
            a = 2 * np.pi * k / (teeth * 4)
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
        lines.append(f"G0 X{pts[0][0]:.3f} Y{pts[0][1]:.3f} F9000")
        for x, y in pts[1:] + pts[:1]:
            lines.append(f"G1 X{x:.3f} Y{y:.3f} E0.05 F{feed}")
        for k in range(11):  # a five-pointed star, twice round
            a = np.pi / 2 + k * 4 * np.pi / 5
            lines.append(f"G1 X{cx + 12 * np.cos(a):.3f} Y{cy + 12 * np.sin(a):.3f} E0.1 F{feed}")
        lines.append(f"G0 X{cx + 30:.3f} Y{cy:.3f} F9000")
        lines.append(f"G2 X{cx - 30:.3f} Y{cy:.3f} I-30 J0 E1.5 F{feed}")
        lines.append(f"G3 X{cx + 30:.3f} Y{cy:.3f} I30 J0 E1.5 F{feed}")
        for k in range(24):  # infill
            y = cy - 11.5 + k
            xs = (cx - 10, cx + 10) if k % 2 == 0 else (cx + 10, cx - 10)
            lines.append(f"G1 X{xs[0]:.3f} Y{y:.3f} E0.02 F{feed * 1.5:.0f}")
            lines.append(f"G1 X{xs[1]:.3f} Y{y:.3f} E0.3 F{feed * 1.5:.0f}")
        lines.append(f"G1 Z{0.4 + 0.2 * layer:.2f} F600")
    return "\n".join(lines) + "\n"


def test_cases(n: int, seconds: float, seed: int) -> list[tuple[str, dict, dict, int]]:
    """``(kind, simulation, re-simulation with other noise, printer index)`` of held-out trajectories."""
    gcode = parse_gcode(heldout_gcode(), "heldout.gcode")
    cases = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        machine = sample_machine(rng)
        if i % 3 == 2:
            path, kind = gcode, "gcode"
        else:
            path, kind = random_toolpath(rng, seconds + 1.0), "parametric"
        sim = simulate_toolpath(path, machine, rng=np.random.default_rng([seed, i, 1]))
        again = simulate_toolpath(path, machine, rng=np.random.default_rng([seed, i, 2]))
        cases.append((kind, _cut(sim, seconds), _cut(again, seconds), i))
    return cases


def _cut(sim: dict, seconds: float) -> dict:
    n = int(round(seconds * 100))
    return {k: v[:n] for k, v in sim.items()}


def pooled_linear(n: int, seconds: float, seed: int) -> LinearBaseline:
    """The linear filter fitted on ``n`` training-distribution trajectories (no printer information)."""
    xs, ys = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, 10_000 + i])
        sim = simulate_toolpath(random_toolpath(rng, seconds), sample_machine(rng), rng=rng)
        xs.append(np.column_stack([sim[c] for c in ("x_ref", "y_ref", "vx_ref", "vy_ref")]))
        ys.append(np.column_stack([sim[c] for c in TARGETS]))
    return LinearBaseline.fit(xs, ys)


def train_shipped(folder: Path) -> Path:
    """Generate, train the ``trajectory_default`` recipe and export it, as its comment's commands do."""
    from fieldcast.engine.systems.trajectory import iter_write_dataset
    from fieldcast.training.export import export_run
    from fieldcast.training.runs import Curriculum

    data = folder / "traj_default.h5"
    gcode = str(resource_path("gcode", "calibration_square_prusaslicer.gcode"))
    for _ in iter_write_dataset(data, 160, 2000, seed=23, gcode=gcode, gcode_fraction=0.25):
        pass
    finished = None
    for event in Curriculum("trajectory_default", [], folder / "runs", data=str(data)).run(device="cpu"):
        finished = event
    for _ in export_run(finished.run_dir):
        pass
    return finished.run_dir / "model.onnx"


def stream_timing(session: SequenceSession, inputs: np.ndarray, n: int = 4000) -> dict[str, float]:
    """Milliseconds per sample of ``session.step`` (physics filter + ONNX), state carried, after a warm-up."""
    x = inputs.astype(np.float32)
    state = session.initial_state()
    for i in range(200):
        _, state = session.step(x[i % len(x)], state)
    ms = np.empty(n)
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        _, state = session.step(x[i % len(x)], state)
        ms[i] = (clock() - t0) * 1000.0
    return {"p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="exported trajectory model (default: the shipped one)")
    parser.add_argument("--train", action="store_true", help="generate, train and export the recipe first")
    parser.add_argument("--printers", type=int, default=24, help="held-out printers (one trajectory each)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per trajectory at 100 Hz")
    parser.add_argument("--seed", type=int, default=2323, help="seed of the held-out set")
    args = parser.parse_args()
    if args.train:
        path = train_shipped(Path(tempfile.mkdtemp(prefix="traj_bench_")))
    else:
        path = Path(args.model or resource_path("models", "trajectory_default.onnx"))
    session = SequenceSession(path, providers=["CPUExecutionProvider"], threads=1)
    names = list(session.info.input_channels)
    physics_names = ["x_ref", "y_ref", "vx_ref", "vy_ref", *PROFILE]
    physics = PhysicsFeatures(physics_names, 0.01)
    linear = pooled_linear(24, args.seconds, args.seed)
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("model", "physics", "linear/printer", "linear/pooled", "zero", "ceiling")
    }
    truths, kinds = [], []
    t0 = time.perf_counter()
    for kind, sim, again, _ in test_cases(args.printers, args.seconds, args.seed):
        raw = np.column_stack([sim[c] for c in names])
        motion = np.column_stack([sim[c] for c in ("x_ref", "y_ref", "vx_ref", "vy_ref")])
        truth = np.column_stack([sim[c] for c in TARGETS])
        rows["model"].append(session.predict(raw))
        rows["physics"].append(physics.transform(np.column_stack([sim[c] for c in physics_names]))[1])
        rows["linear/printer"].append(LinearBaseline.fit([motion], [truth]).predict(motion))
        rows["linear/pooled"].append(linear.predict(motion))
        rows["zero"].append(np.zeros_like(truth))
        rows["ceiling"].append(np.column_stack([again[c] for c in TARGETS]))
        truths.append(truth)
        kinds.append(kind)
    truth = np.concatenate(truths)
    print(
        f"{path.name}: {len(truths)} held-out printers ({kinds.count('gcode')} on held-out G-code), "
        f"{truth.shape[0]} samples, evaluated in {time.perf_counter() - t0:.1f} s"
    )
    print(f"{'predictor':16s}" + "".join(f"{k:>10s}" for k in _SHOW))
    metrics = {}
    for name, preds in rows.items():
        metrics[name] = error_metrics(np.concatenate(preds), truth)
        print(f"{name:16s}" + "".join(f"{metrics[name][k]:10.3f}" for k in _SHOW))
    for kind in ("parametric", "gcode"):
        pick = [i for i, k in enumerate(kinds) if k == kind]
        if pick:
            sub = np.concatenate([truths[i] for i in pick])
            m = error_metrics(np.concatenate([rows["model"][i] for i in pick]), sub)
            lin = error_metrics(np.concatenate([rows["linear/printer"][i] for i in pick]), sub)
            print(
                f"  {kind}: model mae {m['mae_um']:.3f} µm r2_x {m['r2_x']:.3f} r2_y {m['r2_y']:.3f}; "
                f"linear/printer mae {lin['mae_um']:.3f} µm"
            )
    timing = stream_timing(session, raw)
    print(f"streaming: {timing['p50']:.4f} ms/sample median, {timing['p99']:.4f} ms p99 (one CPU thread)")
    m, lin = metrics["model"], metrics["linear/printer"]
    ceiling = metrics["ceiling"]
    print(
        f"RESULT r2_x={m['r2_x']:.4f} r2_y={m['r2_y']:.4f} mae_um={m['mae_um']:.3f} "
        f"linear_mae_um={lin['mae_um']:.3f} ceiling_r2={min(ceiling['r2_x'], ceiling['r2_y']):.4f} "
        f"stream_ms_p99={timing['p99']:.4f}"
    )


if __name__ == "__main__":
    main()
