"""``fieldcast generate SYSTEM``: simulate a dataset with a system's reference solver."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

NAME = "generate"
HELP = "generate a dataset with a reference solver (parallel over processes, Ctrl-C keeps what is done)"

# Exit codes: 0 done, 2 bad arguments, 130 cancelled by the user (the file holds the finished trajectories).
_EXIT_BAD_ARGS = 2
_EXIT_CANCELLED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", help="system to simulate, e.g. smoke")
    parser.add_argument("--out", required=True, help="HDF5 file to write (replaced if it exists)")
    parser.add_argument(
        "--trajectories", "--microstructures", type=int, default=10, help="number of runs (default 10)"
    )
    parser.add_argument("--frames", type=int, default=100, help="frames per run (default 100)")
    parser.add_argument(
        "--increments",
        type=int,
        default=None,
        help="load increments per run (stress): stores INCREMENTS + 1 frames, the unloaded cell first",
    )
    parser.add_argument(
        "--grains",
        default=None,
        metavar="G|LOW:HIGH",
        help="grains per microstructure (stress), e.g. 10 or 5:20",
    )
    parser.add_argument(
        "--source",
        default=None,
        help="data source of a system that has several (thermal-imaging: radio or ir; default radio)",
    )
    parser.add_argument("--size", type=int, default=128, help="cells per side of the grid (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="root seed; same seed, same file (default 0)")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes to simulate in; the file is the same (default 1)"
    )
    parser.add_argument(
        "--set",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="system option, repeatable, e.g. --set vorticity=0.1 --set boundary=closed --set warmup=20",
    )


def _parse_options(items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text  # a bare word such as `closed`
        options[key.strip().replace("-", "_")] = value
    return options


def _grains(text: str) -> int | list[int]:
    low, sep, high = text.partition(":")
    try:
        return [int(low), int(high)] if sep else int(low)
    except ValueError:
        raise ValueError(f"--grains expects a count or LOW:HIGH, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.generation import check_request, generate_dataset
    from fieldcast.engine.jobs import CancelToken

    prog = f"fieldcast {NAME}"
    try:
        options = _parse_options(args.options)
        if args.source is not None:
            options["source"] = args.source
        if args.grains is not None:
            options["grains"] = _grains(args.grains)
        if args.increments is not None:
            if args.increments < 1:
                raise ValueError(f"--increments must be at least 1, got {args.increments}")
            args.frames = args.increments + 1
        check_request(
            args.system, args.out, args.trajectories, args.frames, args.size, args.workers, **options
        )
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write(f"{prog}: error: {message}\n")
        return _EXIT_BAD_ARGS

    token = CancelToken()
    written = 0

    def counted() -> Iterator:
        nonlocal written
        for event in generate_dataset(
            args.system,
            args.out,
            args.trajectories,
            args.frames,
            args.size,
            args.seed,
            workers=args.workers,
            cancel=token,
            **options,
        ):
            written = getattr(event, "done", written)
            yield event

    try:
        finished = drive(counted(), token)
    except KeyboardInterrupt:
        # A second Ctrl-C: the writer still closed the file with the trajectories that were complete.
        finished = False
    except OSError as exc:
        sys.stderr.write(f"{prog}: error: cannot write {args.out}: {exc}\n")
        return _EXIT_BAD_ARGS
    if not finished:
        sys.stderr.write(f"{prog}: cancelled; {args.out} holds {written} complete trajectories\n")
        return _EXIT_CANCELLED
    sys.stderr.write(f"{prog}: wrote {written} trajectories of {args.system} to {args.out}\n")
    return 0
