"""``fieldcast import SRC --out DST.h5``: NPZ frames, PDEBench files and G-code into a Fieldcast file.

A G-code file is imported by its own job (:func:`~fieldcast.engine.data.importers.gcode.import_gcode`), so
the progress bar counts moves while it is parsed, simulated and written.
"""

from __future__ import annotations

import argparse
import sys

NAME = "import"
HELP = "import NPZ frame sequences, PDEBench HDF5 or G-code into a Fieldcast dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "src",
        help="an .npz file, a folder of .npz frames/sequences, a PDEBench .h5/.hdf5 or a G-code file",
    )
    parser.add_argument("--out", required=True, help="the Fieldcast .h5 file to write")
    parser.add_argument("--system", help="map onto this system's channels (default: a generic system)")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="send source channel SRC to channel DST (repeatable); SRC= drops SRC",
    )
    parser.add_argument(
        "--axes", choices=("xy", "yx"), default="xy", help="NPZ array axis order (yx: row = y)"
    )
    parser.add_argument("--dt", type=float, help="time between frames, overriding the source")
    parser.add_argument("--compression", choices=("auto", "gzip", "lzf", "none"), default="auto")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.data import DatasetError, ImportReport, import_file, parse_map_args
    from fieldcast.engine.data.importers.gcode import import_gcode, looks_like_gcode
    from fieldcast.engine.jobs import CancelToken

    reports: list[ImportReport] = []
    token = CancelToken()
    try:
        overrides = parse_map_args(args.map)
        if looks_like_gcode(Path(args.src)):
            importer, options = import_gcode, {}
        else:
            importer, options = import_file, {"axes": args.axes}
        job = importer(
            args.src,
            args.out,
            system=args.system,
            mapping=overrides,
            dt=args.dt,
            compression=None if args.compression == "none" else args.compression,
            token=token,
            **options,
        )
        finished = drive(
            job, token, on_event=lambda e: reports.append(e) if isinstance(e, ImportReport) else None
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyError, ValueError) as exc:
        # An unknown --system or a malformed --map: the user's arguments, not the file.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {args.src}: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.out}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 2
    if not finished:
        print(f"import cancelled; {args.out} was not written", file=sys.stderr)
        return 130
    for report in reports:
        print("\n".join(report.lines()))
    return 0
