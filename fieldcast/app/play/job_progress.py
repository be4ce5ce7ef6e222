"""A progress bar with a cancel button for one background job of a Play page.

The box shows the :class:`~fieldcast.engine.jobs.Progress` events of the job that runs: the stage's
message, a bar of ``done / total`` in the job's units with the time left in the stage, or a busy bar when
a step cannot measure its progress (``total`` is None). Cancel asks the page to cancel the job; the box
says "Cancelling…" until the page reports the job finished.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from fieldcast.engine.jobs import Progress

__all__ = ["JobProgressBox", "format_eta"]


def format_eta(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a non-negative duration."""
    seconds = int(max(0.0, seconds) + 0.5)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class JobProgressBox(QWidget):
    """Message, progress bar (``done / total units``, time left) and a Cancel button; hidden when idle.

    Parameters
    ----------
    units : what ``done`` and ``total`` count, by stage ("moves" where not given), e.g.
        ``{"predict": "samples"}``.
    """

    sig_cancel_requested = Signal()
    """The user pressed Cancel."""

    def __init__(self, units: dict[str, str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.units = dict(units or {})
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color:#666;")
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop reading, simulating and predicting this file")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.label)
        column.addLayout(row)
        self._stage = ""
        self._stage_start = 0.0
        self.hide()

    def start(self, message: str) -> None:
        """A job started: show the box with ``message`` and a busy bar."""
        self._stage = ""
        self.label.setText(message)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.show()

    def show_progress(self, event: Progress) -> None:
        """Draw one progress event of the running job."""
        now = time.monotonic()
        if event.stage != self._stage:
            self._stage, self._stage_start = event.stage, now
        if not event.total:
            self.bar.setRange(0, 0)  # a step that cannot count its progress: a busy bar
            self.label.setText(event.message)
            return
        unit = self.units.get(event.stage, "moves")
        # QProgressBar holds ints: scale counts beyond its range down, keep the text exact.
        scale = max(1, event.total // 1_000_000)
        self.bar.setRange(0, event.total // scale)
        self.bar.setValue(min(event.done, event.total) // scale)
        self.bar.setFormat(f"{event.done:,} / {event.total:,} {unit}")
        fraction = min(1.0, event.done / event.total)
        elapsed = now - self._stage_start
        left = f" · {format_eta(elapsed / fraction - elapsed)} left" if 0 < fraction < 1 else ""
        self.label.setText(f"{event.message}{left}")

    def finish(self) -> None:
        """The job ended (done, failed or cancelled): hide the box."""
        self.hide()

    @property
    def cancelling(self) -> bool:
        return self.isVisible() and not self.cancel_button.isEnabled()

    def _on_cancel_clicked(self, _checked: bool = False) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.sig_cancel_requested.emit()
