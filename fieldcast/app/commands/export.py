"""``fieldcast export RUN``: write the run's ONNX model (and fp16 / INT8 variants), print a parity table.

Every run kind exports the same way (field rollout, recurrent field, sequence); a variant that cannot exist
for a model gets a "not applicable" line with the reason instead of a file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

NAME = "export"
HELP = "export a trained run to ONNX (fp32, optional fp16 and INT8), checked against torch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder (holds checkpoints/)")
    parser.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx")
    parser.add_argument("--int8", action="store_true", help="also write model.int8.onnx (INT8, checked)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="weights to export")
    parser.add_argument("--out", type=Path, metavar="FILE", help="fp32 model path (default RUN/model.onnx)")
    parser.add_argument("--data", type=Path, metavar="FILE", help="dataset for checks (default: the run's)")
    parser.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="a diffusion model's default DDIM steps (default: its recipe's)",
    )


def _columns(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The error columns: nmse at each horizon (field models) or RMSE and R² (sequence models)."""
    cols: list[tuple[str, Any]] = []
    for rec in report["variants"].values():
        rollout = rec.get("rollout") or {}
        for h in rollout.get("horizons", {}):
            key = (f"nmse@{h}", ("horizons", str(h), "nmse"))
            if key not in cols:
                cols.append(key)
        for name in ("rmse", "r2"):
            key = (name, (name,))
            if name in rollout and key not in cols:
                cols.append(key)
    return cols


def _cell(rollout: dict[str, Any] | None, path: tuple[str, ...]) -> str:
    value: Any = rollout or {}
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, value.get(int(part)) if part.isdigit() else None)
        else:
            value = None
    return f"{value:>12.4g}" if isinstance(value, (int, float)) else f"{'-':>12}"


def print_table(report: dict[str, Any], stream: TextIO) -> None:
    """Parity and validation error of each variant, side by side; "not applicable" rows say why."""
    cols = _columns(report)
    head = f"{'variant':<8}{'file':<22}{'KiB':>8}{'max abs':>12}{'max rel':>12}"
    rows = [head + "".join(f"{name:>12}" for name, _ in cols)]
    notes = []
    for variant, rec in report["variants"].items():
        if rec.get("not_applicable"):
            rows.append(f"{variant:<8}not applicable: {rec['not_applicable']}")
            continue
        p = rec["parity"]
        line = f"{variant:<8}{rec['path']:<22}{rec['bytes'] / 1024:>8.1f}"
        line += f"{p['max_abs']:>12.3g}{p['max_rel']:>12.3g}"
        rows.append(line + "".join(_cell(rec.get("rollout"), path) for _, path in cols))
        if rec.get("method"):
            notes.append(f"{variant}: {rec['method']}")
        rollout = rec.get("rollout") or {}
        if "error" in rollout:
            notes.append(f"{variant}: validation error not measured ({rollout['error']})")
    stream.write("\n".join(rows) + "\n")
    streamed = next(
        (r["parity"].get("streamed_steps") for r in report["variants"].values() if "parity" in r), None
    )
    how = f", {streamed} steps streamed with the state fed back" if streamed else ""
    stream.write(
        f"parity inputs: {report['inputs']}{how}; fp32 tolerance {report['tolerance']['fp32_max_rel']:g}\n"
    )
    for note in dict.fromkeys(notes):
        stream.write(note + "\n")


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.runtime import ModelError
    from fieldcast.training.export import export_run

    token = CancelToken()
    job = export_run(
        args.run,
        checkpoint=args.checkpoint,
        fp16=args.fp16,
        int8=args.int8,
        out=args.out,
        data=args.data,
        token=token,
        steps=args.steps,
    )
    result: dict[str, Any] = {}

    def capture() -> Any:
        result["report"] = yield from job

    try:
        finished = drive(capture(), token)
    except KeyError as exc:  # a record without a key the exporter needs: still one line, never a traceback
        key = exc.args[0] if exc.args else "?"
        print(f"fieldcast export: {args.run}: the run lacks {key!r}", file=sys.stderr)
        return 2
    except (ModelError, OSError, ValueError) as exc:  # ExportError, CheckpointError, DatasetError among them
        print(f"fieldcast export: {exc}", file=sys.stderr)
        return 2
    if not finished:
        print("fieldcast export: cancelled", file=sys.stderr)
        return 130
    report = result["report"]
    print_table(report, sys.stdout)
    fp32 = report["variants"]["fp32"]["parity"]
    if not fp32.get("ok"):
        print(f"fieldcast export: fp32 parity {fp32['max_rel']:.3g} exceeds the tolerance", file=sys.stderr)
        return 1
    return 0
