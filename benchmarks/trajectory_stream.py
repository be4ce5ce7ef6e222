"""Trajectory surrogate end to end: generate, train the packaged recipe, evaluate, export, stream.

Generates a trajectory dataset (random machines, parametric toolpaths plus the packaged PrusaSlicer sample),
trains the committed ``trajectory_lstm`` recipe on it, evaluates the model on the test split next to the
zero and linear second-order baselines (whole trajectories streamed from a zero state), exports the
streaming ONNX model and times onnxruntime stepping one sample at a time on one CPU thread.

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

from fieldcast.engine.systems.trajectory import iter_write_dataset
from fieldcast.resources import resource_path
from fieldcast.training.events import FinishedEvent, ValidationEvent
from fieldcast.training.models.lstm_export import export_streaming_onnx
from fieldcast.training.sequence import SequenceData, load_sequence_recipe, predict_stream, train_sequence
from fieldcast.training.trajectory_eval import LinearBaseline, error_metrics, format_report, time_per_sample


def _stream_timing(onnx_path: Path, inputs: np.ndarray, hidden: int, layers: int) -> dict[str, float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    x = inputs.astype(np.float32)
    state = {"h": np.zeros((layers, 1, hidden), np.float32), "c": np.zeros((layers, 1, hidden), np.float32)}

    def step(i: int) -> None:
        _, state["h"], state["c"] = sess.run(
            None, {"inputs": x[i % len(x)][None], "h_in": state["h"], "c_in": state["c"]}
        )

    return time_per_sample(step, n=3000, warmup=100)


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

    overrides = {"train.epochs": args.epochs} if args.epochs else {}
    recipe = load_sequence_recipe("trajectory_lstm", overrides)
    t0 = time.perf_counter()
    finished = None
    for event in train_sequence(recipe, data, folder / "run"):
        if isinstance(event, ValidationEvent):
            m = event.metrics
            print(f"epoch {event.epoch + 1}: val rmse {m['rmse_um']:.2f} µm  r2 {m['r2']:.3f}")
        elif isinstance(event, FinishedEvent):
            finished = event
    print(f"trained in {time.perf_counter() - t0:.1f} s ({finished.status}, step {finished.step})")

    from fieldcast.training.checkpoint import load_model

    net, sidecar = load_model(finished.best)
    norm = sidecar["normalisation"]
    train, test = SequenceData(data, "train"), SequenceData(data, "test")
    truth = np.concatenate(test.targets)
    baseline = LinearBaseline.fit(train.inputs, train.targets)
    results = {
        "surrogate": error_metrics(
            np.concatenate([predict_stream(net, x, norm) for x in test.inputs]), truth
        ),
        "linear": error_metrics(np.concatenate([baseline.predict(x) for x in test.inputs]), truth),
        "zero": error_metrics(np.zeros_like(truth), truth),
    }
    onnx_path = export_streaming_onnx(
        net, norm, folder / "trajectory_lstm.onnx", provenance={"checkpoint": str(finished.best)},
        metrics={k: results["surrogate"][k] for k in ("mae_um", "rmse_um", "r2")},
    )  # fmt: skip
    timing = _stream_timing(onnx_path, test.inputs[0], net.config.hidden_size, net.config.num_layers)
    print(f"test: {len(test.inputs)} trajectories, {truth.shape[0]} samples; linear baseline {baseline.kind}")
    print("\n".join(format_report(results, timing)))
    s = results["surrogate"]
    print(
        f"RESULT stream_ms_p50={timing['ms_p50']:.4f} stream_ms_p99={timing['ms_p99']:.4f} "
        f"r2={s['r2']:.4f} mae_um={s['mae_um']:.3f}"
    )


if __name__ == "__main__":
    main()
