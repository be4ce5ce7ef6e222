"""The Runs panel: the training runs in the workspace."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QVBoxLayout, QWidget

from fieldcast.app.panel import Panel
from fieldcast.widgets.empty_state import EmptyState

__all__ = ["RunsPanel"]


class RunsPanel(Panel):
    name = "runs"
    title = "Runs"

    def __init__(self, runs_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = runs_dir
        self.empty = EmptyState("No runs yet", f"Runs are kept in {runs_dir}.")
        QVBoxLayout(self).addWidget(self.empty)
