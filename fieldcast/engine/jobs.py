"""Long work as generators: progress events and cooperative cancellation.

Every long job in Fieldcast (generate, import, train, export, evaluate) is a plain generator that yields
:class:`Progress` events (or richer event objects of its own) and checks a :class:`CancelToken` between
steps. The CLI drives such a generator with a progress bar, the GUI runs the same generator in a worker
thread, and tests iterate it directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["CancelToken", "Cancelled", "Progress"]


class Cancelled(Exception):  # noqa: N818 - reads as an outcome, not an error
    """Raised inside a job when its cancel token was set; the job has left its outputs consistent."""


class CancelToken:
    """A thread-safe flag a job polls between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


@dataclass(frozen=True)
class Progress:
    """One progress report of a long job.

    Attributes
    ----------
    stage : short name of what is being done ("generate", "import", ...).
    done, total : units of work finished and expected (``total`` is None when unknown).
    message : a line a person can read.
    """

    stage: str
    done: int
    total: int | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)
