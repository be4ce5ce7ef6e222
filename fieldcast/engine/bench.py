"""Benchmark an exported model: speed of the runtime's rollout against bare ONNX Runtime, FLOPs, stability.

Field models (feed-forward or recurrent) are rolled out on a standard scene through
:class:`~fieldcast.engine.rollout.Rollout`; sequence models are streamed one sample per call through
:class:`~fieldcast.engine.sequence_runtime.SequenceSession` on smooth inputs with their training statistics.

Shared by ``fieldcast bench`` and ``benchmarks/runtime_overhead.py`` so both print the same figures. A field
model is timed twice from the same start: alone (``overhead_bare``: the controls and the [0, 1] range only)
and with Play's safety bounds (``overhead_bounds``, also reported as ``overhead``, and the step times).
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


def _zero_feeds(sess, nx: int, ny: int, recurrent, batch: int) -> dict[str, np.ndarray]:
    """Zero inputs for every graph input of ``sess``: ``fields`` at ``nx`` × ``ny``, recurrent tensors at
    their downsampled size, other tensors (a sequence model's) with ``batch`` for their symbolic axis."""
    states = {r.input: r.shape(batch, nx, ny) for r in recurrent}
    feeds = {}
    for value in sess.get_inputs():
        if value.name in states:
            shape = list(states[value.name])
        elif value.name == INPUT and len(value.shape) == 4:
            channels = value.shape[1] if isinstance(value.shape[1], int) else 1
            shape = [batch, channels, nx, ny]
        else:
            shape = [d if isinstance(d, int) else batch for d in value.shape]
        feeds[value.name] = np.zeros(shape, np.float32)
    return feeds


def _runtime_shapes(model, names: list[str], nx: int, ny: int, batch: int, recurrent) -> dict[str, list[int]]:
    """Actual shapes of tensors ``names`` from one CPU run on zero inputs (:func:`_zero_feeds`)."""
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
    results = sess.run(names, _zero_feeds(sess, nx, ny, recurrent, batch))
    return {n: list(r.shape) for n, r in zip(names, results, strict=True)}


_COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM")


def count_flops(path: str | Path, nx: int, ny: int, batch: int = 1, recurrent=()) -> float:
    """Multiply-add FLOPs (2 per MAC) of Conv, ConvTranspose, MatMul, Gemm and LSTM for one step.

    A field model's step is one ``nx`` × ``ny`` frame (``recurrent``: its recurrent tensors, zero); a
    sequence model's step is one sample (``nx``, ``ny`` unused). Tensor shapes are read from one run of the
    graph at that size (shape inference cannot follow the data-dependent resizes of a dynamic-grid UNet);
    weights from the initializers.
    """
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: list(t.dims) for t in g.initializer}
    ops = [n for n in g.node if n.op_type in _COUNTED]
    wanted = {n for node in ops for n in (*node.input[:3], node.output[0]) if n and n not in inits}
    shapes = (
        {**_runtime_shapes(model, sorted(wanted), nx, ny, batch, recurrent), **inits} if wanted else inits
    )
    total = 0.0
    for node in ops:
        x, w, out = (shapes.get(n) for n in (node.input[0], node.input[1], node.output[0]))
        if not (x and w and out):
            continue
        if node.op_type == "Conv":  # w: (Cout, Cin/g, k...)
            total += 2.0 * float(np.prod(out)) * float(np.prod(w[1:]))
        elif node.op_type == "ConvTranspose":  # w: (Cin, Cout/g, k...): every input feeds Cout/g * k MACs
            total += 2.0 * float(np.prod(x)) * float(np.prod(w[1:]))
        elif node.op_type == "LSTM":  # x: (T, B, I), w: (dirs, 4H, I), r: (dirs, 4H, H)
            r = shapes.get(node.input[2]) or [w[0], w[1], w[1] // 4]
            total += 2.0 * x[0] * x[1] * w[0] * w[1] * (w[2] + r[2])
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
    # The rate (density per frame) is Play's default for a painted emitter, for a model that sees it.
    controls = {"emitter": emitter, "collider": collider, "emitter_rate": 0.25 * emitter}
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
    """Roll the model ``steps`` frames at ``size`` × ``size``; returns the figures (:func:`result_line`).

    A sequence model (``fieldcast-sequence-onnx``) is streamed ``steps`` samples instead (``size`` unused); a
    generative model draws whole samples at its grid until ``steps`` denoising calls are timed
    (:mod:`fieldcast.engine.bench_generative`).
    Raises :class:`~fieldcast.engine.runtime.ModelError` for a file that cannot be used, ValueError (naming
    the file) for a grid the model does not accept.
    """
    from fieldcast.engine.generative import is_generative_model
    from fieldcast.engine.sequence_runtime import is_sequence_model

    if Path(path).is_file() and is_generative_model(path):
        from fieldcast.engine.bench_generative import iter_bench_generative

        return (yield from iter_bench_generative(path, steps, warmup, providers, threads, token))
    if Path(path).is_file() and is_sequence_model(path):
        return (yield from _iter_bench_sequence(path, steps, warmup, providers, threads, token))
    return (yield from _iter_bench_field(path, size, steps, warmup, providers, threads, token))


def _bare_options(threads: int):
    """Session options of the plain ONNX Runtime session that times the model without Fieldcast around it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


def _iter_bench_field(path, size, steps, warmup, providers, threads, token):
    import onnxruntime as ort

    token = token or CancelToken()
    session = ModelSession(path, providers, threads)
    problem = session.info.check_grid(size, size)
    if problem:
        raise ValueError(f"{path}: --size {size}: {problem.removeprefix(f'grid {size}×{size}: ')}")
    rollout = Rollout(session)
    state, controls = scene(rollout.control_names, size, size)
    blank = rollout.blank_state(size, size)
    start = {**blank, **{k: v for k, v in state.items() if k in blank}}
    rollout.reset(start)
    bare = ort.InferenceSession(
        str(path), sess_options=_bare_options(session.threads), providers=session.providers
    )
    out_names = [o.name for o in bare.get_outputs()]
    # The bare session is fed the rollout's input and zero recurrent tensors (their values cost nothing).
    feeds = {r.input: np.zeros(r.shape(1, size, size), np.float32) for r in session.info.recurrent}
    feeds[INPUT] = np.array(rollout.model_input())
    for _ in range(warmup):
        rollout.step(controls)
        np.copyto(feeds[INPUT], rollout.model_input())
        bare.run(out_names, feeds)
    # The same steps twice from the same start: the model alone, then with Play's safety bounds (the default).
    timings = {}
    for bounds in (False, True):
        rollout.bounds = bounds
        rollout.reset(start)
        ms_step, ms_model, ms_bare, records = [], [], [], []
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
            done = k + 1 + (steps if bounds else 0)
            if done % 20 == 0 or k + 1 == steps:
                what = "with bounds" if bounds else "model alone"
                yield Progress("bench", done, 2 * steps, f"{what}: {res.ms_total:.2f} ms/step")
        wall = time.perf_counter() - t_start - sum(ms_bare) / 1e3
        timings[bounds] = (ms_step, ms_model, ms_bare, wall, records)
    result = _summary(session, size, steps, *timings[True][:4], timings[True][4], path)
    alone = np.median(timings[False][0]) / np.median(timings[False][2])
    result["overhead_bare"] = float(alone)
    result["overhead_bounds"] = result["overhead"]
    result["finite_alone"] = all(bool(r["finite"]) for r in timings[False][4])
    return result


def _summary(session, size, steps, ms_step, ms_model, ms_bare, wall, records, path) -> dict[str, Any]:
    step, bare = np.asarray(ms_step), np.asarray(ms_bare)
    flops = count_flops(path, size, size, recurrent=session.info.recurrent)
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
        "task": session.info.kind,
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


def _stream_inputs(info, n: int, seed: int = 0) -> np.ndarray:
    """``n`` smooth samples (n, C_in): a random walk with the model's training mean and spread."""
    rng = np.random.default_rng(seed)
    c = len(info.input_channels)
    mean = np.asarray(info.normalisation.get("in_mean", [0.0] * c), np.float64)
    std = np.asarray(info.normalisation.get("in_std", [1.0] * c), np.float64)
    walk = np.cumsum(rng.standard_normal((n, c)), axis=0) / np.sqrt(max(n, 1))
    return (mean + std * walk).astype(np.float32)


def _iter_bench_sequence(path, steps, warmup, providers, threads, token):
    """Stream ``steps`` samples one call at a time, beside bare ``session.run`` calls on the same sample."""
    import onnxruntime as ort

    from fieldcast.engine.sequence_runtime import SIGNATURE_OUT, SequenceSession

    token = token or CancelToken()
    session = SequenceSession(path, providers, threads or 1)
    bare = ort.InferenceSession(
        str(path), sess_options=_bare_options(max(1, int(threads or 1))), providers=session.providers
    )
    x = _stream_inputs(session.info, warmup + steps)
    state = session.initial_state()
    for k in range(warmup):
        _, state = session.step(x[k], state)
        bare.run(list(SIGNATURE_OUT), {"inputs": x[k : k + 1], "h_in": state[0], "c_in": state[1]})
    state = session.initial_state()
    outputs, ms_step, ms_bare = [], [], []
    clock = time.perf_counter
    t_start = clock()
    for k in range(steps):
        if k % 256 == 0:
            token.raise_if_cancelled()
        t0 = clock()
        y, new = session.step(x[warmup + k], state)
        t1 = clock()
        bare.run(
            list(SIGNATURE_OUT),
            {"inputs": x[warmup + k : warmup + k + 1], "h_in": state[0], "c_in": state[1]},
        )
        t2 = clock()
        state = new
        outputs.append(y)
        ms_step.append((t1 - t0) * 1e3)
        ms_bare.append((t2 - t1) * 1e3)
        if (k + 1) % 200 == 0 or k + 1 == steps:
            yield Progress("bench", k + 1, steps, f"{(t1 - t0) * 1e3:.3f} ms/sample")
    wall = clock() - t_start - sum(ms_bare) / 1e3
    return _sequence_summary(
        path, session, threads, steps, ms_step, ms_bare, wall, np.asarray(outputs, np.float64)
    )


def _sequence_summary(path, session, threads, steps, ms_step, ms_bare, wall, y) -> dict[str, Any]:
    """The figures of a streamed sequence model; ``y`` (steps, C_out) are its outputs."""
    step, bare_ms = np.asarray(ms_step), np.asarray(ms_bare)
    p50 = float(np.median(step))
    flops = count_flops(path, 1, 1)
    return {
        "model": str(path),
        "task": "sequence",
        "variant": session.info.variant,
        "providers": session.providers,
        "threads": max(1, int(threads or 1)),
        "size": None,
        "steps": steps,
        "steps_per_s": steps / wall if wall > 0 else float("inf"),
        "ms_p50": p50,
        "ms_p99": float(np.percentile(step, 99)),
        "ms_model_p50": p50,
        "ms_bare_p50": float(np.median(bare_ms)),
        "overhead": p50 / float(np.median(bare_ms)),
        "gflop_per_step": flops / 1e9,
        "gflops": flops / 1e9 / (p50 / 1e3),
        "finite": bool(np.isfinite(y).all()),
        "stability": {
            name: {
                "first": float(y[0, j]),
                "last": float(y[-1, j]),
                "min": float(np.nanmin(y[:, j])),
                "max": float(np.nanmax(y[:, j])),
            }
            for j, name in enumerate(session.info.output_channels)
        },
    }


def result_line(r: dict[str, Any]) -> str:
    """The one-line summary scripts grep for (field models add the overhead with and without bounds)."""
    both = ""
    if "overhead_bare" in r:
        both = f"overhead_bare={r['overhead_bare']:.3f} overhead_bounds={r['overhead_bounds']:.3f} "
    return (
        f"RESULT steps_per_s={r['steps_per_s']:.2f} ms_p50={r['ms_p50']:.3f} ms_p99={r['ms_p99']:.3f} "
        f"overhead={r['overhead']:.3f} {both}gflops={r['gflops']:.2f} finite={int(r['finite'])}"
    )
