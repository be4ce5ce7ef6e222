"""The list of datasets: one two-line item per file, with a coloured status dot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from fieldcast.app.data.loading import DatasetEntry

__all__ = ["STATUS_COLOURS", "DatasetList"]

PATH_ROLE = Qt.ItemDataRole.UserRole
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1

#: colour of the dot beside an item, per entry state
STATUS_COLOURS = {
    "probing": "#9e9e9e",
    "ok": "#2e7d32",
    "problems": "#ef8f00",
    "error": "#c62828",
    "import": "#1565c0",
}

_ICONS: dict[str, QIcon] = {}


def _status_icon(state: str) -> QIcon:
    # Made on first use: a QPixmap needs the application to exist.
    if state not in _ICONS:
        pixmap = QPixmap(14, 14)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(STATUS_COLOURS[state]))
        painter.drawEllipse(1, 1, 12, 12)
        painter.end()
        _ICONS[state] = QIcon(pixmap)
    return _ICONS[state]


class DatasetList(QListWidget):
    """Datasets in the order they were opened; each item carries its :class:`DatasetEntry`."""

    sig_remove_requested = Signal()
    """The user pressed Delete (or Backspace) on the current item."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dataset_list")
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(14, 14))
        self.setWordWrap(True)
        self.setUniformItemSizes(False)
        self.setSpacing(2)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.currentItem() is not None:
            self.sig_remove_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def add_entry(self, entry: DatasetEntry) -> QListWidgetItem:
        """Append ``entry`` and return its item."""
        item = QListWidgetItem()
        item.setData(PATH_ROLE, str(entry.path))
        self.addItem(item)
        self.update_entry(entry, item)
        return item

    def update_entry(self, entry: DatasetEntry, item: QListWidgetItem | None = None) -> None:
        """Show ``entry`` (new state after its job answered) in its item, if it is still listed."""
        item = item or self.item_for(entry.path)
        if item is None:
            return
        item.setData(ENTRY_ROLE, entry)
        item.setText(f"{entry.path.name}\n{entry.status_text()}")
        item.setIcon(_status_icon(entry.state))
        tip = str(entry.path)
        if entry.state == "error":
            tip += f"\n{entry.error}"
        elif entry.problems:
            tip += "\n" + "\n".join(entry.problems)
        item.setToolTip(tip)

    def item_for(self, path: Path) -> QListWidgetItem | None:
        for i in range(self.count()):
            if self.item(i).data(PATH_ROLE) == str(path):
                return self.item(i)
        return None

    def entry(self, item: QListWidgetItem | None) -> DatasetEntry | None:
        return None if item is None else item.data(ENTRY_ROLE)

    def entries(self) -> list[DatasetEntry]:
        return [self.item(i).data(ENTRY_ROLE) for i in range(self.count())]

    def current_entry(self) -> DatasetEntry | None:
        return self.entry(self.currentItem())

    def paths(self) -> list[Path]:
        return [Path(self.item(i).data(PATH_ROLE)) for i in range(self.count())]

    def select(self, path: Path) -> bool:
        """Make the item of ``path`` current; False if it is not listed."""
        item = self.item_for(path)
        if item is not None:
            self.setCurrentItem(item)
        return item is not None
