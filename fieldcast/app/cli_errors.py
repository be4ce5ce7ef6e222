"""The error boundary of every ``fieldcast`` command: one line for the person, the traceback in a log file.

Each command already turns the errors it expects into ``FILE: problem`` and exit code 2. Whatever still
escapes a command lands here:

- a file Fieldcast's readers refused (``DatasetError``, ``ModelError``, ``RecipeError`` ...) that a command
  did not catch: its own one-line message, exit 2;
- ``MemoryError``, ``RecursionError`` and ONNX Runtime's exceptions, which only a hostile or damaged input
  provokes: a line naming the command's input file, exit 2;
- anything else is a fault of Fieldcast: the traceback goes to the log file, the person sees one line with
  the log's path, exit 3.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import traceback
from pathlib import Path

__all__ = ["EXIT_INPUT", "EXIT_INTERNAL", "input_subject", "naming", "report_failure"]

EXIT_INPUT = 2
EXIT_INTERNAL = 3
_LOG_NAME = "fieldcast-cli.log"
_LOG_MAX_BYTES = 2_000_000
# Argument names that hold the file a command reads, most specific first.
_SUBJECTS = ("file", "src", "model", "resume", "run", "recipe", "data")
# Exceptions that already read "PATH: problem" (matched by name so no heavy module is imported here).
_ONE_LINE = {"DatasetError", "ModelError", "RecipeError", "CheckpointError", "ExportError", "GCodeError"}


def input_subject(args: argparse.Namespace) -> str:
    """The input file or folder a command was given (for messages about it), or the command's name."""
    for name in _SUBJECTS:
        value = getattr(args, name, None)
        if value:
            return str(value)
    return f"fieldcast {getattr(args, 'command', '')}".strip()


def naming(message: object, *paths: object) -> str:
    """``message`` as one line that names a file: prefixed with the first of ``paths`` unless it already
    names one of them (a reader deep inside a command may not know which file it was reading)."""
    text = _one_line(message)
    names = [str(p) for p in paths if p]
    if any(n in text or Path(n).name in text for n in names):
        return text
    return f"{names[0]}: {text}" if names else text


def _one_line(text: object, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def log_path() -> Path:
    """The file the command's tracebacks go to (in the user's log folder)."""
    from fieldcast.app.paths import app_paths

    return app_paths().logs / _LOG_NAME


def _write_log(args: argparse.Namespace, exc: BaseException) -> Path | None:
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > _LOG_MAX_BYTES:
            os.replace(path, path.with_suffix(".log.1"))
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} fieldcast {' '.join(sys.argv[1:])}\n{text}\n")
        return path
    except Exception:  # the log is a courtesy; never let it hide the message
        return None


def report_failure(args: argparse.Namespace, exc: BaseException, stream=None) -> int:
    """Print one line about ``exc`` escaping command ``args.command``; returns the exit code."""
    stream = stream or sys.stderr
    command = f"fieldcast {getattr(args, 'command', '')}".strip()
    subject = input_subject(args)
    kind = type(exc).__name__
    module = type(exc).__module__ or ""
    code = EXIT_INPUT
    if kind in _ONE_LINE or any(k.__name__ in _ONE_LINE for k in type(exc).__mro__):
        line = f"{command}: {_one_line(exc)}"
    elif isinstance(exc, MemoryError):
        line = (
            f"{command}: {subject}: needs more memory than this machine can give (damaged or crafted file?)"
        )
        _write_log(args, exc)
    elif isinstance(exc, RecursionError):
        line = f"{command}: {subject}: nested too deeply to read (damaged or crafted file?)"
        _write_log(args, exc)
    elif module.startswith("onnxruntime"):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
        line = f"{command}: {subject}: ONNX Runtime failed ({_one_line(first.split(' : ')[-1], 300)})"
        _write_log(args, exc)
    else:
        code = EXIT_INTERNAL
        where = _write_log(args, exc)
        tail = f"; the details are in {where}" if where else ""
        line = f"{command}: internal error on {subject} ({kind}: {_one_line(exc, 200)}){tail}"
    stream.write(line + "\n")
    stream.flush()
    return code
