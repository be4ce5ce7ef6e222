"""``fieldcast eval MODEL.onnx DATA.h5``: the model's error on a split beside the persistence baseline and
the system's physics baseline, in one table.

Field models (feed-forward or recurrent) report the rollout error against horizon and physics metrics;
sequence models are streamed over whole trajectories and report MAE, RMSE, R², correlation and error
percentiles per channel; generative models generate each pair's target from its condition and report NMSE,
SSIM, PSNR and RMSE beside the train-split mean map, with spread-vs-error calibration for diffusion. The
test split is used (the valid split when the test split is empty, and the output says so). The result is
also written to ``metrics.json`` beside the model (or in ``--out DIR``), and ``--plots DIR`` draws PNG
pictures of the error there (:mod:`fieldcast.engine.report_plots`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

NAME = "eval"
HELP = "evaluate an exported model on a dataset beside the persistence and physics baselines"


def horizons_arg(text: str) -> list[int]:
    """``--horizons``: comma-separated positive frame counts (argparse type, shared with ``report``)."""
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
    parser.add_argument("--horizons", type=horizons_arg, default=[10, 50, 200], help="e.g. 10,50,200")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"), help="default test")
    parser.add_argument("--trajectories", type=int, default=8, help="trajectories evaluated (default 8)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for metrics.json (default: the model's folder)",
    )
    parser.add_argument(
        "--plots", type=Path, default=None, metavar="DIR", help="also draw PNG pictures of the error into DIR"
    )


def _header(result: dict[str, Any], stream: TextIO) -> None:
    model = Path(result.get("model", "model")).name
    stream.write(f"{model} ({result.get('variant', 'fp32')}, {result.get('system', '?')}): ")
    if result["task"] == "sequence":
        stream.write(
            f"{result['split']} split, {result['n_trajectories']} trajectories, {result['samples']} samples"
        )
    elif result["task"] == "generative":
        stream.write(
            f"{result['split']} split, {result['n_trajectories']} trajectories, {result['pairs']} pairs, "
            f"{result['objective']}, {result['steps']} step(s) per sample"
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
    errors = [k for k in rows[0][1] if k == "nmse" or k.startswith(("mae/", "rmse/"))]
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
    units = result.get("units") or {}
    titles = [_titled(k, units) for k in keys]
    widths = [max(len(t), *(len(cells[i]) for _, _, cells in table)) + 2 for i, t in enumerate(titles)]
    stream.write(
        f"{'horizon':>8}  {'predictor':<12}"
        + "".join(f"{t:>{w}}" for t, w in zip(titles, widths, strict=True))
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


def _titled(key: str, units: dict[str, str]) -> str:
    """A column title with the channel's unit, e.g. ``mae/sigma_vM [MPa]``."""
    kind, _, channel = key.partition("/")
    unit = units.get(channel) if kind in ("mae", "rmse") else None
    return f"{key} [{unit}]" if unit and unit != "1" else key


_SEQUENCE_COLUMNS = (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²"), ("corr", "corr"))
_SEQUENCE_COLUMNS += tuple((f"p{q}", f"p{q}") for q in (50, 90, 99)) + (("nmse", "nmse"),)


def _cell(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.4g}"  # NaN: a constant has no correlation


def _sequence_table(result: dict[str, Any], stream: TextIO) -> None:
    names = result["baseline_names"]
    predictors = [("model", result["metrics"])]
    if "physics" in result["baselines"]:
        predictors.append((f"{names['physics']} (physics)", result["baselines"]["physics"]))
    if "linear" in result["baselines"]:
        predictors.append((f"{names['linear']} (fitted across printers)", result["baselines"]["linear"]))
    predictors.append((f"{names['persistence']} (persistence)", result["baselines"]["persistence"]))
    units = result.get("units", {})
    channels = [(f"/{c}", c, u) for c, u in units.items()]
    if len(channels) > 1 and len(set(units.values())) == 1:
        channels.append(("", "all", next(iter(units.values()))))
    width = max(len(label) for label, _ in predictors) + 2
    cwidth = max(len(c) for _, c, _ in channels) + 2
    uwidth = max(4, *(len(u) for _, _, u in channels)) + 2
    stream.write(f"{'predictor':<{width}}{'channel':<{cwidth}}{'unit':<{uwidth}}")
    stream.write("".join(f"{title:>11}" for _, title in _SEQUENCE_COLUMNS) + "\n")
    for label, metrics in predictors:
        for i, (suffix, channel, unit) in enumerate(channels):
            stream.write(f"{label if i == 0 else '':<{width}}{channel:<{cwidth}}{unit:<{uwidth}}")
            stream.write(
                "".join(f"{_cell(metrics.get(k + suffix)):>11}" for k, _ in _SEQUENCE_COLUMNS) + "\n"
            )
    if "physics" not in result["baselines"]:
        stream.write(f"physics baseline: none for system {result.get('system', '?')!r}\n")
    stream.write(
        "p50/p90/p99: percentiles of |prediction − truth|; corr: Pearson correlation of prediction and truth "
        "('-' for a constant prediction); nmse: MSE in train-split variances\n"
    )
    t = result.get("timing") or {}
    if t:
        stream.write(f"streaming: {t['p50']:.3f} ms/sample median, {t['p99']:.3f} ms p99\n")


def _generative_table(result: dict[str, Any], stream: TextIO) -> None:
    units = next(iter(result.get("units", {}).values()), "")
    keys = (("nmse", "NMSE"), ("ssim", "SSIM"), ("psnr_db", "PSNR [dB]"), ("rmse", f"RMSE [{units}]"))
    rows = [("model", result["metrics"])]
    rows += [(result["baseline_names"][k], v) for k, v in result["baselines"].items()]
    width = max(len(label) for label, _ in rows) + 2
    stream.write(f"{'predictor':<{width}}" + "".join(f"{title:>14}" for _, title in keys) + "\n")
    for label, metrics in rows:
        stream.write(f"{label:<{width}}" + "".join(f"{_cell(metrics.get(k)):>14}" for k, _ in keys) + "\n")
    stream.write("NMSE, SSIM and PSNR on maps scaled to [0, 1] by the target's training range\n")
    cal = result.get("calibration")
    if cal:
        stream.write(
            f"spread-vs-error correlation {_cell(cal['corr'])} ({cal['samples']} samples per condition)\n"
        )
    t = result["timing"]
    stream.write(
        f"speed: {t['ms_per_sample_p50']:.1f} ms/sample median, {t['ms_per_step_p50']:.2f} ms/step\n"
    )


def print_table(result: dict[str, Any], stream: TextIO) -> None:
    """The model and its baselines on the same data, in one table."""
    _header(result, stream)
    if result["task"] == "generative":
        _generative_table(result, stream)
    elif result["task"] == "sequence":
        _sequence_table(result, stream)
    else:
        _field_table(result, stream)


def _folder_problem(flag: str, folder: Path | None) -> str | None:
    if folder is not None and folder.exists() and not folder.is_dir():
        return f"{flag} {folder}: not a folder"
    return None


def _write_files(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """metrics.json and, with --plots, the pictures; the paths are listed (on stderr beside --json)."""
    from fieldcast.engine.report_plots import write_metrics, write_plots

    say = sys.stderr if args.json else sys.stdout
    folder = args.out if args.out is not None else args.model.parent
    target, flag = folder, "--out"
    try:
        written = [write_metrics(result, folder)]
        if args.plots is not None:
            target, flag = args.plots, "--plots"
            written += write_plots(result, args.plots)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"fieldcast eval: cannot write into {target}: {reason}; choose a folder with {flag}",
            file=sys.stderr,
        )
        return 2
    for path in written:
        say.write(f"wrote {path}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.evaluate import iter_evaluate_model
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.engine.report_plots import json_ready, plots_unavailable
    from fieldcast.engine.runtime import ModelError

    problem = "--trajectories must be at least 1" if args.trajectories < 1 else None
    problem = problem or _folder_problem("--out", args.out) or _folder_problem("--plots", args.plots)
    if problem is None and args.plots is not None:
        problem = plots_unavailable()
    if problem:
        print(f"fieldcast eval: {problem}", file=sys.stderr)
        return 2
    token = CancelToken()
    result: dict[str, Any] = {}

    def capture() -> Any:
        result["r"] = yield from iter_evaluate_model(
            args.model,
            args.data,
            args.split,
            args.horizons,
            args.trajectories,
            token,
            keep_arrays=args.plots is not None,
        )

    try:
        finished = drive(capture(), token)
    except KeyError as exc:
        key = exc.args[0] if exc.args else "?"
        print(f"fieldcast eval: {args.model}: {key}", file=sys.stderr)
        return 2
    except (ModelError, OSError, ValueError) as exc:  # DatasetError is a ValueError; most name their file
        from fieldcast.app.cli_errors import naming

        print(f"fieldcast eval: {naming(exc, args.model, args.data)}", file=sys.stderr)
        return 2
    if not finished:
        return 130
    if args.json:
        print(json.dumps(json_ready(result["r"]), indent=2, allow_nan=False))
    else:
        print_table(result["r"], sys.stdout)
    code = _write_files(args, result["r"])
    return code or (0 if result["r"]["finite"] else 1)
