"""``fieldcast bench MODEL.onnx``: rollout speed, runtime overhead, GFLOP/s and stability of a model.

Field models (feed-forward or recurrent) are rolled out at ``--size``; sequence models are streamed one
sample per call; generative models draw whole samples at their own grid until ``--steps`` denoising calls
are timed (``--size`` does not apply to either).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

NAME = "bench"
HELP = "measure an exported model: steps/s, ms per step, overhead against bare ONNX Runtime, GFLOP/s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="an exported Fieldcast model (.onnx)")
    parser.add_argument(
        "--size", type=int, default=128, help="grid size in cells (default 128; field models)"
    )
    parser.add_argument("--steps", type=int, default=600, help="rollout steps measured (default 600)")
    parser.add_argument("--warmup", type=int, default=20, help="steps run before measuring (default 20)")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: physical cores)")
    parser.add_argument("--provider", action="append", help="execution provider to prefer (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON before RESULT")


def print_report(r: dict[str, Any], stream: TextIO) -> None:
    """The human-readable figures."""
    where = (
        f"one sample per call, {r['steps']} samples streamed"
        if r.get("task") == "sequence"
        else f"{r['size']}x{r['size']}, {r['steps']} steps"
    )
    if r.get("task") == "generative":
        nx, ny = r["grid"]
        where = (
            f"{nx}x{ny}, {r['samples']} samples of {r['denoise_steps']} denoising step(s): "
            f"{r['ms_per_sample_p50']:.1f} ms/sample median, {r['ms_per_sample_p99']:.1f} ms p99"
        )
    lines = [
        f"model        {r['model']} ({r['variant']}) on {', '.join(r['providers'])}, {r['threads']} threads",
        f"{'stream' if r.get('task') == 'sequence' else 'grid':<13}{where}",
        f"speed        {r['steps_per_s']:.1f} steps/s, "
        f"{r['ms_p50']:.3f} ms/step median, {r['ms_p99']:.3f} ms p99",
        f"model time   {r['ms_model_p50']:.3f} ms median inside the rollout; "
        f"bare session.run {r['ms_bare_p50']:.3f} ms",
        (
            f"overhead     {r['overhead_bare']:.3f}x bare session.run for the model alone (target <= 1.05x), "
            f"{r['overhead_bounds']:.3f}x with Play's safety bounds (target <= 1.10x)"
            if "overhead_bare" in r
            else f"overhead     {r['overhead']:.3f}x bare session.run (target <= 1.10x)"
        ),
        f"compute      {r['gflop_per_step']:.3f} GFLOP/step, {r['gflops']:.2f} GFLOP/s achieved",
        f"stability    finite={r['finite']}",
    ]
    for key, s in r["stability"].items():
        lines.append(
            f"  {key:<16} first {s['first']:.4g}  last {s['last']:.4g}  "
            f"min {s['min']:.4g}  max {s['max']:.4g}"
        )
    stream.write("\n".join(lines) + "\n")


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.bench import iter_bench, result_line
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.runtime import ModelError

    if args.size < 2 or args.steps < 1:
        print("fieldcast bench: --size must be at least 2 and --steps at least 1", file=sys.stderr)
        return 2
    token = CancelToken()
    result: dict[str, Any] = {}

    def capture() -> Any:
        result["r"] = yield from iter_bench(
            args.model, args.size, args.steps, args.warmup, args.provider, args.threads, token
        )

    try:
        finished = drive(capture(), token)
    except (ModelError, OSError, ValueError) as exc:
        from fieldcast.app.cli_errors import naming

        print(f"fieldcast bench: {naming(exc, args.model)}", file=sys.stderr)
        return 2
    if not finished:
        return 130
    r = result["r"]
    print_report(r, sys.stdout)
    if args.json:
        print(json.dumps(r, indent=2))
    print(result_line(r))
    return 0 if r["finite"] else 1
