"""A centred message with optional actions, shown by a panel that has nothing to show yet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["EmptyState"]


class EmptyState(QWidget):
    """Title, explanation and buttons, centred in the available space."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title_label = QLabel(f"<h2>{title}</h2>")
        self.text_label = QLabel(text)
        self.text_label.setWordWrap(True)
        self.text_label.setFixedWidth(520)
        for label in (self.title_label, self.text_label):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._buttons = QHBoxLayout()
        self._buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.title_label, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addWidget(self.text_label, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addLayout(self._buttons)
        box.addStretch(2)

    def add_button(self, text: str) -> QPushButton:
        """Add a button under the text; the caller connects its ``clicked`` signal."""
        button = QPushButton(text)
        self._buttons.insertWidget(self._buttons.count(), button)
        self._buttons.addStretch(1)
        return button
