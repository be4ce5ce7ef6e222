"""The table of runs: one row per run folder, sortable, several rows selectable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from fieldcast.app.runs.run_watcher import BASELINE_PREFIXES, RunInfo

__all__ = ["COLUMNS", "RunTable", "RunTableModel", "figures_text"]

COLUMNS = (
    "name",
    "system",
    "task",
    "model",
    "parameters",
    "best val. loss",
    "best per channel",
    "status",
    "step",
    "duration",
    "device",
    "split",
    "updated",
)
_STATUS_COLOURS = {
    "running": "#0072B2",
    "completed": "#009E73",
    "early_stopped": "#009E73",
    "cancelled": "#E69F00",
    "diverged": "#c0392b",
    "failed": "#c0392b",
}
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_PATH_ROLE = Qt.ItemDataRole.UserRole + 2


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def figures_text(figures: dict[str, float]) -> str:
    """``density 0.012, vx 0.03`` for per-channel MSE; ``rmse_um 25.8 (zero 20.6, linear 30)`` for a
    metric followed by its baselines (as :func:`~fieldcast.app.runs.run_watcher.best_figures` orders them).
    """
    parts: list[str] = []
    for key, value in figures.items():
        if key.startswith("mse/"):
            parts.append(f"{key.split('/', 1)[1]} {value:.3g}")
        elif key.startswith(BASELINE_PREFIXES) and parts:
            kind = next(p for p in BASELINE_PREFIXES if key.startswith(p)).rstrip("_")
            head, _, tail = parts[-1].partition(" (")
            inner = (tail.rstrip(")") + ", " if tail else "") + f"{kind} {value:.3g}"
            parts[-1] = f"{head} ({inner})"
        else:
            parts.append(f"{key} {value:.3g}")
    return ", ".join(parts)


def _count(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def _cell(info: RunInfo, column: int) -> tuple[str, Any]:
    """(display text, sort key) of one cell."""
    name = COLUMNS[column]
    if name == "name":
        return info.path.name, info.path.name
    if name == "system":
        return info.system, info.system
    if name == "model":
        return info.model, info.model
    if name == "parameters":
        return _count(info.parameters), info.parameters or 0
    if name == "best val. loss":
        return ("" if info.best_loss is None else f"{info.best_loss:.4g}"), info.best_loss or float("inf")
    if name == "best per channel":
        text = figures_text(info.best_metrics)
        return text, text
    if name == "task":
        return info.task, info.task
    if name == "split":
        short = info.split.split(";", 1)[0]
        return short, info.split
    if name == "status":
        return info.status, info.status
    if name == "step":
        return str(info.step), info.step
    if name == "duration":
        return _duration(info.duration), info.duration or 0.0
    if name == "device":
        return info.device, info.device
    stamp = info.last_time or 0.0
    return (time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""), stamp


class RunTableModel(QAbstractTableModel):
    """Rows of :class:`RunInfo`, identified by their folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RunInfo] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        info = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(info, index.column())[0]
        if role == _SORT_ROLE:
            return _cell(info, index.column())[1]
        if role == _PATH_ROLE:
            return str(info.path)
        if role == Qt.ItemDataRole.ForegroundRole and COLUMNS[index.column()] == "status":
            colour = _STATUS_COLOURS.get(info.status)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if COLUMNS[index.column()] == "split" and info.split:
                return info.split
            return str(info.path)
        return None

    def row_of(self, path: Path) -> int:
        return next((i for i, r in enumerate(self._rows) if r.path == Path(path)), -1)

    def upsert(self, info: RunInfo) -> None:
        """Add ``info`` or refresh its row."""
        row = self.row_of(info.path)
        if row < 0:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
            self._rows.append(info)
            self.endInsertRows()
        else:
            self._rows[row] = info
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def remove(self, path: Path) -> None:
        row = self.row_of(path)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def paths(self) -> list[Path]:
        return [r.path for r in self._rows]


class RunTable(QTableView):
    """The sortable view of a :class:`RunTableModel`; several rows can be selected to compare them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("run_table")
        self.runs = RunTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.runs)
        self.proxy.setSortRole(_SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(COLUMNS.index("updated"), Qt.SortOrder.DescendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def selected_paths(self) -> list[Path]:
        """Folders of the selected runs, in table order."""
        rows = sorted(index.row() for index in self.selectionModel().selectedRows())
        return [Path(self.proxy.index(r, 0).data(_PATH_ROLE)) for r in rows]

    def select_paths(self, paths: list[Path]) -> None:
        """Select exactly the runs in ``paths``."""
        self.clearSelection()
        flags = self.selectionModel().SelectionFlag.Select | self.selectionModel().SelectionFlag.Rows
        for path in paths:
            row = self.runs.row_of(path)
            if row >= 0:
                self.selectionModel().select(self.proxy.mapFromSource(self.runs.index(row, 0)), flags)
