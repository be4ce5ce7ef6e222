"""Speed of an exported generative model: ms per denoising step and per sample, at the model's grid.

The condition is a smooth synthetic map per channel (the training mean plus a bump of one training std), so
no dataset is needed. Whole samples of the model's default DDIM steps (one call for a regression model) are
drawn through :class:`~fieldcast.engine.generative.GenerativeSession` after unmeasured ones; each
denoising call is timed through the session's step callback and the bare ``session.run`` of the same inputs is
timed beside it for the overhead. The figures use the keys of the other kinds' bench results, a "step" being
one denoising call, plus ``ms_per_sample_*`` and ``denoise_steps``.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress

__all__ = ["iter_bench_generative", "synthetic_condition"]


def synthetic_condition(info) -> np.ndarray:
    """A (C, nx, ny) condition in physical units: the training mean plus a Gaussian bump of one std."""
    nx, ny = info.grid
    x = np.arange(nx)[:, None] / nx
    y = np.arange(ny)[None, :] / ny
    bump = np.exp(-((x - 0.4) ** 2 + (y - 0.6) ** 2) / 0.02)
    norm = info.normalisation
    c = len(info.condition_channels)
    mean = np.asarray(norm.get("condition_mean", [0.0] * c), np.float64)
    std = np.asarray(norm.get("condition_std", [1.0] * c), np.float64)
    return (mean[:, None, None] + std[:, None, None] * bump[None]).astype(np.float32)


def iter_bench_generative(
    path: str | Path,
    steps: int = 200,
    warmup: int = 20,
    providers: list[str] | None = None,
    threads: int | None = None,
    token: CancelToken | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Time at least ``steps`` denoising calls (whole samples; a regression model: ``steps`` calls) after
    at least ``warmup`` unmeasured ones; returns the figures (see the module docstring)."""
    import onnxruntime as ort

    from fieldcast.engine.bench import _bare_options, count_flops
    from fieldcast.engine.generative import GenerativeSession

    token = token or CancelToken()
    threads = max(1, int(threads or 1))
    session = GenerativeSession(path, providers, threads)
    info = session.info
    bare = ort.InferenceSession(str(path), sess_options=_bare_options(threads), providers=session.providers)
    cond = synthetic_condition(info)
    per = info.default_steps if info.is_diffusion else 1
    samples = max(1, -(-int(steps) // per))
    warmup = -(-max(0, int(warmup)) // per)
    ticks: list[float] = []

    def tick(step: int, total: int, x0: np.ndarray) -> bool:
        ticks.append(time.perf_counter())
        return not token.cancelled

    for k in range(warmup):
        session.sample(cond, n=1, seed=k)
    per_sample, per_step, outputs = [], [], []
    clock = time.perf_counter
    t_start = clock()
    for k in range(samples):
        token.raise_if_cancelled()
        ticks.clear()
        t0 = clock()
        outputs.append(session.sample(cond, n=1, seed=k, callback=tick)[0])
        per_sample.append((clock() - t0) * 1e3)
        marks = [t0, *ticks]
        per_step += [(b - a) * 1e3 for a, b in zip(marks[:-1], marks[1:], strict=True)]
        yield Progress("bench", k + 1, samples, f"{per_sample[-1]:.1f} ms/sample")
    wall = clock() - t_start
    feeds = {"condition": cond[None]}
    if info.is_diffusion:
        feeds.update(x_t=np.zeros((1, 1, *info.grid), np.float32), t=np.zeros(1, np.float32))
    if info.residual:  # the denoiser alone; its regression model runs once per sample, not per step
        feeds["mean"] = np.zeros((1, 1, *info.grid), np.float32)
    bare_ms = []
    for _ in range(max(5, min(len(per_step), 50))):
        t0 = clock()
        bare.run(None, feeds)
        bare_ms.append((clock() - t0) * 1e3)
    step, y = np.asarray(per_step), np.asarray(outputs)
    p50, bare50 = float(np.median(step)), float(np.median(bare_ms))
    flops = count_flops(path, *info.grid)
    steps = info.default_steps if info.is_diffusion else 1
    return {
        "model": str(path),
        "task": "generative",
        "objective": info.objective,
        "variant": info.variant,
        "providers": session.providers,
        "threads": threads,
        "size": info.grid[0],
        "grid": list(info.grid),
        "steps": len(per_step),
        "denoise_steps": steps,
        "samples": samples,
        "steps_per_s": len(per_step) / wall if wall > 0 else float("inf"),
        "ms_p50": p50,
        "ms_p99": float(np.percentile(step, 99)),
        "ms_model_p50": p50,
        "ms_bare_p50": bare50,
        "overhead": p50 / bare50 if bare50 > 0 else float("nan"),
        "ms_per_sample_p50": float(np.median(per_sample)),
        "ms_per_sample_p99": float(np.percentile(per_sample, 99)),
        "gflop_per_step": flops / 1e9,
        "gflops": flops / 1e9 / (p50 / 1e3),
        "finite": bool(np.isfinite(y).all()),
        "stability": {
            info.target: {
                "first": float(y[0].mean()),
                "last": float(y[-1].mean()),
                "min": float(np.nanmin(y)),
                "max": float(np.nanmax(y)),
            }
        },
    }
