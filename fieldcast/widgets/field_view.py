"""A 2D field viewer: one scalar frame as an image with a colour map, a value range and a colour bar.

Frames follow Fieldcast's array convention, ``(nx, ny)`` with x first and y pointing up. The image item
uses column-major axis order (first index along x) in a view box whose y axis points up, so an array is
shown as it is stored, without copies or flips, whatever pyqtgraph's global image axis order is.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

__all__ = ["COLORMAPS", "DIVERGING", "FieldView", "colormap"]

#: colour-map names offered to the user -> pyqtgraph's built-in map that draws them
COLORMAPS: dict[str, str] = {
    "viridis": "viridis",
    "inferno": "inferno",
    "magma": "magma",
    "plasma": "plasma",
    "cividis": "cividis",
    "turbo": "turbo",
    "gray": "CET-L1",
    "coolwarm": "CET-D1",
}
#: maps centred on zero: their automatic range is made symmetric so zero stays white
DIVERGING = frozenset({"coolwarm"})


def colormap(name: str) -> pg.ColorMap:
    """The pyqtgraph colour map for one of :data:`COLORMAPS` (unknown names fall back to viridis)."""
    return pg.colormap.get(COLORMAPS.get(name, "viridis"))


def _format(value: float) -> str:
    return f"{value:.4g}"


def _data_range(data: np.ndarray) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def _widen(low: float, high: float) -> tuple[float, float]:
    """A usable range: ordered, and never empty (a constant field still gets a visible colour)."""
    if high < low:
        low, high = high, low
    if high - low <= 1e-12 * max(1.0, abs(low), abs(high)):
        pad = 0.5 if low == 0 else 0.05 * abs(low)
        return low - pad, high + pad
    return low, high


class FieldView(QWidget):
    """One scalar field frame with colour-map choice, automatic or manual value range, units and colour bar.

    Parameters
    ----------
    controls : show the colour-map / range row (a strip of small views can hide it and drive
        :meth:`set_colormap` and :meth:`set_manual_levels` itself).
    title : optional caption above the image.
    """

    sig_levels_changed = Signal(float, float)
    """The displayed value range changed: (low, high) in the field's units."""
    sig_colormap_changed = Signal(str)
    """The user or the code chose another colour map (its name)."""

    def __init__(self, parent: QWidget | None = None, *, controls: bool = True, title: str = "") -> None:
        super().__init__(parent)
        self._data: np.ndarray | None = None
        self._units = ""
        self._auto_levels: tuple[float, float] | None = None
        self._levels = (0.0, 1.0)
        self._cmap_name = "viridis"

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumSize(160, 140)
        self.plot = self.graphics.addPlot(title=title or None)
        self.plot.setAspectLocked(True)
        self.plot.invertY(False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTextPen("k")
        self.plot.setLabel("bottom", "x (cells)")
        self.plot.setLabel("left", "y (cells)")
        self.image_item = pg.ImageItem(axisOrder="col-major")
        self.plot.addItem(self.image_item)
        self.colorbar = pg.ColorBarItem(
            values=self._levels,
            colorMap=colormap(self._cmap_name),
            interactive=False,
            width=14,
            colorMapMenu=False,
        )
        self.colorbar.setImageItem(self.image_item, insert_in=self.plot)
        self.colorbar.axis.setTextPen("k")
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(list(COLORMAPS))
        self.colormap_combo.setToolTip("Colour map")
        self.auto_check = QCheckBox("Auto range")
        self.auto_check.setChecked(True)
        self.auto_check.setToolTip("Range from the dataset statistics (or the frame), or typed by hand")
        validator = QDoubleValidator(self)
        self.low_edit = QLineEdit()
        self.high_edit = QLineEdit()
        for edit, tip in ((self.low_edit, "Lowest value shown"), (self.high_edit, "Highest value shown")):
            edit.setValidator(validator)
            edit.setMaximumWidth(90)
            edit.setToolTip(tip)
        self.units_label = QLabel()
        self.units_label.setObjectName("units_label")
        self.value_label = QLabel()
        self.value_label.setObjectName("value_label")
        self.value_label.setMinimumWidth(200)

        self.controls = QWidget()
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Colours"))
        row.addWidget(self.colormap_combo)
        row.addSpacing(12)
        row.addWidget(self.auto_check)
        row.addWidget(self.low_edit)
        row.addWidget(QLabel("to"))
        row.addWidget(self.high_edit)
        row.addWidget(self.units_label)
        row.addStretch(1)
        row.addWidget(self.value_label)
        self.controls.setVisible(controls)

        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.graphics, 1)
        box.addWidget(self.controls)

        self.colormap_combo.currentTextChanged.connect(self._on_colormap_combo_changed)
        self.auto_check.toggled.connect(self._on_auto_check_toggled)
        self.low_edit.editingFinished.connect(self._on_range_edit_finished)
        self.high_edit.editingFinished.connect(self._on_range_edit_finished)
        self._sync_range_edits()

    # Public API -----------------------------------------------------------------------------------------
    def set_field(self, data: np.ndarray, units: str = "", levels: tuple[float, float] | None = None) -> None:
        """Show one frame.

        Parameters
        ----------
        data : float array ``(nx, ny)``, x first, y up.
        units : units of the values, shown beside the range and on the colour bar.
        levels : the automatic range (e.g. a channel's min/max over the dataset); None uses the frame's
            own finite min/max. A manual range typed by the user wins while "Auto range" is off.
        """
        data = np.asarray(data)
        if data.ndim != 2:
            raise ValueError(f"a field frame must be 2D (nx, ny), got shape {data.shape}")
        self._data = data
        self._auto_levels = None if levels is None else (float(levels[0]), float(levels[1]))
        if units != self._units:
            self._units = units
            self.units_label.setText("(dimensionless)" if units == "1" else units)
            self.colorbar.axis.setLabel(units if units != "1" else "")
        self.image_item.setImage(data, autoLevels=False)
        self._apply_levels()
        self.plot.setRange(xRange=(0, data.shape[0]), yRange=(0, data.shape[1]), padding=0.02)

    def clear(self) -> None:
        """Show nothing (an empty view keeps its colour map and manual range)."""
        self._data = None
        self.image_item.clear()
        self.value_label.clear()

    def image(self) -> np.ndarray | None:
        """The array on screen, ``(nx, ny)``, or None."""
        return self._data

    def units(self) -> str:
        return self._units

    def levels(self) -> tuple[float, float]:
        """The value range mapped onto the colour map: (low, high)."""
        return self._levels

    def colormap_name(self) -> str:
        return self._cmap_name

    def set_colormap(self, name: str) -> None:
        """Use colour map ``name`` (one of :data:`COLORMAPS`)."""
        if name not in COLORMAPS:
            raise KeyError(f"unknown colour map {name!r}; known: {', '.join(COLORMAPS)}")
        self.colormap_combo.setCurrentText(name)  # the combo's handler applies it

    def is_auto_range(self) -> bool:
        return self.auto_check.isChecked()

    def set_auto_range(self, auto: bool) -> None:
        self.auto_check.setChecked(auto)

    def set_manual_levels(self, low: float, high: float) -> None:
        """Fix the range to (low, high) and turn the automatic range off."""
        self.low_edit.setText(_format(low))
        self.high_edit.setText(_format(high))
        self.auto_check.setChecked(False)
        self._apply_levels()

    # Internals ------------------------------------------------------------------------------------------
    def _automatic_levels(self) -> tuple[float, float]:
        if self._auto_levels is not None:
            low, high = self._auto_levels
        elif self._data is not None:
            low, high = _data_range(self._data)
        else:
            low, high = self._levels
        if not (math.isfinite(low) and math.isfinite(high)):
            low, high = _data_range(self._data) if self._data is not None else (0.0, 1.0)
        if self._cmap_name in DIVERGING and low < 0 < high:
            extent = max(-low, high)
            low, high = -extent, extent
        return _widen(low, high)

    def _manual_levels(self) -> tuple[float, float]:
        try:
            return _widen(float(self.low_edit.text()), float(self.high_edit.text()))
        except ValueError:
            return self._levels

    def _apply_levels(self) -> None:
        levels = self._automatic_levels() if self.is_auto_range() else self._manual_levels()
        changed = levels != self._levels
        self._levels = levels
        self.colorbar.setLevels(levels)
        self.image_item.setLevels(levels)
        self._sync_range_edits()
        if changed:
            self.sig_levels_changed.emit(*levels)

    def _sync_range_edits(self) -> None:
        # In auto mode the edits mirror the range, so turning auto off starts from what is on screen.
        if self.is_auto_range():
            self.low_edit.setText(_format(self._levels[0]))
            self.high_edit.setText(_format(self._levels[1]))
        self.low_edit.setEnabled(not self.is_auto_range())
        self.high_edit.setEnabled(not self.is_auto_range())

    # Handlers -------------------------------------------------------------------------------------------
    def _on_colormap_combo_changed(self, name: str) -> None:
        if name not in COLORMAPS or name == self._cmap_name:
            return
        self._cmap_name = name
        self.colorbar.setColorMap(colormap(name))
        self._apply_levels()
        self.sig_colormap_changed.emit(name)

    def _on_auto_check_toggled(self, auto: bool) -> None:
        self._sync_range_edits()
        self._apply_levels()

    def _on_range_edit_finished(self) -> None:
        if not self.is_auto_range():
            self._apply_levels()

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._data is None or not self.plot.sceneBoundingRect().contains(scene_pos):
            self.value_label.clear()
            return
        point = self.plot.vb.mapSceneToView(scene_pos)
        ix, iy = int(math.floor(point.x())), int(math.floor(point.y()))
        nx, ny = self._data.shape
        if 0 <= ix < nx and 0 <= iy < ny:
            unit = f" {self._units}" if self._units and self._units != "1" else ""
            self.value_label.setText(f"x {ix}, y {iy}:  {_format(float(self._data[ix, iy]))}{unit}")
        else:
            self.value_label.clear()
