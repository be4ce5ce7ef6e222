"""The Data panel: the datasets a user opened or generated."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QStackedWidget, QWidget

from fieldcast.app.panel import Panel
from fieldcast.widgets.empty_state import EmptyState

__all__ = ["DataPanel"]

DATASET_SUFFIXES = (".h5", ".hdf5", ".hdf", ".npz")


def _human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


class DataPanel(Panel):
    name = "data"
    title = "Data"
    file_suffixes = DATASET_SUFFIXES
    file_filter = "Datasets (*.h5 *.hdf5 *.hdf *.npz)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset_list = QListWidget()
        self.dataset_list.setObjectName("dataset_list")
        self.empty = EmptyState(
            "No datasets yet",
            "Drop HDF5 or NPZ simulation files on the window, or use File → Open dataset…",
        )
        self._stack = QStackedWidget()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self.dataset_list)
        box = QHBoxLayout(self)
        box.addWidget(self._stack)

    def datasets(self) -> list[Path]:
        """Paths of the datasets in the list, in order."""
        return [
            Path(self.dataset_list.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.dataset_list.count())
        ]

    def open_path(self, path: Path) -> None:
        path = Path(path)
        if not path.exists():
            self.sig_status.emit(f"{path}: file not found")
            return
        for i in range(self.dataset_list.count()):
            if self.dataset_list.item(i).data(Qt.ItemDataRole.UserRole) == str(path):
                self.dataset_list.setCurrentRow(i)
                self.sig_show_me.emit()
                return
        item = QListWidgetItem(f"{path.name}    {_human_size(path.stat().st_size)}")
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(str(path))
        self.dataset_list.addItem(item)
        self.dataset_list.setCurrentItem(item)
        self._stack.setCurrentWidget(self.dataset_list)
        self.sig_file_opened.emit(str(path))
        self.sig_show_me.emit()
