"""Drive a job generator from the terminal: a progress bar, an ETA, and Ctrl-C as a clean cancel."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from fieldcast.engine.jobs import Cancelled, CancelToken, Progress

__all__ = ["drive"]


def _format_eta(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _Bar:
    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.start = time.monotonic()
        self.tty = stream.isatty()
        self._last_line = ""
        self._last_print = 0.0
        self._last_stage = ""

    def show(self, p: Progress) -> None:
        elapsed = time.monotonic() - self.start
        if p.total:
            frac = min(1.0, p.done / p.total)
            filled = int(frac * self.width)
            eta = _format_eta(elapsed / frac - elapsed) if frac > 0 else "--:--"
            line = f"{p.stage} [{'#' * filled}{'.' * (self.width - filled)}] {p.done}/{p.total} ETA {eta}"
        else:
            line = f"{p.stage} {p.done} ({_format_eta(elapsed)})"
        if p.message:
            line += f"  {p.message}"
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self._last_line)))
        elif (p.total and p.done >= p.total) or now - self._last_print >= 5.0 or p.stage != self._last_stage:
            # Logs and pipes get a line every few seconds, not one per step.
            self.stream.write(line + "\n")
            self._last_print = now
        self._last_stage = p.stage
        self.stream.flush()
        self._last_line = line

    def close(self) -> None:
        if self.tty and self._last_line:
            self.stream.write("\n")
            self.stream.flush()


def drive(
    job: Iterable[Any],
    token: CancelToken,
    on_event: Callable[[Any], None] | None = None,
    stream: TextIO | None = None,
) -> bool:
    """Run ``job`` to its end, drawing each :class:`Progress` it yields.

    The first Ctrl-C sets ``token`` so the job stops at its next check and leaves its outputs consistent;
    a second Ctrl-C interrupts at once. Other events go to ``on_event``.

    Returns
    -------
    True when the job finished, False when it was cancelled.
    """
    stream = stream or sys.stderr
    bar = _Bar(stream)
    previous = None

    def _on_sigint(signum, frame):
        if token.cancelled:
            raise KeyboardInterrupt
        stream.write("\ncancelling: finishing the current step (Ctrl-C again to abort)\n")
        token.cancel()

    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread: no signal handling, the token still works
        previous = None
    try:
        for event in job:
            if isinstance(event, Progress):
                bar.show(event)
            elif on_event is not None:
                on_event(event)
    except Cancelled:
        bar.close()
        return False
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    bar.close()
    return not token.cancelled
