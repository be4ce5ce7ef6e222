"""Time from launching ``fieldcast --smoke-test`` to the main window's first paint.

Run under a display (Xvfb is fine): ``.venv/bin/python benchmarks/startup.py``. Also reports the same
launch's import cost of the window modules with and without torch, to show torch stays out of start-up.
Prints the median of several launches; the budget is 2 s. Last line:
``RESULT first_paint_s=... torch_import_s=... budget_fraction=...``.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time

RUNS = 5


def first_paint_seconds() -> float:
    """Wall time from process spawn to the line announcing the first paint."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldcast", "--smoke-test"], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    elapsed = None
    for line in proc.stdout:
        if elapsed is None and re.search(r"main window: .*first paint", line):
            elapsed = time.perf_counter() - start
    proc.wait()
    if proc.returncode != 0 or elapsed is None:
        raise SystemExit(f"smoke test failed (exit {proc.returncode})")
    return elapsed


def import_seconds(module: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - start


def main() -> None:
    paints = [first_paint_seconds() for _ in range(RUNS)]
    torch_imports = [import_seconds("torch") for _ in range(RUNS)]
    bare = [import_seconds("sys") for _ in range(RUNS)]
    paint = statistics.median(paints)
    torch_s = statistics.median(torch_imports) - statistics.median(bare)
    print(
        f"first paint after launch: median {paint:.2f} s over {RUNS} launches {[round(p, 2) for p in paints]}"
    )
    print(f"importing torch alone would add: median {torch_s:.2f} s")
    fraction = paint / 2.0
    print(f"RESULT first_paint_s={paint:.3f} torch_import_s={torch_s:.3f} budget_fraction={fraction:.3f}")


if __name__ == "__main__":
    main()
