"""Write a run's report (or a comparison of several runs) in the background, then open it."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fieldcast.engine.jobs import CancelToken

__all__ = ["COMPARISONS", "comparison_folder", "report_job"]

#: the hidden folder of the runs folder where comparison reports go (the run list ignores it)
COMPARISONS = ".comparisons"


def comparison_folder(runs_dir: Path, runs: Sequence[Path]) -> Path:
    """A fresh folder for the comparison of ``runs``: ``<runs_dir>/.comparisons/<time>-<n>-runs``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / COMPARISONS / f"{stamp}-{len(runs)}-runs"
    folder, i = base, 1
    while folder.exists():
        i += 1
        folder = base.with_name(f"{base.name}-{i}")
    return folder


def report_job(runs: Sequence[Path], runs_dir: Path):
    """A JobWorker factory: the report of one run (in its folder) or the comparison of several.

    The last event is the engine's :class:`~fieldcast.engine.report.ReportDone`.
    """
    runs = [Path(r) for r in runs]

    def job(token: CancelToken) -> Iterator[Any]:
        if len(runs) == 1:
            from fieldcast.engine.report import iter_report

            done = yield from iter_report(runs[0], token=token)
        else:
            from fieldcast.engine.report_compare import iter_compare_report

            done = yield from iter_compare_report(runs, comparison_folder(runs_dir, runs), token)
        yield done

    return job
