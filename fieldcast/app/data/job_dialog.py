"""A dialog that runs one file-writing job (generate, import): a form, a progress bar with ETA, Cancel.

Subclasses fill :attr:`JobDialog.form`, say what is wrong with the form (:meth:`problem`), build the job
(:meth:`job_factory`) and say what happened when it ended (:meth:`finished_message`). The job runs in a
:class:`~fieldcast.app.workers.JobWorker`; while it runs the form is locked, Cancel (or Esc, or closing the
window) asks the job to stop, and the dialog stays open until it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import CancelToken, Progress

__all__ = ["JobDialog", "format_duration"]

_ERROR_STYLE = "color: #c62828;"
_NOTE_STYLE = "color: #555;"


def format_duration(seconds: float) -> str:
    """``"8 s"``, ``"2 min 05 s"``, ``"1 h 03 min"``: a remaining time for a person."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class JobDialog(QDialog):
    """Form + progress + Start/Cancel/Close around one background job."""

    sig_output_ready = Signal(str)
    """The job wrote a dataset the panel should list and select (its path)."""
    sig_writing = Signal(str)
    """The job is about to write this file (its path): whoever has it open must let it go."""
    sig_job_finished = Signal(str)
    """The job ended: "done", "cancelled" or "failed"."""

    #: text of the button that starts the job
    start_text = "Start"

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        self.worker: JobWorker | None = None
        self._running = False
        self._error = ""
        self._started_at = 0.0
        self._last: Progress | None = None

        self.form = QFormLayout()
        self.message_label = QLabel()
        self.message_label.setObjectName("message_label")
        self.message_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.eta_label = QLabel()
        self.eta_label.setObjectName("eta_label")
        self.eta_label.setMinimumWidth(140)
        self.start_button = QPushButton(self.start_text)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")

        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.eta_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            button.setAutoDefault(False)
            buttons.addWidget(button)
        box = QVBoxLayout(self)
        box.addLayout(self.form)
        box.addSpacing(6)
        box.addWidget(self.message_label)
        box.addLayout(progress_row)
        box.addLayout(buttons)

        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.close_button.clicked.connect(self._on_close_button_clicked)

    # To be provided by subclasses -----------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why the job cannot start with the form as it is (None when it can)."""
        raise NotImplementedError

    def note(self) -> str:
        """A neutral remark about the request (e.g. "the file will be replaced"), or ""."""
        return ""

    def output_path(self) -> Path:
        """The file the job will write."""
        raise NotImplementedError

    def job_factory(self) -> Callable[[CancelToken], Iterator[Any]]:
        raise NotImplementedError

    def handle_event(self, event: Any) -> None:
        """An event that is not a Progress (e.g. an import report)."""

    def finished_message(self, status: str) -> str:
        """The line shown when the job ended with ``status``; may emit :attr:`sig_output_ready`."""
        return status

    def form_widgets(self) -> list[QWidget]:
        """Widgets locked while the job runs."""
        return []

    # Public API -----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._running

    def start(self) -> bool:
        """Start the job if the form is valid; False (with the reason shown) otherwise."""
        if self.is_running():
            return False
        problem = self.problem()
        if problem:
            self.show_message(problem, error=True)
            return False
        self.sig_writing.emit(str(self.output_path()))
        self.worker = JobWorker(self.job_factory(), name=type(self).__name__)
        self.worker.sig_event.connect(self._on_worker_event)
        self.worker.sig_error.connect(self._on_worker_error)
        self.worker.sig_finished.connect(self._on_worker_finished)
        self._started_at = time.monotonic()
        self._last = None
        self._error = ""
        self.progress_bar.setRange(0, 0)  # busy until the first progress event
        self.eta_label.setText("starting…")
        self.show_message("")
        self._set_running(True)
        self._running = True
        self.worker.start()
        return True

    def cancel(self) -> None:
        """Ask the running job to stop; it finishes its current step and leaves its output consistent."""
        if self.is_running():
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.show_message("Cancelling — finishing the current step…")

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel and wait for the job (the application is closing)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(timeout_ms)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message_label.setStyleSheet(_ERROR_STYLE if error else _NOTE_STYLE)
        self.message_label.setText(text)

    def refresh_problem(self) -> None:
        """Re-check the form: show what is wrong (or the note) and enable Start accordingly."""
        if self.is_running():
            return
        problem = self.problem()
        self.start_button.setEnabled(problem is None)
        if problem:
            self.show_message(problem, error=True)
        else:
            self.show_message(self.note())

    # Internals ------------------------------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        for widget in self.form_widgets():
            widget.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)

    def _show_progress(self, event: Progress) -> None:
        self._last = event
        if not event.total:
            self.progress_bar.setRange(0, 0)
            return
        self.progress_bar.setRange(0, event.total)
        self.progress_bar.setValue(event.done)
        self.progress_bar.setFormat(f"%v / %m  {event.message}".rstrip())
        fraction = event.fraction or 0.0
        if fraction > 0:
            elapsed = time.monotonic() - self._started_at
            self.eta_label.setText(f"about {format_duration(elapsed * (1 - fraction) / fraction)} left")

    # Handlers -------------------------------------------------------------------------------------------
    def _on_start_button_clicked(self) -> None:
        self.start()

    def _on_cancel_button_clicked(self) -> None:
        self.cancel()

    def _on_close_button_clicked(self) -> None:
        self.reject()

    def _on_worker_event(self, event: object) -> None:
        if isinstance(event, Progress):
            self._show_progress(event)
        else:
            self.handle_event(event)

    def _on_worker_error(self, message: str, _details: str) -> None:
        self._error = message
        self.show_message(message, error=True)

    def _on_worker_finished(self, status: str) -> None:
        self._running = False
        self._set_running(False)
        if self.progress_bar.maximum() == 0:
            self.progress_bar.setRange(0, 1)
        elapsed = format_duration(time.monotonic() - self._started_at)
        self.eta_label.setText(f"{status} after {elapsed}")
        if status == "failed":
            self.show_message(f"Failed: {self._error or 'see the log'}", error=True)
        else:
            self.show_message(self.finished_message(status))
        self.start_button.setEnabled(self.problem() is None)
        self.sig_job_finished.emit(status)

    def reject(self) -> None:
        if self.is_running():
            self.cancel()  # stays open until the job has stopped, so the user sees the outcome
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.is_running():
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)
