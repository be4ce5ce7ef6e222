"""Opening a model file without freezing the window: the opening runs in a worker, the window keeps turning.

ONNX Runtime builds a session in one uninterruptible call, and how long that takes depends on the file, not
on its size: a few hundred bytes of graph can ask it to fold constants for minutes, and a model far too large
for the machine may never finish. :class:`ModelOpener` runs the page's whole opening (session, checks of the
metadata against the graph, the first state) in a :class:`~fieldcast.app.workers.JobWorker` and waits for it
in a local event loop: the window repaints, animations and other pages keep running, and after a moment a
small window-modal box (a :class:`~fieldcast.app.play.job_progress.JobProgressBox`: what is being opened, a
busy bar, Cancel) says what the page is waiting for, while keeping a second opening from starting underneath.
An opening that has not finished after :attr:`ModelOpener.timeout_s` seconds, or that the user cancels, is
abandoned with a one-line error naming the file; its thread is left to finish or die with the process, and
whatever it produces afterwards is dropped.

The models shipped inside the package are opened in place, without a worker: they are vetted, open in
well under a second, and pages open them from their first ``showEvent``, where a local event loop would
re-enter the showing of the window.

Pages keep their synchronous shape: ``session = self.opener.run(path, lambda: ModelSession(path))`` returns
what the function returned or raises what it raised, in the GUI thread, so their own error handling is
unchanged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from fieldcast.app.play.job_progress import JobProgressBox
from fieldcast.app.workers import JobWorker
from fieldcast.engine.runtime import ModelError

__all__ = ["OPEN_TIMEOUT_S", "ModelOpener", "wait_abandoned"]

log = logging.getLogger("fieldcast.app.play")

T = TypeVar("T")

#: seconds an opening may take before it is abandoned (a shipped model opens in well under a second)
OPEN_TIMEOUT_S = 60.0
#: an opening shorter than this shows no box at all (no flash for the usual case)
_SHOW_AFTER_MS = 300


# Openings given up on whose thread is still inside ONNX Runtime.
_ABANDONED: set[JobWorker] = set()


def wait_abandoned(seconds: float) -> bool:
    """Wait up to ``seconds`` for abandoned openings and Play steppers to end; True when none is left.

    A thread still inside ONNX Runtime when the interpreter exits can make the process abort on its way
    out, so whoever ends the process may give them a moment first.
    """
    from fieldcast.app.play.stepper import wait_abandoned_steppers

    deadline = time.monotonic() + seconds
    for worker in list(_ABANDONED):
        worker.wait(int(max(0.0, deadline - time.monotonic()) * 1000))
    steppers_ended = wait_abandoned_steppers(max(0.0, deadline - time.monotonic()))
    return steppers_ended and not any(w.is_running() for w in _ABANDONED)


def _shipped(path: Path) -> bool:
    """True for a model file shipped inside the package."""
    from fieldcast.resources import resource_path

    try:
        return path.resolve().is_relative_to(resource_path("models").resolve())
    except OSError:
        return False


class _Outcome:
    """What the opening function returned or raised, carried to the GUI thread as a signal payload."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error


def _opening(fn: Callable[[], Any]) -> Iterator[_Outcome]:
    """The job the worker runs: one call of ``fn``, its result or its exception as the only event."""
    try:
        value = fn()
    except Exception as exc:  # re-raised in the GUI thread, where the page handles it as before
        yield _Outcome(error=exc)
    else:
        yield _Outcome(value)


class _OpeningBox(QDialog):
    """The window-modal box shown while an opening takes longer than a moment."""

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent, Qt.WindowType.Dialog | Qt.WindowType.CustomizeWindowHint)
        self.setObjectName("model_opening")
        self.setWindowTitle("Opening a model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress = JobProgressBox()
        self.progress.cancel_button.setToolTip("Stop waiting for this model; the page keeps what it had")
        column = QVBoxLayout(self)
        column.addWidget(self.progress)
        self.setMinimumWidth(420)


class ModelOpener(QObject):
    """Runs a page's model opening in a worker with a time limit, keeping the window's event loop alive.

    Parameters
    ----------
    page : the widget whose window the progress box belongs to.
    timeout_s : seconds before an opening is abandoned.
    """

    sig_busy = Signal(bool)
    """An opening started (True) or ended (False)."""

    def __init__(self, page: QWidget, timeout_s: float = OPEN_TIMEOUT_S) -> None:
        super().__init__(page)
        self.page = page
        self.timeout_s = float(timeout_s)
        self.opening: Path | None = None
        self.box: _OpeningBox | None = None
        self._loop: QEventLoop | None = None
        self._why_stopped = ""

    @property
    def busy(self) -> bool:
        return self.opening is not None

    def cancel(self) -> None:
        """Stop waiting for the opening in progress (it is abandoned, as on time-out)."""
        if self._loop is not None:
            self._why_stopped = "cancelled"
            self._loop.quit()

    def run(self, path: str | os.PathLike, fn: Callable[[], T]) -> T:
        """``fn()`` run in a worker while the window keeps turning; its value, or what it raised.

        Raises
        ------
        ModelError : ``path`` took longer than :attr:`timeout_s` to open, the user cancelled, or another
            opening is still in progress; else whatever ``fn`` raised.
        """
        path = Path(path)
        if _shipped(path):
            # The models shipped with Fieldcast are vetted and open in well under a second; pages open them
            # from their first showEvent, where a local event loop would re-enter the window's showing.
            return fn()
        if self.opening is not None:
            raise ModelError(path, f"{self.opening.name} is still being opened; wait for it or cancel it")
        outcomes: list[_Outcome] = []
        loop = QEventLoop()
        # The job ignores its cancel token: nothing can interrupt ONNX Runtime while it builds a session.
        worker = JobWorker(lambda _token: _opening(fn), name="open-model")

        def on_event(outcome: _Outcome) -> None:
            if loop is self._loop:  # an abandoned opening's late result is dropped
                outcomes.append(outcome)
                loop.quit()

        def on_finished(_status: str) -> None:
            if loop is self._loop:
                loop.quit()

        worker.sig_event.connect(on_event)
        worker.sig_finished.connect(on_finished)
        timer = QTimer(self, singleShot=True, interval=int(self.timeout_s * 1000))
        timer.setTimerType(Qt.TimerType.PreciseTimer)  # a limit said in seconds is kept to the ms
        timer.timeout.connect(loop.quit)
        show = QTimer(self, singleShot=True, interval=_SHOW_AFTER_MS)
        show.timeout.connect(lambda: self._show_box(path))
        self.opening, self._loop, self._why_stopped = path, loop, "timeout"
        self.sig_busy.emit(True)
        try:
            worker.start()
            timer.start()
            show.start()
            loop.exec()
        finally:
            timer.stop()
            show.stop()
            self._loop, self.opening = None, None
            if self.box is not None:
                self.box.progress.finish()
                self.box.hide()
            self.sig_busy.emit(False)
        if outcomes:
            outcome = outcomes[0]
            if outcome.error is not None:
                raise outcome.error
            return outcome.value
        worker.cancel()
        if worker.is_running():
            _ABANDONED.add(worker)
            worker.sig_finished.connect(lambda _status: _ABANDONED.discard(worker))
        if self._why_stopped == "cancelled":
            raise ModelError(path, "opening it was cancelled; the page keeps what it had")
        log.error("opening %s did not finish within %g s; abandoned", path, self.timeout_s)
        raise ModelError(
            path,
            f"ONNX Runtime did not finish opening it within {self.timeout_s:g} s (a model far too large "
            "for this machine, or a damaged or hostile file); it was abandoned",
        )

    def _show_box(self, path: Path) -> None:
        if self.box is None:
            self.box = _OpeningBox(self.page.window() if self.page.isVisible() else None)
            self.box.progress.sig_cancel_requested.connect(self.cancel)
            self.box.rejected.connect(self.cancel)  # Escape or the window's close button
        self.box.progress.start(f"Opening {path.name}… (at most {self.timeout_s:g} s)")
        self.box.show()
