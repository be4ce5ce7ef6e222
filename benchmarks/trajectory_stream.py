"""Trajectory surrogate end to end: generate, train the packaged recipe, evaluate, export, stream.

Generates a trajectory dataset (random machines, parametric toolpaths plus the packaged PrusaSlicer sample),
trains the committed ``trajectory_lstm`` recipe on it through the one trainer (task ``sequence``, exactly
as ``fieldcast train trajectory_lstm --data FILE``), evaluates the best checkpoint on the test split next to
the zero and linear second-order baselines (whole trajectories streamed from a zero state), exports the run
as ``fieldcast export RUN`` does and times the engine's streaming session stepping one sample at a time on
one CPU thread.

Usage::

    python benchmarks/trajectory_stream.py [--trajectories 24] [--frames 2000] [--epochs N] [--out DIR]

The last line is ``RESULT stream_ms_p50=... stream_ms_p99=... r2=... mae_um=...`` (the surrogate's test R²
and MAE in µm).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fieldcast.engine.data import open_dataset
from fieldcast.engine.sequence_runtime import SequenceSession
from fieldcast.engine.systems.trajectory import INPUTS, TARGETS, iter_write_dataset
from fieldcast.resources import resource_path
from fieldcast.training.checkpoint import load_model
from fieldcast.training.events import FinishedEvent, ValidationEvent
from fieldcast.training.export import export_run
from fieldcast.training.runs import Curriculum
from fieldcast.training.tasks.sequence import predict_stream
from fieldcast.training.trajectory_eval import LinearBaseline, error_metrics, format_report, time_per_sample


def split_arrays(path: Path, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Whole trajectories of ``split``: inputs (T, 4) and targets (T, 2), as the sequence task reads them."""
    with open_dataset(path) as ds:
        names = list(ds.channel_names)
        i_in, i_out = [names.index(n) for n in INPUTS], [names.index(n) for n in TARGETS]
        xs, ys = [], []
        for traj, start, stop in ds.split_segments(split):
            w = ds.read_window(traj, start, stop - start)[:, :, 0, 0].astype(np.float64)  # (T, C)
            xs.append(w[:, i_in])
            ys.append(w[:, i_out])
    return xs, ys


def stream_timing(onnx_path: Path, inputs: np.ndarray) -> dict[str, float]:
    """Milliseconds per sample of the engine's streaming session, one thread, state carried."""
    session = SequenceSession(onnx_path, providers=["CPUExecutionProvider"], threads=1)
    x = inputs.astype(np.float32)
    state = {"s": session.initial_state()}

    def step(i: int) -> None:
        _, state["s"] = session.step(x[i % len(x)], state["s"])

    return time_per_sample(step, n=3000, warmup=100)


def train(data: Path, runs: Path, epochs: int | None) -> FinishedEvent:
    overrides = [f"train.epochs={epochs}"] if epochs else []
    finished = None
    for event in Curriculum("trajectory_lstm", overrides, runs, data=str(data)).run(device="cpu"):
        if isinstance(event, ValidationEvent):
            m = event.metrics
            print(
                f"epoch {event.epoch + 1}: val rmse {m['rmse_um']:.2f} µm  r2 {m['r2']:.3f}  "
                f"(zero {m['zero_rmse_um']:.2f}, linear {m.get('linear_rmse_um', float('nan')):.2f})"
            )
        elif isinstance(event, FinishedEvent):
            finished = event
    return finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=24)
    parser.add_argument("--frames", type=int, default=2000, help="samples per trajectory at 100 Hz")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep dataset, run and model here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="traj_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "traj.h5"
    gcode = str(resource_path("gcode", "calibration_square_prusaslicer.gcode"))
    t0 = time.perf_counter()
    for _ in iter_write_dataset(
        data, args.trajectories, args.frames, seed=args.seed, gcode=gcode, gcode_fraction=0.25
    ):
        pass
    print(f"generated {args.trajectories} × {args.frames} samples in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    finished = train(data, folder / "runs", args.epochs)
    print(f"trained in {time.perf_counter() - t0:.1f} s ({finished.status}, step {finished.step})")

    net, sidecar = load_model(finished.best)
    norm = sidecar["normalisation"]
    (train_x, train_y), (test_x, test_y) = split_arrays(data, "train"), split_arrays(data, "test")
    truth = np.concatenate(test_y)
    baseline = LinearBaseline.fit(train_x, train_y)
    streamed = [predict_stream(net, x, norm) for x in test_x]
    results = {
        "surrogate": error_metrics(np.concatenate(streamed), truth),
        "linear": error_metrics(np.concatenate([baseline.predict(x) for x in test_x]), truth),
        "zero": error_metrics(np.zeros_like(truth), truth),
    }
    for _ in export_run(finished.run_dir):  # what `fieldcast export RUN` runs
        pass
    onnx_path = finished.run_dir / "model.onnx"
    session = SequenceSession(onnx_path, providers=["CPUExecutionProvider"], threads=1)
    parity = float(np.max(np.abs(session.predict(test_x[0]) - streamed[0])))
    timing = stream_timing(onnx_path, test_x[0])
    print(f"test: {len(test_x)} trajectories, {truth.shape[0]} samples; linear baseline {baseline.kind}")
    print(f"exported {onnx_path}: streamed ONNX vs torch max |diff| {parity:.2e} µm")
    print("\n".join(format_report(results, timing)))
    s = results["surrogate"]
    print(
        f"RESULT stream_ms_p50={timing['ms_p50']:.4f} stream_ms_p99={timing['ms_p99']:.4f} "
        f"r2={s['r2']:.4f} mae_um={s['mae_um']:.3f}"
    )


if __name__ == "__main__":
    main()
