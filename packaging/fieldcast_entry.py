"""Start of the packaged Fieldcast application: the PyInstaller bundles run this file.

It does what a Python installation would do for the ``fieldcast`` command, plus two things only a frozen
program needs:

* ``multiprocessing.freeze_support()``: dataset generation fans out over processes started with "spawn",
  which in a bundle re-run this executable; the call turns such a run into the worker it was meant to be.
* ``fieldcast -m fieldcast.some.module ARGS``: Fieldcast runs a few helpers as
  ``[sys.executable, "-m", module, ...]`` (the dataset probe reads unknown files in a child process so a
  damaged file cannot crash the window). In a bundle ``sys.executable`` is this program, so it accepts the
  same ``-m`` form for Fieldcast's own modules.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys


def _coerce_c_locale() -> None:
    """Use C.UTF-8 when no locale is set at all, as the ``python`` program does (PEP 538) and Qt expects."""
    if sys.platform.startswith("linux") and not any(
        os.environ.get(k) for k in ("LC_ALL", "LC_CTYPE", "LANG")
    ):
        os.environ["LC_CTYPE"] = "C.UTF-8"


def main() -> int:
    multiprocessing.freeze_support()
    _coerce_c_locale()
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "-m" and argv[1].split(".")[0] == "fieldcast":
        sys.argv = [sys.argv[0], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    from fieldcast.app.cli import main as cli_main

    return int(cli_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
