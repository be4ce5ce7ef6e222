"""Benchmark an exported model: speed of the runtime's rollout against bare ONNX Runtime, FLOPs, stability.

Shared by ``fieldcast bench`` and ``benchmarks/runtime_overhead.py`` so both print the same figures.
The rollout's steps and bare ``session.run`` calls on the same input are interleaved, so a busy machine
slows both alike and the overhead ratio stays meaningful.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.model_format import INPUT
from fieldcast.engine.rollout import Rollout
from fieldcast.engine.runtime import ModelSession

__all__ = ["count_flops", "iter_bench", "result_line", "scene"]


def _runtime_shapes(model, names: list[str], nx: int, ny: int, batch: int) -> dict[str, list[int]]:
    """Actual shapes of tensors ``names`` from one CPU run at the bench size."""
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto.FromString(model.SerializeToString())
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
            present.add(name)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # No graph rewrites: fused nodes would hide the tensors asked for.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for value in sess.get_inputs():
        shape = [batch if i == 0 else d for i, d in enumerate(value.shape)]
        if value.name == INPUT:
            shape[2:] = [nx, ny]
        shape = [d if isinstance(d, int) else 1 for d in shape]
        feeds[value.name] = np.zeros(shape, np.float32)
    results = sess.run(names, feeds)
    return {n: list(r.shape) for n, r in zip(names, results, strict=True)}


def count_flops(path: str | Path, nx: int, ny: int, batch: int = 1) -> float:
    """Multiply-add FLOPs (2 per MAC) of Conv, ConvTranspose, MatMul and Gemm for one ``nx`` × ``ny`` step.

    Tensor shapes are read from one run of the graph at that size (shape inference cannot follow the
    data-dependent resizes of a dynamic-grid UNet); weights from the initializers.
    """
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: list(t.dims) for t in g.initializer}
    ops = [n for n in g.node if n.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm")]
    names = sorted({n for node in ops for n in (*node.input[:2], node.output[0]) if n and n not in inits})
    shapes = {**_runtime_shapes(model, names, nx, ny, batch), **inits} if names else inits
    total = 0.0
    for node in ops:
        x, w, out = (shapes.get(n) for n in (node.input[0], node.input[1], node.output[0]))
        if not (x and w and out):
            continue
        if node.op_type == "Conv":  # w: (Cout, Cin/g, k...)
            total += 2.0 * float(np.prod(out)) * float(np.prod(w[1:]))
        elif node.op_type == "ConvTranspose":  # w: (Cin, Cout/g, k...): every input feeds Cout/g * k MACs
            total += 2.0 * float(np.prod(x)) * float(np.prod(w[1:]))
        else:
            total += 2.0 * float(np.prod(out)) * x[-1]
    return total


def scene(names: list[str], nx: int, ny: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A standard test scene: a smoke puff over an emitter near the bottom, a box collider above it.

    Returns (state fields for :meth:`Rollout.reset` by field, control masks by name); fields the scene does
    not know start at zero.
    """
    x = np.arange(nx)[:, None] / nx
    y = np.arange(ny)[None, :] / ny
    emitter = (((x - 0.5) ** 2 + (y - 0.12) ** 2) < 0.06**2).astype(np.float32)
    collider = ((np.abs(x - 0.5) < 0.15) & (np.abs(y - 0.6) < 0.04)).astype(np.float32)
    puff = np.exp(-((x - 0.5) ** 2 + (y - 0.2) ** 2) / 0.01).astype(np.float32)
    controls = {"emitter": emitter, "collider": collider}
    state = {"density": puff, "velocity": np.zeros((nx, ny, 2), np.float32)}
    return state, {k: v for k, v in controls.items() if k in names}


def iter_bench(
    path: str | Path,
    size: int = 128,
    steps: int = 600,
    warmup: int = 20,
    providers: list[str] | None = None,
    threads: int | None = None,
    token: CancelToken | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Roll the model ``steps`` frames at ``size`` × ``size``; returns the figures (:func:`result_line`)."""
    import onnxruntime as ort

    token = token or CancelToken()
    session = ModelSession(path, providers, threads)
    rollout = Rollout(session)
    state, controls = scene(rollout.control_names, size, size)
    blank = rollout.blank_state(size, size)
    start = {**blank, **{k: v for k, v in state.items() if k in blank}}
    rollout.reset(start)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = session.threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    bare = ort.InferenceSession(str(path), sess_options=opts, providers=session.providers)
    out_names = [o.name for o in bare.get_outputs()]
    for _ in range(warmup):
        rollout.step(controls)
        bare.run(out_names, {INPUT: np.array(rollout.model_input())})
    rollout.reset(start)
    ms_step, ms_model, ms_bare, records = [], [], [], []
    feeds = {INPUT: np.array(rollout.model_input())}
    extra = {r.input: np.zeros(r.shape(1, size, size), np.float32) for r in session.info.recurrent}
    feeds.update(extra)
    t_start = time.perf_counter()
    for k in range(steps):
        token.raise_if_cancelled()
        res = rollout.step(controls)
        ms_step.append(res.ms_total)
        ms_model.append(res.ms_model)
        np.copyto(feeds[INPUT], rollout.model_input())
        t0 = time.perf_counter()
        bare.run(out_names, feeds)
        ms_bare.append((time.perf_counter() - t0) * 1e3)
        records.append(res.stats)
        if (k + 1) % 20 == 0 or k + 1 == steps:
            yield Progress("bench", k + 1, steps, f"{res.ms_total:.2f} ms/step")
    wall = time.perf_counter() - t_start - sum(ms_bare) / 1e3
    return _summary(session, size, steps, ms_step, ms_model, ms_bare, wall, records, path)


def _summary(session, size, steps, ms_step, ms_model, ms_bare, wall, records, path) -> dict[str, Any]:
    step, bare = np.asarray(ms_step), np.asarray(ms_bare)
    flops = count_flops(path, size, size)
    p50 = float(np.median(step))
    keys = [k for k in records[0] if k != "finite"]
    stability = {
        k: {
            "first": float(records[0][k]),
            "last": float(records[-1][k]),
            "min": float(np.nanmin([r[k] for r in records])),
            "max": float(np.nanmax([r[k] for r in records])),
        }
        for k in keys
    }
    return {
        "model": str(path),
        "variant": session.info.variant,
        "providers": session.providers,
        "threads": session.threads,
        "size": size,
        "steps": steps,
        "steps_per_s": steps / wall if wall > 0 else float("inf"),
        "ms_p50": p50,
        "ms_p99": float(np.percentile(step, 99)),
        "ms_model_p50": float(np.median(ms_model)),
        "ms_bare_p50": float(np.median(bare)),
        "overhead": p50 / float(np.median(bare)),
        "gflop_per_step": flops / 1e9,
        "gflops": flops / 1e9 / (p50 / 1e3),
        "finite": all(bool(r["finite"]) for r in records),
        "stability": stability,
    }


def result_line(r: dict[str, Any]) -> str:
    """The one-line summary scripts grep for."""
    return (
        f"RESULT steps_per_s={r['steps_per_s']:.2f} ms_p50={r['ms_p50']:.3f} ms_p99={r['ms_p99']:.3f} "
        f"overhead={r['overhead']:.3f} gflops={r['gflops']:.2f} finite={int(r['finite'])}"
    )
