"""Trainer overhead: per-step time of the Fieldcast trainer next to a bare PyTorch loop, for two tasks.

- **field** (task ``field_rollout``): a UNet with a two-step rollout, MSE + divergence loss, gradient
  clipping and Adam, on one fixed window repeated (every batch is the same).
- **sequence** (task ``sequence``): the trajectory LSTM (``trajectory_lstm``'s model) with the hybrid loss
  after a warm-up, gradient clipping and AdamW, on windows of one simulated printer trajectory.

For each task the trainer reads an in-memory dataset (the engine dataset API), writes metrics.jsonl every
10 steps and yields its events as in the app; the bare loop, written out below, trains the same model on
the same batches (indexing the same in-memory windows). The two run in one process, alternating blocks of
steps so that machine load affects both alike, and medians of the per-step times are compared. The last
line is ``RESULT field_ratio=... sequence_ratio=...`` (target: both <= 1.10).

Usage: ``python benchmarks/trainer_overhead.py [--steps 120] [--grid 32] [--threads 1] [--rounds 4]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from fieldcast.engine.systems import get_spec
from fieldcast.training.config import recipe_from_dict
from fieldcast.training.events import StepEvent
from fieldcast.training.losses import hybrid
from fieldcast.training.models import build_model
from fieldcast.training.trainer import Trainer

HISTORY, K, BATCH = 2, 2, 4  # field task
SEQ_LEN, WARMUP, SEQ_BATCH = 50, 10, 64  # sequence task
LSTM_ARGS = {"encoder_size": 32, "hidden_size": 56, "num_layers": 2, "dropout": 0.0}


# ---------------------------------------------------------------- in-memory datasets (engine API)


class FieldMemory:
    """The engine dataset API over one fixed window (so the trainer and the bare loop see the same batch)."""

    def __init__(self, window: np.ndarray, n_windows: int = 64) -> None:
        self.spec = get_spec("smoke")
        self.channel_names = self.spec.channel_names()
        self.window = window
        self.n_frames = window.shape[0]
        self.grid = window.shape[-2:]
        self.dt = 1.0
        self.stats = {"mean": window.mean(axis=(0, 2, 3)), "std": window.std(axis=(0, 2, 3)) + 1e-3}
        self.n_windows = n_windows

    def windows(self, split: str, length: int) -> list[tuple[int, int]]:
        return [(i, 0) for i in range(self.n_windows)] if split == "train" else []

    def read_window(self, traj: int, start: int, length: int) -> np.ndarray:
        return self.window[start : start + length]


class SequenceMemory:
    """The engine dataset API over ``n`` copies of one simulated trajectory of ``SEQ_LEN`` samples."""

    def __init__(self, samples: np.ndarray, n: int = 1024) -> None:
        self.spec = get_spec("trajectory")
        self.channel_names = self.spec.channel_names()
        self.samples = samples  # (T, C, 1, 1)
        self.grid = (1, 1)
        self.dt = self.spec.dt
        self.n = n

    def split_segments(self, split: str) -> list[tuple[int, int, int]]:
        return [(i, 0, len(self.samples)) for i in range(self.n)] if split == "train" else []

    def read_window(self, traj: int, start: int, length: int) -> np.ndarray:
        return self.samples[start : start + length]


def make_window(grid: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.random((HISTORY + K, 5, grid, grid), dtype=np.float32)
    w[:, 3:] = (w[:, 3:] > 0.9).astype(np.float32)  # masks
    return w


def make_trajectory() -> np.ndarray:
    from fieldcast.engine.systems.trajectory import simulate_trajectory

    fields = simulate_trajectory(0, SEQ_LEN)
    names = get_spec("trajectory").channel_names()
    return np.stack([fields[n] for n in names], axis=1)  # (T, C, 1, 1)


# ---------------------------------------------------------------- the bare loops


def bare_field(model: torch.nn.Module, window: torch.Tensor, stats) -> Callable[[], None]:
    """One optimizer step of the field task written directly in PyTorch."""
    mean = torch.as_tensor(stats["mean"]).view(1, -1, 1, 1)
    std = torch.as_tensor(stats["std"]).view(1, -1, 1, 1)
    in_idx = [0, 1, 2, 0, 3, 4]
    in_mean, in_std = mean[:, in_idx], std[:, in_idx]
    out_mean, out_std = mean[:, :3], std[:, :3]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    w = torch.tensor([1.1**k for k in range(K)])
    w = w / w.sum()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        frames = [window[:, 0, :3], window[:, 1, :3]]
        loss = 0.0
        for k in range(K):
            t = HISTORY - 1 + k
            x = torch.cat([frames[-1], frames[-2][:, :1], window[:, t, 3:]], dim=1)
            pred = model((x - in_mean) / in_std) * out_std + out_mean
            fluid = (window[:, t + 1, 4:5] <= 0.5).float()
            pred = torch.cat([pred[:, :1].clamp(min=0), pred[:, 1:] * fluid], dim=1)
            target = window[:, t + 1, :3]
            mse = (((pred - target) / out_std) ** 2).mean()
            vx, vy = pred[:, 1], pred[:, 2]
            div = (vx[:, 2:, 1:-1] - vx[:, :-2, 1:-1]) / 2 + (vy[:, 1:-1, 2:] - vy[:, 1:-1, :-2]) / 2
            loss = loss + w[k] * (mse + 0.001 * div.pow(2).mean())
            frames.append(pred)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()

    return step


def bare_sequence(model: torch.nn.Module, xw: torch.Tensor, yw: torch.Tensor) -> Callable[[], None]:
    """One optimizer step of the sequence task written directly in PyTorch (random batch of the windows)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        idx = torch.randint(0, xw.shape[0], (SEQ_BATCH,), generator=gen)
        opt.zero_grad(set_to_none=True)
        pred = model(xw[idx])[:, WARMUP:]
        loss = hybrid(pred, yw[idx, WARMUP:], alpha=0.7)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()

    return step


# ---------------------------------------------------------------- timing


def interleave(job: Iterator, bare: Callable[[], None], steps: int, rounds: int) -> tuple[list, list]:
    """Alternate blocks of trainer steps and bare steps; returns per-step seconds of each."""
    per_round = max(1, steps // rounds)
    trainer_times: list[float] = []
    bare_times: list[float] = []
    warm = 5
    for _ in range(rounds):
        last, seen = None, 0
        for event in job:
            if not isinstance(event, StepEvent):
                continue
            now = time.perf_counter()
            if last is not None and warm <= 0:
                trainer_times.append(now - last)
            warm, last, seen = warm - 1, now, seen + 1
            if seen > per_round:
                break
        for _ in range(per_round):
            t0 = time.perf_counter()
            bare()
            bare_times.append(time.perf_counter() - t0)
    return trainer_times, bare_times


def report(name: str, trainer_times: list[float], bare_times: list[float], what: str) -> float:
    t_ms = statistics.median(trainer_times) * 1e3
    b_ms = statistics.median(bare_times) * 1e3
    print(f"{name}: {what}, {len(trainer_times)} trainer steps, {len(bare_times)} bare steps")
    print(f"  trainer: median {t_ms:.2f} ms, p90 {np.percentile(trainer_times, 90) * 1e3:.2f} ms")
    print(f"  bare:    median {b_ms:.2f} ms, p90 {np.percentile(bare_times, 90) * 1e3:.2f} ms")
    print(f"  ratio {t_ms / b_ms:.3f}")
    return t_ms / b_ms


def field_case(args, tmp: Path) -> float:
    window = make_window(args.grid)
    data = FieldMemory(window)
    model_args = {
        "depth": 2,
        "base_width": 16,
        "norm": "instance",
        "activation": "gelu",
        "bottleneck_blocks": 1,
    }
    recipe = recipe_from_dict(
        {
            "system": "smoke",
            "data": {"batch_size": BATCH, "history_channels": ["density"]},
            "model": {"name": "unet", "args": model_args},
            "loss": {"mse": 1.0, "divergence": 0.001},
            "rollout": {"steps": K, "gamma": 1.1, "solid_mask": "collider", "nonnegative": ["density"]},
            "optim": {"lr": 1e-4, "grad_clip": 1.0},
            "train": {"epochs": 1000, "validate_every": 0, "log_every": 10, "device": "cpu"},
        },
        source="benchmark",
    )
    torch.manual_seed(0)
    model = build_model("unet", {**model_args, "in_channels": 6, "out_channels": 3})
    batch = torch.from_numpy(window).unsqueeze(0).repeat(BATCH, 1, 1, 1, 1)
    bare = bare_field(model, batch, data.stats)
    for _ in range(5):
        bare()  # warm-up
    job = Trainer(recipe, data, tmp / "field").run()
    times = interleave(job, bare, args.steps, args.rounds)
    job.close()
    return report("field", *times, f"UNet, grid {args.grid}x{args.grid}, batch {BATCH}, K={K}")


def sequence_case(args, tmp: Path) -> float:
    data = SequenceMemory(make_trajectory())
    recipe = recipe_from_dict(
        {
            "system": "trajectory",
            "task": "sequence",
            "data": {"batch_size": SEQ_BATCH},
            "sequence": {"seq_len": SEQ_LEN, "stride": SEQ_LEN, "warmup": WARMUP},
            "model": {"name": "lstm", "args": LSTM_ARGS},
            "loss": {"mse": 0.0, "hybrid": 1.0, "hybrid_alpha": 0.7},
            "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 1.0},
            "train": {"epochs": 1000, "validate_every": 0, "log_every": 10, "device": "cpu", "amp": False},
        },
        source="benchmark",
    )
    trainer = Trainer(recipe, data, tmp / "sequence")
    xw, yw = trainer.train_set.tensors  # the trainer's own normalised windows
    torch.manual_seed(0)
    model = build_model("lstm", {**LSTM_ARGS, "input_size": 4, "output_size": 2})
    bare = bare_sequence(model, xw, yw)
    for _ in range(5):
        bare()
    job = trainer.run()
    times = interleave(job, bare, args.steps, args.rounds)
    job.close()
    what = f"LSTM {LSTM_ARGS['num_layers']}x{LSTM_ARGS['hidden_size']}, {SEQ_BATCH} windows of {SEQ_LEN}"
    return report("sequence", *times, what)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120, help="measured steps per loop and task")
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4, help="alternating blocks per loop")
    parser.add_argument("--repeats", type=int, default=3, help="whole measurements per task (median ratio)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}")
    ratios: dict[str, list[float]] = {"field": [], "sequence": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            ratios["field"].append(field_case(args, Path(tmp) / f"r{r}"))
            ratios["sequence"].append(sequence_case(args, Path(tmp) / f"r{r}"))
    field, sequence = (statistics.median(ratios[k]) for k in ("field", "sequence"))
    print(f"RESULT field_ratio={field:.3f} sequence_ratio={sequence:.3f}")


if __name__ == "__main__":
    main()
