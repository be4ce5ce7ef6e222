"""The contract between the main window and its panels."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

__all__ = ["Panel"]


class Panel(QWidget):
    """One page of the main window (Data, Train, Runs, Play).

    A panel declares the file suffixes it opens; the main window routes dropped and opened files to it.
    Panels talk to the window only through their signals.
    """

    #: id used in settings and for routing
    name: str = ""
    #: tab title
    title: str = ""
    #: lower-case suffixes (with the dot) this panel opens
    file_suffixes: tuple[str, ...] = ()
    #: name filter for a file dialog, e.g. "Datasets (*.h5 *.npz)"
    file_filter: str = ""

    sig_status = Signal(str)
    """A short message for the status bar."""
    sig_file_opened = Signal(str)
    """A file was opened successfully (path); the window adds it to the recent files."""
    sig_show_me = Signal()
    """The panel wants to be brought to the front."""

    def accepts(self, path: Path) -> bool:
        """True when this panel opens ``path``."""
        return path.suffix.lower() in self.file_suffixes

    def open_path(self, path: Path) -> None:
        """Open ``path``; errors are reported by the panel itself, never raised to the window."""
        raise NotImplementedError

    def self_check(self) -> list[str]:
        """Problems found by the panel's start-up self-check (empty when healthy)."""
        return []

    def shutdown(self) -> None:
        """Stop background work before the window closes."""
