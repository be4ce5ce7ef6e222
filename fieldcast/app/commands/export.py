"""``fieldcast export RUN``: write the run's ONNX model (and fp16 / INT8 variants), print a parity table."""

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
    parser.add_argument("--int8", action="store_true", help="also write model.int8.onnx (static, calibrated)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="weights to export")
    parser.add_argument("--out", type=Path, metavar="FILE", help="fp32 model path (default RUN/model.onnx)")
    parser.add_argument("--data", type=Path, metavar="FILE", help="dataset for checks (default: the run's)")


def print_table(report: dict[str, Any], stream: TextIO) -> None:
    """Parity and rollout error of each variant, side by side."""
    rows = []
    horizons: list[str] = []
    for rec in report["variants"].values():
        for h in (rec.get("rollout") or {}).get("horizons", {}):
            if str(h) not in horizons:
                horizons.append(str(h))
    head = f"{'variant':<8}{'file':<22}{'KiB':>8}{'max abs':>12}{'max rel':>12}"
    head += "".join(f"{'nmse@' + h:>12}" for h in horizons)
    rows.append(head)
    for variant, rec in report["variants"].items():
        p = rec["parity"]
        line = f"{variant:<8}{rec['path']:<22}{rec['bytes'] / 1024:>8.1f}"
        line += f"{p['max_abs']:>12.3g}{p['max_rel']:>12.3g}"
        hz = {str(k): v for k, v in (rec.get("rollout") or {}).get("horizons", {}).items()}
        line += "".join(f"{hz[h]['nmse']:>12.4g}" if h in hz else f"{'-':>12}" for h in horizons)
        rows.append(line)
    stream.write("\n".join(rows) + "\n")
    stream.write(
        f"parity inputs: {report['inputs']}; fp32 tolerance {report['tolerance']['fp32_max_rel']:g}\n"
    )


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.runtime import ModelError
    from fieldcast.training.export import export_run
    from fieldcast.training.melt_train import export_convlstm, is_melt_run

    if is_melt_run(args.run):
        # The microstructure ConvLSTM streams its recurrent state and takes the next temperature as input.
        weights = Path(args.run) / "checkpoints" / f"{args.checkpoint}.safetensors"
        out = Path(args.out) if args.out else Path(args.run) / "model.onnx"
        try:
            report = export_convlstm(weights, out)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"fieldcast export: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {out}; torch vs ONNX over a 3-step stream: {report}")
        return 0
    token = CancelToken()
    job = export_run(
        args.run,
        checkpoint=args.checkpoint,
        fp16=args.fp16,
        int8=args.int8,
        out=args.out,
        data=args.data,
        token=token,
    )
    result: dict[str, Any] = {}

    def capture() -> Any:
        result["report"] = yield from job

    try:
        finished = drive(capture(), token)
    except (FileNotFoundError, KeyError, ValueError, ModelError) as exc:
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
