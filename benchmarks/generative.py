"""Benchmark: the shipped thermal-imaging models (infrared and radio) on held-out conditions.

For each source, ``--conditions`` held-out (condition, truth) pairs are drawn by the system's own
generator (``simulate_trajectory`` of ``fieldcast.engine.systems.thermal_imaging``, trajectories shaped
like the training data's) from a seed no training data used, or read from the test split of
``--ir-data`` / ``--radio-data`` when given. The shipped diffusion model generates one map per condition
(deterministic DDIM, its default steps, seed = condition index) and its regression baseline (the same
network trained with plain MSE, no noise input) answers once. Both are scored on maps scaled to [0, 1] by
the diffusion model's training range of the target (:mod:`fieldcast.engine.generative_metrics`): NMSE,
SSIM, PSNR. That is the RadioMapSeer papers' convention, ``NMSE = |pred - truth|^2 / |truth|^2`` on maps in
[0, 1] with 0 at the floor: for radio maps 0 is the noise floor (-100 dBm) and 1 the strongest training
value; for infrared frames 0 is a dark pixel and 1 the brightest training reading. Beside NMSE (the mean
over maps of each map's ratio) the printed lines give the pooled ratio (all errors over all truths), which
maps with little signal sway less. ``--compare FILE`` scores more models of either source on the same
conditions (a line each, not in the RESULT line). The time of one diffusion sample at the model's grid is
the median over the conditions, on ``--threads`` ONNX Runtime threads (default 1).

Goals: a better SSIM than the regression baseline for both sources, radio NMSE <= 0.05, one sample <= 0.5 s.

Run: ``python benchmarks/generative.py [--conditions 32] [--threads 1] [--ir-data F] [--radio-data F]
[--compare FILE ...]``. Ends with ``RESULT ir_nmse=… ir_ssim=… ir_psnr_db=… ir_baseline_nmse=…
ir_baseline_ssim=… ir_ms_per_sample=… ir_steps=… radio_nmse=… radio_ssim=… radio_psnr_db=…
radio_baseline_nmse=… radio_baseline_ssim=… radio_ms_per_sample=… radio_steps=…``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fieldcast.engine.evaluate_generative import read_pairs, score
from fieldcast.engine.generative import GenerativeSession
from fieldcast.engine.generative_metrics import to_unit_range
from fieldcast.resources import resource_path

HELD_OUT_SEED = 20261208  # never used to generate training data
FRAMES = {"ir": 12, "radio": 8}  # pairs per trajectory, as in the shipped models' training data
MODELS = {
    "ir": ("thermal_ir_default.onnx", "ir_regression.onnx"),
    "radio": ("radio_default.onnx", "radio_regression.onnx"),
}


def held_out(source: str, info, n: int, data: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Conditions (n, C, nx, ny) in the model's channel order and truths (n, nx, ny), and where from."""
    if data is not None:
        from fieldcast.engine.data import open_dataset
        from fieldcast.engine.evaluate_generative import check_generative_fit

        ds = open_dataset(data)
        ci, ti = check_generative_fit(info, ds, data)
        conds, truths = read_pairs(ds, "test", ci, ti, n)
        return conds, truths, f"test split of {data.name}"
    from fieldcast.engine.systems.thermal_imaging import simulate_trajectory

    # trajectories shaped like the training data's (radio: one city, several transmitters; ir: the frames of
    # one melt run), from seeds no training data used
    frames = FRAMES[source]
    conds, truths, k = [], [], 0
    while len(conds) < n:
        traj = simulate_trajectory([HELD_OUT_SEED, k], frames, info.grid[0], source=source)
        for f in range(frames):
            conds.append(np.stack([traj[c][f] for c in info.condition_channels]).astype(np.float32))
            truths.append(np.asarray(traj[info.target][f], np.float64))
        k += 1
    conds, truths = conds[:n], truths[:n]
    return np.stack(conds), np.stack(truths), f"generator, held-out seed {HELD_OUT_SEED}"


def generate(session: GenerativeSession, conds: np.ndarray) -> tuple[np.ndarray, float]:
    """One map per condition (seed = condition index) and the median ms per sample."""
    preds, ms = [], []
    session.sample(conds[0], seed=0)  # warm-up: the first call of a session pays for its allocations
    for i, c in enumerate(conds):
        t0 = time.perf_counter()
        preds.append(session.sample(c, n=1, seed=i)[0])
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.stack(preds), float(np.median(ms))


def pooled_nmse(pred: np.ndarray, truth: np.ndarray, rng: tuple[float, float]) -> float:
    """Sum of squared errors over the sum of squared truths, all maps together, in [0, 1] of ``rng``."""
    p, t = to_unit_range(pred, *rng), to_unit_range(truth, *rng)
    return float(((p - t) ** 2).sum() / (t**2).sum())


def describe(session: GenerativeSession) -> str:
    info = session.info
    if not info.is_diffusion:
        return "regression"
    how = f"diffusion {info.default_steps} DDIM steps"
    return how + (f", correcting {info.mean_model.get('file', 'a regression')}" if info.residual else "")


def measure(
    source: str, folder: Path, n: int, threads: int, data: Path | None, compare: list[Path]
) -> dict[str, float]:
    main, baseline = (GenerativeSession(folder / name, threads=threads) for name in MODELS[source])
    conds, truths, origin = held_out(source, main.info, n, data)
    pred, ms = generate(main, conds)
    base = np.stack([baseline.sample(c, n=1)[0] for c in conds])
    rng = main.info.data_range
    m, b = score(pred, truths, rng), score(base, truths, rng)
    print(
        f"{source}: {len(conds)} conditions ({origin}); {MODELS[source][0]} ({describe(main)}): "
        f"NMSE {m['nmse']:.4f} (pooled {pooled_nmse(pred, truths, rng):.4f}) SSIM {m['ssim']:.4f} "
        f"PSNR {m['psnr_db']:.2f} dB, {ms:.0f} ms/sample; regression baseline: NMSE {b['nmse']:.4f} "
        f"(pooled {pooled_nmse(base, truths, rng):.4f}) SSIM {b['ssim']:.4f} PSNR {b['psnr_db']:.2f} dB"
    )
    for path in compare:
        other = GenerativeSession(path, threads=threads)
        if other.info.source != main.info.source:
            continue
        p, t = generate(other, conds)
        o = score(p, truths, rng)
        print(
            f"{source}: compared {path.parent.name}/{path.name} ({describe(other)}): NMSE {o['nmse']:.4f} "
            f"(pooled {pooled_nmse(p, truths, rng):.4f}) SSIM {o['ssim']:.4f} "
            f"PSNR {o['psnr_db']:.2f} dB, {t:.0f} ms/sample"
        )
    return {
        "nmse": m["nmse"],
        "ssim": m["ssim"],
        "psnr_db": m["psnr_db"],
        "baseline_nmse": b["nmse"],
        "baseline_ssim": b["ssim"],
        "ms_per_sample": ms,
        "steps": main.info.default_steps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=32, help="held-out conditions per source")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    parser.add_argument("--models", type=Path, default=None, help="folder of the models (default: shipped)")
    parser.add_argument("--ir-data", type=Path, default=None, help="score on this file's test split")
    parser.add_argument("--radio-data", type=Path, default=None, help="score on this file's test split")
    parser.add_argument(
        "--compare", type=Path, action="append", default=[], help="another model to score (repeatable)"
    )
    args = parser.parse_args(argv)
    folder = args.models or resource_path("models")
    r = {
        "ir": measure("ir", folder, args.conditions, args.threads, args.ir_data, args.compare),
        "radio": measure("radio", folder, args.conditions, args.threads, args.radio_data, args.compare),
    }
    for source, v in r.items():
        better = "met" if v["ssim"] > v["baseline_ssim"] else "missed"
        speed = "met" if v["ms_per_sample"] <= 500 else "missed"
        print(f"goal {source}: SSIM above the regression baseline {better}; one sample <= 0.5 s {speed}")
    print(f"goal radio: NMSE <= 0.05 {'met' if r['radio']['nmse'] <= 0.05 else 'missed'}")
    keys = ("nmse", "ssim", "psnr_db", "baseline_nmse", "baseline_ssim", "ms_per_sample", "steps")
    fields = []
    for source in ("ir", "radio"):
        for k in keys:
            v = r[source][k]
            fields.append(f"{source}_{k}={v}" if k == "steps" else f"{source}_{k}={v:.4g}")
    print("RESULT " + " ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
