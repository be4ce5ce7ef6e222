"""The report of a long run: 10,000 logged steps and 50 validations, each with saved samples, written in
well under 10 s while reading only the samples files the page shows.

A run folder is written as the trainer writes one (``config.yaml``, ``run.json``, ``metrics.jsonl`` with a
step record per logged step and a validation record per epoch, ``checkpoints/best.json``, and
``samples/epoch_NNNN.npz`` of three 128×128 channels per validation), then ``fieldcast report`` is timed on
it. The samples files opened are counted by the engine's reader itself (each open goes through
:func:`fieldcast.engine.run_folder.load_samples`).

Usage::

    python benchmarks/report_large.py [--steps 10000] [--validations 50] [--grid 128] [--keep DIR]

The line before the last gives the samples files read and saved; the last line is
``RESULT seconds=… steps=… validations=…``.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

CHANNELS = ("density", "velocity_x", "velocity_y")


def write_run(folder: Path, steps: int, validations: int, grid: int, seed: int = 0) -> Path:
    """A run folder as the trainer leaves it after ``steps`` logged steps and ``validations`` validations."""
    rng = np.random.default_rng(seed)
    (folder / "samples").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    config = {"name": "long", "system": "smoke", "task": "field_rollout", "model": {"name": "unet"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    status = {
        "name": "long",
        "status": "completed",
        "task": "field_rollout",
        "step": steps,
        "epoch": validations,
    }
    (folder / "run.json").write_text(json.dumps(status))
    (folder / "checkpoints" / "best.json").write_text(
        json.dumps({"system": "smoke", "task": "field_rollout", "monitor": "loss", "step": steps})
    )
    per_epoch = steps // validations
    x = np.linspace(0, 2 * np.pi, grid, dtype=np.float32)
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "start", "step": 0, "epoch": 0, "device": "cpu", "time": 0.0}) + "\n")
        for step in range(1, steps + 1):
            loss = float(np.exp(-step / 3000) + 0.01 * rng.random())
            lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
            f.write(
                json.dumps({"kind": "step", "epoch": step // per_epoch, "step": step, "loss": loss, "lr": lr})
            )
            f.write("\n")
            if step % per_epoch == 0:
                epoch = step // per_epoch
                metrics = {f"mse/{c}": loss * (1 + i) for i, c in enumerate(CHANNELS)}
                record = {"kind": "validation", "epoch": epoch - 1, "step": step, "loss": loss, **metrics}
                record.update(persistence_loss=0.5, rollout={"5": loss * 2, "20": loss * 5})
                f.write(json.dumps(record) + "\n")
                truth = np.stack(
                    [np.sin(x[:, None] * (1 + i) + 0.1 * epoch) * np.cos(x[None, :]) for i in range(3)]
                )
                truth = np.stack([truth, truth[:, ::-1]]).astype(np.float32)  # (2, 3, grid, grid)
                pred = truth + rng.normal(0, np.exp(-epoch / 20), truth.shape).astype(np.float32)
                buf = io.BytesIO()
                losses = rng.gamma(2.0, loss, 64)
                np.savez_compressed(
                    buf, truth=truth, prediction=pred, channels=np.array(CHANNELS), losses=losses, step=step
                )
                (folder / "samples" / f"epoch_{epoch:04d}.npz").write_bytes(buf.getvalue())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--validations", type=int, default=50)
    parser.add_argument("--grid", type=int, default=128)
    parser.add_argument("--keep", type=Path, default=None, help="write the run and its report here")
    args = parser.parse_args()

    import fieldcast.engine.report as report_module
    from fieldcast.engine.report import iter_report

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        run = write_run(root / "long-run", args.steps, args.validations, args.grid)
        saved = len(list((run / "samples").iterdir()))
        opened: list[str] = []
        real_load = report_module.load_samples

        def counting_load(sample, *args, **kwargs):
            opened.append(sample.path.name)
            return real_load(sample, *args, **kwargs)

        report_module.load_samples = counting_load  # every samples file the report opens goes through here
        start, cpu = time.perf_counter(), time.process_time()
        job = iter_report(run, out=root / "report")
        try:
            while True:
                next(job)
        except StopIteration as stop:
            done = stop.value
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        size = done.html.stat().st_size
    print(f"report.html: {size / 1e6:.2f} MB; opened ({len(opened)} of {saved}): {', '.join(opened)}")
    print(
        f"samples_read={len(opened)} samples_saved={saved} distinct={len(set(opened))} cpu_seconds={cpu:.2f}"
    )
    print(f"RESULT seconds={seconds:.2f} steps={args.steps} validations={args.validations}")


if __name__ == "__main__":
    main()
