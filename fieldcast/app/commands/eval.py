"""``fieldcast eval MODEL.onnx DATA.h5``: rollout error against horizon and physics metrics on a split."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

NAME = "eval"
HELP = "evaluate an exported model on a dataset: rollout error vs horizon and physics metrics"


def _horizons(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated frame counts, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("horizons must be positive frame counts")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="an exported Fieldcast model (.onnx)")
    parser.add_argument("data", type=Path, help="a Fieldcast / The Well dataset (.h5)")
    parser.add_argument("--horizons", type=_horizons, default=[10, 50, 200], help="e.g. 10,50,200")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"), help="default test")
    parser.add_argument("--trajectories", type=int, default=8, help="trajectories rolled out (default 8)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")


def print_table(result: dict[str, Any], stream: TextIO) -> None:
    """One row per horizon: normalised MSE, RMSE per channel, physics metrics of prediction (truth)."""
    rows = list(result["horizons"].items())
    keys = [k for k in rows[0][1] if not k.startswith("truth/")]
    stream.write(
        f"split {result['split']}: {result['n_trajectories']} trajectories, {result['steps']} frames, "
        f"finite={result['finite']}\n"
    )
    stream.write(f"{'horizon':>8}" + "".join(f"{k:>26}" for k in keys) + "\n")
    for h, rec in rows:
        cells = []
        for k in keys:
            truth = rec.get(f"truth/{k}")
            cells.append(f"{rec[k]:.4g}" + (f" ({truth:.4g})" if truth is not None else ""))
        stream.write(f"{h:>8}" + "".join(f"{c:>26}" for c in cells) + "\n")
    stream.write("physics metrics: prediction (ground truth)\n")


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.data import DatasetError, open_dataset
    from fieldcast.engine.evaluate import iter_evaluate, session_step
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.runtime import ModelError, ModelSession

    token = CancelToken()
    result: dict[str, Any] = {}
    try:
        session = ModelSession(args.model)
        dataset = open_dataset(args.data)

        def capture() -> Any:
            result["r"] = yield from iter_evaluate(
                session_step(session),
                session.info,
                dataset,
                args.split,
                args.horizons,
                args.trajectories,
                token,
            )

        finished = drive(capture(), token)
    except (ModelError, DatasetError, ValueError, KeyError) as exc:
        print(f"fieldcast eval: {exc}", file=sys.stderr)
        return 2
    if not finished:
        return 130
    if args.json:
        print(json.dumps(result["r"], indent=2))
    else:
        print_table(result["r"], sys.stdout)
    return 0 if result["r"]["finite"] else 1
