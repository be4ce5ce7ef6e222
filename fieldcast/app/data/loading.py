"""What the Data panel knows about one file, and the background job that finds it out.

The job probes the file in a child process first (libhdf5 may crash or hang on a crafted file; the probe
turns that into an error line), and only then opens a usable Well file in this process to read what the
preview needs: statistics (computed from the train split for a foreign file, which can take a while) and
split sizes. It runs in a :class:`~fieldcast.app.workers.JobWorker`, so the window never waits for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fieldcast.engine.data import (
    SPLIT_NAMES,
    DatasetError,
    FieldDataset,
    ProbeResult,
    open_dataset,
    probe_file,
)
from fieldcast.engine.jobs import Cancelled, CancelToken

log = logging.getLogger("fieldcast.app")

__all__ = ["DatasetEntry", "load_job"]

#: states of an entry, in the order a file goes through them
STATES = ("probing", "ok", "problems", "error", "import")


@dataclass
class DatasetEntry:
    """One file in the dataset list.

    Attributes
    ----------
    path : the file as the user gave it.
    state : ``probing`` (job running), ``ok``, ``problems`` (opens, but validation found issues), ``error``
        (unusable; see ``error``) or ``import`` (a foreign format that must be imported first).
    probe : the probe's summary once it answered.
    dataset : the opened dataset for ``ok``/``problems`` (lazy: frames are read on demand).
    splits : split name -> (number of segments, number of frames).
    problems : validation problems, one line each.
    error : the one-line reason an ``error`` file cannot be used.
    ticket : which read of the file this is; an answer to an older read (the file was reloaded since)
        is dropped.
    """

    path: Path
    state: str = "probing"
    probe: ProbeResult | None = None
    dataset: FieldDataset | None = None
    splits: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str = ""
    ticket: int = 0

    @property
    def usable(self) -> bool:
        return self.state in ("ok", "problems") and self.dataset is not None

    def status_text(self) -> str:
        """One short line for the list: what the file is, or why it cannot be used."""
        if self.state == "probing":
            return "reading…"
        if self.state == "error":
            return self.error.removeprefix(f"{self.path}: ")
        p = self.probe
        size = _human_size(p.size_bytes) if p else ""
        if self.state == "import":
            return f"{p.format} · {p.grid[0]}×{p.grid[1]} × {p.n_frames} frames · {size} · import needed"
        status = "ok" if self.state == "ok" else f"{len(self.problems)} problem(s)"
        shape = f"{p.grid[0]}×{p.grid[1]} × {p.n_frames} frames × {p.n_trajectories} traj"
        return f"{p.system} · {shape} · {size} · {status}"

    def close(self) -> None:
        """Release the file handle (the entry leaves the list, or the panel shuts down)."""
        if self.dataset is not None:
            self.dataset.close()


def _human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _split_sizes(ds: FieldDataset) -> dict[str, tuple[int, int]]:
    out = {}
    for name in SPLIT_NAMES:
        segments = ds.split_segments(name)
        out[name] = (len(segments), sum(stop - start for _, start, stop in segments))
    return out


def _inspect(path: Path, probe: ProbeResult, ticket: int) -> DatasetEntry:
    entry = DatasetEntry(path, probe=probe, ticket=ticket)
    if not probe.ok:
        entry.state = "error"
        entry.error = probe.error or f"{path}: unusable"
        return entry
    if probe.format != "well":
        entry.state = "import"
        return entry
    try:
        ds = open_dataset(path)
        ds.stats  # noqa: B018 - computed (and cached) here, off the GUI thread, for a foreign file
        entry.splits = _split_sizes(ds)
        ds.close()  # the preview reopens it lazily in the GUI thread
    except (DatasetError, OSError) as exc:
        entry.state = "error"
        entry.error = str(exc) if isinstance(exc, DatasetError) else f"{path}: {exc}"
        return entry
    entry.dataset = ds
    entry.problems = list(probe.problems)
    entry.state = "problems" if entry.problems else "ok"
    return entry


def load_job(
    path: Path, ticket: int = 0, timeout: float = 30.0
) -> Callable[[CancelToken], Iterator[DatasetEntry]]:
    """A job factory for :class:`~fieldcast.app.workers.JobWorker` that yields one filled-in entry."""

    def job(token: CancelToken) -> Iterator[DatasetEntry]:
        try:
            probe = probe_file(path, timeout=timeout)
            token.raise_if_cancelled()
            entry = _inspect(Path(path), probe, ticket)
        except Cancelled:
            raise
        except Exception as exc:  # a bug, not a bad file: the entry says so and the log has the traceback
            log.exception("reading %s failed", path)
            error = f"{path}: unexpected error ({exc!r})"
            entry = DatasetEntry(Path(path), state="error", error=error, ticket=ticket)
        yield entry

    return job
