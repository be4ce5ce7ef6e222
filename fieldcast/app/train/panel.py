"""The Train panel: launch and watch training runs."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from fieldcast.app.panel import Panel
from fieldcast.widgets.empty_state import EmptyState

__all__ = ["TrainPanel"]


class TrainPanel(Panel):
    name = "train"
    title = "Train"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty = EmptyState(
            "Nothing is training",
            "Training runs in the background while the window stays responsive. "
            "Train from a terminal with `fieldcast train RECIPE.yaml`; its run appears under Runs.",
        )
        QVBoxLayout(self).addWidget(self.empty)
