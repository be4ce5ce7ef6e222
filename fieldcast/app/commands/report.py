"""``fieldcast report RUN_OR_MODEL [DATA] --out DIR``: one self-contained HTML page and ``metrics.json``.

For a run folder: its recipe, curves, validation metrics and saved samples, and, when it was exported, the
evaluation of ``model.onnx`` beside the baselines on DATA (default: the dataset the run trained on). For an
exported model: its provenance and its evaluation on DATA. Several run folders give a comparison report
(curves overlaid, metrics side by side with the best marked, recipe differences).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fieldcast.app.commands.eval import horizons_arg as _horizons

NAME = "report"
HELP = "write an HTML report of a run or an exported model (several runs: a comparison)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        type=Path,
        nargs="+",
        metavar="RUN_OR_MODEL [DATA]",
        help="a run folder or an exported model (.onnx), then optionally a dataset (.h5) to evaluate on; "
        "several run folders: a comparison report",
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="folder for report.html and metrics.json"
    )
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"), help="default test")
    parser.add_argument("--horizons", type=_horizons, default=[10, 50, 200], help="e.g. 10,50,200")
    parser.add_argument("--trajectories", type=int, default=4, help="trajectories evaluated (default 4)")
    parser.add_argument("--cases", type=int, default=2, help="test cases drawn (default 2)")


def _split_sources(sources: list[Path]) -> tuple[list[Path], Path | None, str | None]:
    """(runs or model, dataset, problem): a last argument that is a file other than a model is the data."""
    data = None
    if len(sources) > 1 and sources[-1].is_file() and sources[-1].suffix.lower() != ".onnx":
        data, sources = sources[-1], sources[:-1]
    if len(sources) > 1:
        files = [s for s in sources if not s.is_dir()]
        if files:
            return sources, data, f"{files[0]}: a comparison takes run folders only"
        if data is not None:
            return sources, data, "a comparison takes no dataset"
    return sources, data, None


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.runtime import ModelError

    sources, data, problem = _split_sources(list(args.sources))
    if problem is None and (args.trajectories < 1 or args.cases < 1):
        problem = "--trajectories and --cases must be at least 1"
    if problem is None and args.out is not None and args.out.exists() and not args.out.is_dir():
        problem = f"--out {args.out}: not a folder"
    if problem is None and len(sources) > 1 and args.out is None:
        problem = "a comparison needs --out DIR"
    if problem:
        print(f"fieldcast report: {problem}", file=sys.stderr)
        return 2
    token = CancelToken()
    done: dict[str, Any] = {}

    def job() -> Any:
        if len(sources) > 1:
            from fieldcast.engine.report_compare import iter_compare_report

            done["r"] = yield from iter_compare_report(sources, args.out, token)
        else:
            from fieldcast.engine.report import ReportOptions, iter_report

            options = ReportOptions(args.split, args.horizons, args.trajectories, args.cases)
            done["r"] = yield from iter_report(sources[0], data, args.out, options, token)

    try:
        finished = drive(job(), token)
    except (ModelError, OSError, ValueError, KeyError) as exc:  # each names its file
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"fieldcast report: {reason}", file=sys.stderr)
        return 2
    if not finished:
        return 130
    for note in done["r"].notes:
        print(f"note: {note}")
    print(f"wrote {done['r'].html}")
    print(f"wrote {done['r'].metrics}")
    return 0
