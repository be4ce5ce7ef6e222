"""A printer toolpath in the XY plane, coloured by a per-sample value (tracking error), with a layer selector
and a time scrubber whose marker shows the head at the chosen sample.

The path arrives as samples along time (the 100 Hz samples of a simulation): segment ``i`` joins sample
``i`` to ``i + 1`` and takes the colour of its larger end value. Travel moves (no extrusion) are drawn thin
and grey, as slicer previews do, and the view frames the printed part. Segments are grouped into a fixed
number of colour bins, one pyqtgraph curve each drawn with ``connect="pairs"``, so tens of thousands of
differently coloured segments cost a few draw calls and a recolouring is a handful of ``setData`` calls.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

__all__ = ["ALL_LAYERS", "ToolpathPlot"]

#: layer selector value that shows every layer
ALL_LAYERS = -1
_BINS = 48
_COLORMAP = "CET-L8"  # blue → magenta → orange → yellow: low error stays visible on white


class ToolpathPlot(QWidget):
    """Path plot with colour bar, layer selector and scrubber.

    Parameters
    ----------
    colormap : pyqtgraph colour-map name for the values.
    parent : the Qt parent.
    """

    sig_layer_changed = Signal(int)
    """The shown layer changed (layer index, or ALL_LAYERS)."""
    sig_position_changed = Signal(int)
    """The scrubber moved to a sample index."""

    def __init__(self, colormap: str = _COLORMAP, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cmap = pg.colormap.get(colormap)
        self._xy = np.zeros((0, 2))
        self._layer = np.zeros(0, np.int64)
        self._time = np.zeros(0)
        self._values = np.zeros(0)
        self._vmax = 1.0
        self._printing = np.zeros(0, bool)
        self._shown = np.zeros(0, np.int64)  # indices of the coloured (printing) segments on screen
        self._travel = np.zeros(0, np.int64)  # indices of the travel segments on screen
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.plot.setAspectLocked(True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "x", units="mm")
        self.plot.setLabel("left", "y", units="mm")
        self.plot.setMenuEnabled(False)
        self.bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=self._cmap, interactive=False, width=14)
        self.bar.setToolTip("Colours span 0 to the 99th percentile; higher values take the top colour")
        self.graphics.addItem(self.bar, row=0, col=1)
        table = self._cmap.getLookupTable(0.0, 1.0, _BINS, alpha=False)
        self._curves = []
        for b in range(_BINS):
            curve = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(tuple(int(v) for v in table[b]), width=2))
            self.plot.addItem(curve)
            self._curves.append(curve)
        self._bin_rgb = np.asarray(table, dtype=np.uint8)
        self.travel_curve = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(160, 160, 160, 150, width=1))
        self.travel_curve.setZValue(-1)
        self.plot.addItem(self.travel_curve)
        self.marker = pg.ScatterPlotItem(
            size=13, pen=pg.mkPen("#111", width=2), brush=pg.mkBrush(255, 255, 255, 200), symbol="o"
        )
        self.marker.setZValue(10)
        self.plot.addItem(self.marker)
        self._build_controls()

    def _build_controls(self) -> None:
        self.layer_combo = QComboBox()
        self.layer_combo.setMinimumContentsLength(20)
        self.layer_combo.setToolTip("Show one layer of the print, or all of them")
        self.layer_combo.currentIndexChanged.connect(self._on_layer_combo_changed)
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setToolTip("Move along the print in time; the marker shows the head")
        self.scrubber.valueChanged.connect(self._on_scrubber_changed)
        self.time_label = QLabel("t = –")
        self.time_label.setMinimumWidth(120)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        row.addWidget(self.layer_combo)
        row.addWidget(self.scrubber, 1)
        row.addWidget(self.time_label)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.graphics, 1)
        column.addLayout(row)

    # -- data ---------------------------------------------------------------------------------------------
    def set_path(
        self,
        xy: np.ndarray,
        layer: np.ndarray,
        time: np.ndarray,
        heights: dict[int, float],
        printing: np.ndarray | None = None,
    ) -> None:
        """Show a new path: ``xy`` (T, 2) mm, ``layer`` (T,) index, ``time`` (T,) s, layer heights in mm,
        ``printing`` (T,) True where the head extrudes (default: everywhere; the rest is travel).

        The selected layer is kept when the new path has it; colours come from :meth:`set_values`.
        """
        keep = self.current_layer
        self._xy = np.asarray(xy, np.float64)
        self._layer = np.asarray(layer, np.int64)
        self._time = np.asarray(time, np.float64)
        self._values = np.zeros(len(self._xy))
        self._printing = np.ones(len(self._xy), bool) if printing is None else np.asarray(printing, bool)
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem("All layers", ALL_LAYERS)
        for k in np.unique(self._layer):
            z = heights.get(int(k))
            text = f"Layer {int(k) + 1}" + (f"  (z = {z:.2f} mm)" if z is not None else "")
            self.layer_combo.addItem(text, int(k))
        index = self.layer_combo.findData(keep)
        self.layer_combo.setCurrentIndex(max(index, 0))
        self.layer_combo.blockSignals(False)
        self._apply_layer(reset_position=index < 0)

    def set_values(self, values: np.ndarray, label: str, vmax: float | None = None) -> None:
        """Colour the path by ``values`` (T,), e.g. |error| in µm; the colour bar spans 0 … ``vmax``.

        ``vmax`` defaults to the 99th percentile of the printing samples, so one spike does not wash out
        every other segment.
        """
        self._values = np.nan_to_num(np.asarray(values, np.float64))
        if vmax is None:
            pool = self._values[self._printing] if self._printing.any() else self._values
            vmax = float(np.percentile(pool, 99)) if pool.size else 1.0
        self._vmax = max(float(vmax), 1e-9)
        self.bar.setLevels((0.0, self._vmax))
        self.bar.axis.setLabel(label)
        self._redraw()

    def clear(self) -> None:
        """Show nothing (no file open, or the file failed)."""
        self.set_path(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0), {})
        self.set_values(np.zeros(0), "")

    # -- state --------------------------------------------------------------------------------------------
    @property
    def current_layer(self) -> int:
        data = self.layer_combo.currentData()
        return ALL_LAYERS if data is None else int(data)

    @property
    def current_index(self) -> int:
        return int(self.scrubber.value())

    def set_layer(self, layer: int) -> None:
        index = self.layer_combo.findData(layer)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)

    def set_position(self, index: int) -> None:
        self.scrubber.setValue(int(index))

    def marker_position(self) -> tuple[float, float] | None:
        """Where the marker is, mm (None when nothing is shown)."""
        points = self.marker.data
        return (float(points["x"][0]), float(points["y"][0])) if len(points) else None

    def shown_segments(self) -> np.ndarray:
        """Indices of the coloured segments on screen (segment ``i`` joins sample ``i`` to ``i + 1``)."""
        return self._shown.copy()

    def segment_colours(self) -> np.ndarray:
        """(n, 3) uint8 RGB of every shown segment, in the order of :meth:`shown_segments`."""
        return self._bin_rgb[self._bins()]

    # -- drawing ------------------------------------------------------------------------------------------
    def _bins(self) -> np.ndarray:
        if self._shown.size == 0:
            return np.zeros(0, np.int64)
        v = np.maximum(self._values[self._shown], self._values[self._shown + 1])
        return np.clip((v / self._vmax * _BINS).astype(np.int64), 0, _BINS - 1)

    def _apply_layer(self, reset_position: bool = True) -> None:
        n = len(self._xy)
        layer = self.current_layer
        if n < 2:
            self._shown = self._travel = np.zeros(0, np.int64)
            lo, hi = 0, 0
        else:
            seg = np.arange(n - 1)
            if layer != ALL_LAYERS:
                seg = seg[(self._layer[:-1] == layer) & (self._layer[1:] == layer)]
            self._shown = seg[self._printing[seg + 1]]
            self._travel = seg[~self._printing[seg + 1]]
            members = np.flatnonzero(self._layer == layer) if layer != ALL_LAYERS else np.arange(n)
            lo, hi = (int(members[0]), int(members[-1])) if members.size else (0, n - 1)
        previous = self.scrubber.value()
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(lo, hi)
        self.scrubber.setPageStep(max(1, (hi - lo) // 20))
        self.scrubber.setValue(lo if reset_position or not lo <= previous <= hi else previous)
        self.scrubber.blockSignals(False)
        self._redraw()
        self._move_marker()
        framed = self._shown if self._shown.size else self._travel
        if framed.size:
            pts = self._xy[np.concatenate([framed, framed + 1])]
            pad = 0.04 * max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 1.0)
            self.plot.setRange(
                xRange=(pts[:, 0].min() - pad, pts[:, 0].max() + pad),
                yRange=(pts[:, 1].min() - pad, pts[:, 1].max() + pad),
                padding=0,
            )

    def _redraw(self) -> None:
        self.travel_curve.setData(*self._pairs(self._travel), connect="pairs")
        bins = self._bins()
        for b, curve in enumerate(self._curves):
            seg = self._shown[bins == b]
            if seg.size == 0:
                curve.setData([], [])
                continue
            curve.setData(*self._pairs(seg), connect="pairs")

    def _pairs(self, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and y of the end points of segments ``seg``, pairwise, for ``connect="pairs"``."""
        x = np.column_stack([self._xy[seg, 0], self._xy[seg + 1, 0]]).ravel()
        y = np.column_stack([self._xy[seg, 1], self._xy[seg + 1, 1]]).ravel()
        return x, y

    def _move_marker(self) -> None:
        i = self.current_index
        if not 0 <= i < len(self._xy):
            self.marker.setData([], [])
            self.time_label.setText("t = –")
            return
        self.marker.setData([self._xy[i, 0]], [self._xy[i, 1]])
        self.time_label.setText(f"t = {self._time[i]:.2f} s")

    # -- handlers -----------------------------------------------------------------------------------------
    def _on_layer_combo_changed(self, _index: int) -> None:
        self._apply_layer()
        self.sig_layer_changed.emit(self.current_layer)
        self.sig_position_changed.emit(self.current_index)

    def _on_scrubber_changed(self, value: int) -> None:
        self._move_marker()
        self.sig_position_changed.emit(int(value))
