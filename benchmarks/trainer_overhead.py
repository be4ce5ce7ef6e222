"""Trainer overhead: per-step time of the Fieldcast trainer next to a bare PyTorch loop.

Both train the same UNet on the same batch with the same two-step rollout, MSE + divergence loss, gradient
clipping and Adam, in one process, alternating blocks of steps so machine load affects both alike. The
trainer runs from an in-memory dataset that returns that batch's window for every index, writes
metrics.jsonl every 10 steps and yields its events as in the app. Prints medians; the last line is
``RESULT trainer_ms=... bare_ms=... ratio=...`` (target ratio <= 1.10).

Usage: ``python benchmarks/trainer_overhead.py [--steps 120] [--grid 32] [--threads 1]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fieldcast.engine.systems import get_spec
from fieldcast.training.config import recipe_from_dict
from fieldcast.training.events import StepEvent
from fieldcast.training.models import build_model
from fieldcast.training.trainer import Trainer

HISTORY, K, BATCH = 2, 2, 4


class MemoryDataset:
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


def make_window(grid: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.random((HISTORY + K, 5, grid, grid), dtype=np.float32)
    w[:, 3:] = (w[:, 3:] > 0.9).astype(np.float32)  # masks
    return w


def bare_loop(model, window: torch.Tensor, stats, steps: int, lr: float) -> list[float]:
    """The same optimisation written directly in PyTorch; returns per-step seconds."""
    mean = torch.as_tensor(stats["mean"]).view(1, -1, 1, 1)
    std = torch.as_tensor(stats["std"]).view(1, -1, 1, 1)
    in_idx = [0, 1, 2, 0, 3, 4]
    in_mean, in_std = mean[:, in_idx], std[:, in_idx]
    out_mean, out_std = mean[:, :3], std[:, :3]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    w = torch.tensor([1.1**k for k in range(K)])
    w = w / w.sum()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
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
        times.append(time.perf_counter() - t0)
    return times


def interleave(job, bare_model, batch, stats, steps: int, rounds: int) -> tuple[list[float], list[float]]:
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
        bare_times += bare_loop(bare_model, batch, stats, per_round, 1e-4)
    return trainer_times, bare_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120, help="measured steps per loop")
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4, help="alternating blocks per loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    window = make_window(args.grid)
    data = MemoryDataset(window)
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
    bare_model = build_model("unet", {**model_args, "in_channels": 6, "out_channels": 3})
    batch = torch.from_numpy(window).unsqueeze(0).repeat(BATCH, 1, 1, 1, 1)
    with tempfile.TemporaryDirectory() as tmp:
        job = Trainer(recipe, data, Path(tmp) / "run").run()
        bare_loop(bare_model, batch, data.stats, 5, 1e-4)  # warm-up
        trainer_times, bare_times = interleave(job, bare_model, batch, data.stats, args.steps, args.rounds)
        job.close()
    t_ms = statistics.median(trainer_times) * 1e3
    b_ms = statistics.median(bare_times) * 1e3
    print(
        f"grid {args.grid}x{args.grid}, batch {BATCH}, K={K}, threads {args.threads}, "
        f"{len(trainer_times)} trainer steps, {len(bare_times)} bare steps"
    )
    print(f"trainer: median {t_ms:.2f} ms, p90 {np.percentile(trainer_times, 90) * 1e3:.2f} ms")
    print(f"bare:    median {b_ms:.2f} ms, p90 {np.percentile(bare_times, 90) * 1e3:.2f} ms")
    print(f"RESULT trainer_ms={t_ms:.2f} bare_ms={b_ms:.2f} ratio={t_ms / b_ms:.3f}")


if __name__ == "__main__":
    main()
