"""Run an engine/training job generator in a thread and deliver its events as Qt signals.

The job is a plain generator (see :mod:`fieldcast.engine.jobs`); this adapter is the only place threads
appear. Events travel as signal payloads, never as attributes read after the thread ends.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Signal

from fieldcast.engine.jobs import Cancelled, CancelToken

__all__ = ["JobWorker"]

log = logging.getLogger("fieldcast.app")

# Workers stay referenced until their thread ends, so a panel dropping its reference early cannot
# delete the QObject whose signals a running job still emits.
_LIVE: set[JobWorker] = set()


class JobWorker(QObject):
    """Runs ``factory(token)`` — a function returning the job's generator — in a thread of its own.

    Pause blocks the job between two events; cancel sets the job's token (the job stops at its next
    check, leaves its outputs consistent and ends itself) and also releases a paused job.
    """

    sig_started = Signal()
    """The thread started running the job."""
    sig_event = Signal(object)
    """One event the job yielded (Progress, training events ...)."""
    sig_error = Signal(str, str)
    """The job failed: (one-line message, traceback)."""
    sig_finished = Signal(str)
    """Always last: "done", "cancelled" or "failed"."""

    def __init__(self, factory: Callable[[CancelToken], Iterator[Any]], name: str = "job") -> None:
        super().__init__()
        self.name = name
        self.token = CancelToken()
        self._factory = factory
        self._resume = threading.Event()
        self._resume.set()
        self._thread = threading.Thread(target=self._run_in_thread, name=f"fieldcast-{name}", daemon=True)

    # Control (GUI thread) ------------------------------------------------------------------------------
    def start(self) -> None:
        _LIVE.add(self)
        self._thread.start()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def cancel(self) -> None:
        self.token.cancel()
        self._resume.set()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the thread ends (used when the application quits); False on time-out."""
        self._thread.join(ms / 1000)
        return not self._thread.is_alive()

    # Worker thread -------------------------------------------------------------------------------------
    def _run_in_thread(self) -> None:
        self.sig_started.emit()
        status = "done"
        job = None
        try:
            job = self._factory(self.token)
            # On cancel the loop keeps draining: the job sees its token, finishes its step, saves what it
            # must (a checkpoint, a complete trajectory) and ends by itself, still reporting as it goes.
            for event in job:
                self.sig_event.emit(event)
                self._resume.wait()
            if self.token.cancelled:
                status = "cancelled"
        except Cancelled:
            status = "cancelled"
        except Exception as exc:  # reported to the user through sig_error, and logged
            status = "failed"
            details = traceback.format_exc()
            log.error("%s failed\n%s", self.name, details)
            self.sig_error.emit(f"{type(exc).__name__}: {exc}", details)
        finally:
            # Finish the generator here, in its own thread, so its clean-up (closing files) never runs
            # later in whichever thread happens to collect it.
            close = getattr(job, "close", None)
            if close is not None:
                close()
        self.sig_finished.emit(status)
        _LIVE.discard(self)
