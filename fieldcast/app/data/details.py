"""What the Data panel shows for a file it cannot preview: still reading, unusable, or to be imported."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from fieldcast.app.data.loading import DatasetEntry

__all__ = ["DetailsPage"]


class DetailsPage(QWidget):
    """Title, explanation (the one-line error in red for a broken file) and, for foreign data, Import."""

    sig_import_requested = Signal()
    """The user wants the shown file imported into a Fieldcast dataset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title_label = QLabel()
        self.title_label.setObjectName("details_title")
        self.text_label = QLabel()
        self.text_label.setObjectName("details_text")
        self.text_label.setWordWrap(True)
        self.path_label = QLabel()
        self.path_label.setObjectName("details_path")
        self.path_label.setWordWrap(True)
        self.path_label.setStyleSheet("color: #666;")
        for label in (self.title_label, self.text_label, self.path_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Convert this file into a Fieldcast dataset in the datasets folder")
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.addWidget(self.title_label)
        box.addWidget(self.text_label)
        box.addWidget(self.path_label)
        box.addLayout(buttons)
        box.addStretch(1)
        self.import_button.clicked.connect(self.sig_import_requested)

    def show_entry(self, entry: DatasetEntry) -> None:
        """Describe ``entry`` (state ``probing``, ``error`` or ``import``)."""
        name = html.escape(entry.path.name)
        self.path_label.setText(html.escape(str(entry.path)))
        self.import_button.setVisible(entry.state == "import")
        if entry.state == "error":
            self.title_label.setText(f"<h3>Cannot open {name}</h3>")
            self.text_label.setStyleSheet("color: #c62828;")
            self.text_label.setText(html.escape(entry.error))
        elif entry.state == "import":
            p = entry.probe
            self.title_label.setText(f"<h3>{name} needs importing</h3>")
            self.text_label.setStyleSheet("")
            self.text_label.setText(
                f"This is a {html.escape(p.format)} file ({p.n_trajectories} trajectories × {p.n_frames} "
                f"frames of {p.grid[0]}×{p.grid[1]}, channels {html.escape(', '.join(p.channels))}). "
                "Import it into a Fieldcast dataset to preview and train on it."
            )
        else:
            self.title_label.setText(f"<h3>Reading {name}…</h3>")
            self.text_label.setStyleSheet("")
            self.text_label.setText("The file is checked in the background; the window stays usable.")
