"""``fieldcast play [MODEL]``: open the window on the Play panel, optionally with a model loaded.

The model opens in the Play page that fits it (smoke, melt, trajectory, or the generic field page for any
other field model); a file no page can show is refused here, in one line, before a window opens.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "play"
HELP = "open the Play panel, optionally with an exported model (.onnx) or a G-code file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", nargs="?", type=Path, help="an exported Fieldcast model (.onnx) or a G-code file"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    if args.model is not None:
        from fieldcast.app.play.routing import route_file

        if not args.model.is_file():
            sys.stderr.write(f"fieldcast play: {args.model}: file not found\n")
            return 2
        route = route_file(args.model)
        if route.page is None:
            sys.stderr.write(f"fieldcast play: {args.model}: {route.problem}\n")
            return 2

    from fieldcast.app.gui import run_gui

    return run_gui([args.model] if args.model else None, panel="play")
