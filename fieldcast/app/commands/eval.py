"""``fieldcast eval MODEL.onnx DATA.h5``: the model's error on a split beside the persistence baseline and
the system's physics baseline, in one table.

Field models (feed-forward or recurrent) report the rollout error against horizon and physics metrics;
sequence models are streamed over whole trajectories. The test split is used (the valid split when the test
split is empty, and the output says so).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

NAME = "eval"
HELP = "evaluate an exported model on a dataset beside the persistence and physics baselines"


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
    parser.add_argument("--trajectories", type=int, default=8, help="trajectories evaluated (default 8)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")


def _header(result: dict[str, Any], stream: TextIO) -> None:
    model = Path(result.get("model", "model")).name
    stream.write(f"{model} ({result.get('variant', 'fp32')}, {result.get('system', '?')}): ")
    if result["task"] == "sequence":
        stream.write(
            f"{result['split']} split, {result['n_trajectories']} trajectories, {result['samples']} samples"
        )
    else:
        stream.write(
            f"{result['split']} split, {result['n_trajectories']} trajectories, "
            f"{result['given']} given frame(s), {result['steps']} predicted"
        )
    stream.write(f", finite={result['finite']}\n")
    if result.get("split_note"):
        stream.write(f"split: {result['split_note']}\n")
    for note in result.get("notes") or ():
        stream.write(f"note: {note}\n")


def _field_table(result: dict[str, Any], stream: TextIO) -> None:
    rows = list(result["horizons"].items())
    errors = [k for k in rows[0][1] if k == "nmse" or k.startswith("rmse/")]
    physics = [k for k in rows[0][1] if k not in errors and not k.startswith("truth/")]
    keys = errors + physics
    persistence = result["baselines"]["persistence"]
    table = []
    for h, rec in rows:
        cells = []
        for k in keys:
            truth = rec.get(f"truth/{k}")
            cells.append(f"{rec[k]:.4g}" + (f" ({truth:.4g})" if truth is not None else ""))
        table.append((str(h), "model", cells))
        base = persistence.get(h, persistence.get(str(h), {}))
        table.append((str(h), "persistence", [f"{base[k]:.4g}" if k in base else "-" for k in keys]))
    widths = [max(len(k), *(len(cells[i]) for _, _, cells in table)) + 2 for i, k in enumerate(keys)]
    stream.write(
        f"{'horizon':>8}  {'predictor':<12}" + "".join(f"{k:>{w}}" for k, w in zip(keys, widths, strict=True))
    )
    stream.write("\n")
    for h, label, cells in table:
        line = f"{h:>8}  {label:<12}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        stream.write(line + "\n")
    stream.write(
        f"physics baseline: none for system {result.get('system', '?')!r} (persistence copies the last true "
        "state)\n"
    )
    if physics:
        stream.write("physics metrics: prediction (ground truth)\n")


def _sequence_table(result: dict[str, Any], stream: TextIO) -> None:
    keys = list(result["metrics"])
    names = result["baseline_names"]
    rows = [("model", result["metrics"])]
    rows.append((f"{names['persistence']} (persistence)", result["baselines"]["persistence"]))
    if "physics" in result["baselines"]:
        rows.append((f"{names['physics']} (physics)", result["baselines"]["physics"]))
    width = max(len(r[0]) for r in rows) + 2
    stream.write(f"{'predictor':<{width}}" + "".join(f"{k:>16}" for k in keys) + "\n")
    for label, metrics in rows:
        stream.write(f"{label:<{width}}" + "".join(f"{metrics[k]:>16.4g}" for k in keys) + "\n")
    if "physics" not in result["baselines"]:
        stream.write(f"physics baseline: none for system {result.get('system', '?')!r}\n")
    units = ", ".join(f"{n} {u}" for n, u in result.get("units", {}).items() if u)
    if units:
        stream.write(f"units: {units} (nmse in train-split standard deviations)\n")
    t = result.get("timing") or {}
    if t:
        stream.write(f"streaming: {t['p50']:.3f} ms/sample median, {t['p99']:.3f} ms p99\n")


def print_table(result: dict[str, Any], stream: TextIO) -> None:
    """The model and its baselines on the same data, in one table."""
    _header(result, stream)
    if result["task"] == "sequence":
        _sequence_table(result, stream)
    else:
        _field_table(result, stream)


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.evaluate import iter_evaluate_model
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.runtime import ModelError

    if args.trajectories < 1:
        print("fieldcast eval: --trajectories must be at least 1", file=sys.stderr)
        return 2
    token = CancelToken()
    result: dict[str, Any] = {}

    def capture() -> Any:
        result["r"] = yield from iter_evaluate_model(
            args.model, args.data, args.split, args.horizons, args.trajectories, token
        )

    try:
        finished = drive(capture(), token)
    except KeyError as exc:
        key = exc.args[0] if exc.args else "?"
        print(f"fieldcast eval: {args.model}: {key}", file=sys.stderr)
        return 2
    except (ModelError, OSError, ValueError) as exc:  # DatasetError is a ValueError; each names its file
        print(f"fieldcast eval: {exc}", file=sys.stderr)
        return 2
    if not finished:
        return 130
    if args.json:
        print(json.dumps(result["r"], indent=2))
    else:
        print_table(result["r"], sys.stdout)
    return 0 if result["r"]["finite"] else 1
