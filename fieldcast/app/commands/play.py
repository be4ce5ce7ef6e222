"""``fieldcast play [MODEL]``: open the window on the Play panel, optionally with a model loaded."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "play"
HELP = "open the Play panel, optionally with an exported model (.onnx)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", type=Path, help="an exported Fieldcast model (.onnx)")


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldcast.app.gui import run_gui

    if args.model is not None and not args.model.is_file():
        sys.stderr.write(f"fieldcast play: {args.model}: file not found\n")
        return 2
    return run_gui([args.model] if args.model else None, panel="play")
