"""The Play panel: run an exported surrogate interactively."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QVBoxLayout, QWidget

from fieldcast.app.panel import Panel
from fieldcast.widgets.empty_state import EmptyState

__all__ = ["PlayPanel"]


class PlayPanel(Panel):
    name = "play"
    title = "Play"
    file_suffixes = (".onnx",)
    file_filter = "Fieldcast models (*.onnx)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_path: Path | None = None
        self.empty = EmptyState(
            "No model loaded", "Open an exported Fieldcast model (.onnx) to play with it."
        )
        QVBoxLayout(self).addWidget(self.empty)

    def open_path(self, path: Path) -> None:
        path = Path(path)
        if not path.is_file():
            self.sig_status.emit(f"{path}: file not found")
            return
        self.model_path = path
        self.empty.title_label.setText(f"<h2>{path.name}</h2>")
        self.empty.text_label.setText(str(path))
        self.sig_file_opened.emit(str(path))
        self.sig_show_me.emit()
