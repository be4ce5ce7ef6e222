"""The ``fieldcast`` command: the window with no arguments, subcommands for everything else."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

import fieldcast
from fieldcast.app.commands import COMMANDS

__all__ = ["build_parser", "main"]

_DESCRIPTION = (
    "Fieldcast: a studio for neural surrogates of physical simulations.\n"
    "Run without a subcommand to open the window (files given are opened in it)."
)

_HELP = {
    "generate": "generate a dataset with a reference solver",
    "info": "describe and validate a dataset",
    "import": "import foreign simulation data into a Fieldcast dataset",
    "train": "train a surrogate from a recipe",
    "export": "export a trained run to ONNX",
    "bench": "measure a model's inference speed",
    "eval": "evaluate a model against a dataset",
    "report": "write an HTML report of a run or an exported model",
    "play": "open the Play panel with a model",
}


def _load_command(name: str):
    """The module implementing subcommand ``name``, or None if this build does not have it."""
    module_name = COMMANDS[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fieldcast", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"fieldcast {fieldcast.__version__}")
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="build the window, run its self-checks and exit (0 = healthy)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the subcommand being run is imported, so the others cost nothing at start-up.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name in COMMANDS:
        module = _load_command(name) if name == chosen else None
        help_text = getattr(module, "HELP", _HELP[name]) if module else _HELP[name]
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if module is not None:
            module.add_arguments(sp)
        elif name == chosen:
            # Not in this build (Player has no training): take any arguments, then say so plainly.
            sp.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Existing files given without a subcommand open in the window: `fieldcast data.h5 model.onnx`.
    if argv and all(a not in COMMANDS and Path(a).exists() for a in argv):
        from fieldcast.app.gui import run_gui

        return run_gui([Path(a) for a in argv])
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.smoke_test:
        from fieldcast.app.smoke_test import run_smoke_test

        return run_smoke_test()
    if args.command is None:
        from fieldcast.app.gui import run_gui

        return run_gui()
    module = _load_command(args.command)
    if module is None:
        sys.stderr.write(f"fieldcast {args.command}: not available in this version of Fieldcast\n")
        return 2
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (``fieldcast info F | head``): not an error of the command. Point stdout at
        # nothing so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the boundary: one line to the person, the traceback to the log
        from fieldcast.app.cli_errors import report_failure

        return report_failure(args, exc)


if __name__ == "__main__":
    sys.exit(main())
