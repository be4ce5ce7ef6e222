"""The global exception hook: an unexpected error is logged and shown in a dialog; the app keeps running."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

__all__ = ["ErrorDialog", "ExceptionHook", "install_exception_hook"]

log = logging.getLogger("fieldcast.app")


class ErrorDialog(QMessageBox):
    """A non-blocking dialog: what happened in one line, the traceback under "Show Details"."""

    def __init__(self, title: str, text: str, details: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("error_dialog")
        self.setIcon(QMessageBox.Icon.Critical)
        self.setWindowTitle(title)
        self.setText(text)
        if details:
            self.setDetailedText(details)
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)


class ExceptionHook(QObject):
    """Replaces ``sys.excepthook`` and ``threading.excepthook``.

    Errors from other threads are marshalled to the GUI thread through a queued signal. At most
    ``max_open`` dialogs are shown at once so an error raised every frame cannot bury the window.
    """

    sig_error = Signal(str, str)
    """(one-line summary, formatted traceback), always delivered in the GUI thread."""

    def __init__(self, log_file: str = "", max_open: int = 3) -> None:
        super().__init__()
        self.log_file = log_file
        self.max_open = max_open
        self.open_dialogs: list[ErrorDialog] = []
        self.suppressed = 0
        self.sig_error.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._previous = (sys.excepthook, threading.excepthook)

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unhandled exception\n%s", details)
        summary = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        self.sig_error.emit(summary, details)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        self.handle(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    def _show(self, summary: str, details: str) -> None:
        self.open_dialogs = [d for d in self.open_dialogs if d.isVisible()]
        if len(self.open_dialogs) >= self.max_open:
            self.suppressed += 1
            return
        text = f"Fieldcast hit an unexpected error and carried on.\n\n{summary}"
        if self.log_file:
            text += f"\n\nThe full report is in the log: {self.log_file}"
        dialog = ErrorDialog("Unexpected error", text, details, QApplication.activeWindow())
        self.open_dialogs.append(dialog)
        dialog.show()


def install_exception_hook(log_file: str = "") -> ExceptionHook:
    hook = ExceptionHook(log_file)
    hook.install()
    return hook
