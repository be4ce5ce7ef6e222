"""Compare runs: their curves overlaid, and their recipes side by side with the differences marked."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.runs.run_watcher import RunInfo
from fieldcast.engine.report_compare import flatten
from fieldcast.widgets.loss_plot import LossPlot

__all__ = ["CompareView"]

_MISSING = "—"
_CURVES = {"train loss": "train_curve", "validation loss": "valid_curve"}


class CompareView(QWidget):
    """Overlay the curves of the selected runs and diff their ``config.yaml``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunInfo] = []
        self._differing: set[str] = set()
        self.curve_combo = QComboBox(objectName="compare_curve")
        self.curve_combo.addItems(list(_CURVES))
        self.curve_combo.currentIndexChanged.connect(self._on_curve_changed)
        self.only_diff = QCheckBox("only differences", objectName="only_differences")
        self.only_diff.toggled.connect(self._on_only_diff_toggled)
        self.plot = LossPlot("Runs compared", "step", "loss", log_y=True)
        self.plot.setObjectName("compare_plot")
        self.diff_table = QTableWidget(objectName="recipe_diff")
        self.diff_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.hint = QLabel("Select two or more runs in the table to compare them.")
        top = QHBoxLayout()
        top.addWidget(self.hint, 1)
        top.addWidget(QLabel("curve"))
        top.addWidget(self.curve_combo)
        top.addWidget(self.only_diff)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(self.diff_table)
        split.setSizes([500, 500])
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(split, 1)

    def set_runs(self, runs: list[RunInfo]) -> None:
        """Compare ``runs`` (one is shown alone; none clears the view)."""
        self.runs = list(runs)
        names = ", ".join(r.path.name for r in runs)
        self.hint.setText(f"Comparing {names}" if len(runs) > 1 else names or "Select runs to compare them.")
        self._draw_curves()
        self._fill_diff()

    def differing_keys(self) -> set[str]:
        """Recipe keys whose values differ between the compared runs."""
        return set(self._differing)

    def _draw_curves(self) -> None:
        self.plot.clear_all()
        attr = _CURVES[self.curve_combo.currentText()]
        for run in self.runs:
            points = getattr(run, attr)
            self.plot.add_curve(str(run.path), run.path.name)
            self.plot.set_points(str(run.path), [s for s, _ in points], [v for _, v in points])
        self.plot.flush()

    def _fill_diff(self) -> None:
        flats = [flatten(r.config) for r in self.runs]
        keys = sorted(set().union(*flats)) if flats else []
        self._differing = {k for k in keys if len({repr(f.get(k, _MISSING)) for f in flats}) > 1}
        keys = sorted(keys, key=lambda k: (k not in self._differing, k))
        table = self.diff_table
        table.clear()
        table.setColumnCount(len(self.runs))
        table.setRowCount(len(keys))
        table.setHorizontalHeaderLabels([r.path.name for r in self.runs])
        table.setVerticalHeaderLabels(keys)
        bold = QFont()
        bold.setBold(True)
        for row, key in enumerate(keys):
            differs = key in self._differing
            for col, flat in enumerate(flats):
                item = QTableWidgetItem(str(flat.get(key, _MISSING)))
                if differs:
                    item.setBackground(QBrush(QColor("#fff1c1")))
                    item.setFont(bold)
                    item.setToolTip(f"{key} differs between the runs")
                table.setItem(row, col, item)
            header = table.verticalHeaderItem(row)
            if header is not None and differs:
                header.setFont(bold)
                header.setText(f"≠ {key}")
        self._on_only_diff_toggled(self.only_diff.isChecked())

    # Slots --------------------------------------------------------------------------------------------
    def _on_curve_changed(self, _index: int) -> None:
        self._draw_curves()

    def _on_only_diff_toggled(self, only: bool) -> None:
        for row in range(self.diff_table.rowCount()):
            key = self.diff_table.verticalHeaderItem(row).text().removeprefix("≠ ")
            self.diff_table.setRowHidden(row, only and key not in self._differing)
