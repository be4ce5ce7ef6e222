"""Live curves for training metrics: points arrive at any rate, the plot redraws at a fixed rate.

Curves are created once and fed by :meth:`LossPlot.append`; a ``QTimer`` pushes the buffered points to
pyqtgraph with ``setData`` 20 times a second at most, so a fast training loop never floods the event loop
with redraws. Vertical markers (curriculum stages, learning-rate changes) are ``InfiniteLine`` items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

__all__ = ["PALETTE", "LossPlot"]

#: colours that stay distinguishable on a light background (Okabe-Ito)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


@dataclass
class _Curve:
    item: pg.PlotDataItem
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    dirty: bool = False


class LossPlot(pg.PlotWidget):
    """A plot of named live curves with stage markers.

    Parameters
    ----------
    title : shown above the plot.
    x_label, y_label : axis labels.
    log_y : logarithmic y axis; points that are not strictly positive are dropped (they have no place on it).
    refresh_hz : how often buffered points are drawn.
    """

    def __init__(
        self,
        title: str,
        x_label: str = "step",
        y_label: str = "",
        *,
        log_y: bool = False,
        refresh_hz: float = 20.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent=parent, background="w")
        self.log_y = log_y
        self._curves: dict[str, _Curve] = {}
        self._markers: list[pg.InfiniteLine] = []
        item = self.getPlotItem()
        item.setTitle(title, color="#333", size="10pt")
        item.setLabel("bottom", x_label)
        if y_label:
            item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        item.setLogMode(y=log_y)
        item.getAxis("left").enableAutoSIPrefix(False)  # "x0.001" scale labels confuse on log axes
        self.legend = item.addLegend(
            offset=(-10, 10), labelTextColor="#333", brush=pg.mkBrush(255, 255, 255, 200)
        )
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / refresh_hz)))
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    # Curves -------------------------------------------------------------------------------------------
    def add_curve(
        self, key: str, label: str | None = None, color: str | None = None, symbol: str | None = None
    ) -> None:
        """Create curve ``key`` once (a second call does nothing); ``label`` goes into the legend."""
        if key in self._curves:
            return
        color = color or PALETTE[len(self._curves) % len(PALETTE)]
        pen = pg.mkPen(color, width=1)
        kwargs = {"symbol": symbol, "symbolSize": 6, "symbolBrush": color, "symbolPen": pen} if symbol else {}
        item = self.getPlotItem().plot([], [], pen=pen, name=label or key, **kwargs)
        self._curves[key] = _Curve(item)

    def has_curve(self, key: str) -> bool:
        return key in self._curves

    def curve_keys(self) -> list[str]:
        return list(self._curves)

    def append(self, key: str, x: float, y: float) -> None:
        """Add one point to curve ``key`` (created with default style if new); drawn at the next refresh."""
        if not math.isfinite(y) or (self.log_y and y <= 0):
            return
        if key not in self._curves:
            self.add_curve(key)
        curve = self._curves[key]
        curve.xs.append(float(x))
        curve.ys.append(float(y))
        curve.dirty = True

    def set_points(self, key: str, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Replace all points of curve ``key``."""
        if key not in self._curves:
            self.add_curve(key)
        pairs = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if self.log_y:
            pairs = [(x, y) for x, y in pairs if y > 0]
        curve = self._curves[key]
        curve.xs = [x for x, _ in pairs]
        curve.ys = [y for _, y in pairs]
        curve.dirty = True

    def points(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The points of curve ``key`` received so far (drawn or about to be)."""
        curve = self._curves[key]
        return np.asarray(curve.xs), np.asarray(curve.ys)

    def drawn_count(self, key: str) -> int:
        """How many points of curve ``key`` the plot currently draws."""
        x, _ = self._curves[key].item.getOriginalDataset()
        return 0 if x is None else len(x)

    def flush(self) -> None:
        """Draw the buffered points now (the timer does it on its own)."""
        for curve in self._curves.values():
            if curve.dirty:
                curve.item.setData(np.asarray(curve.xs), np.asarray(curve.ys))
                curve.dirty = False

    # Markers ------------------------------------------------------------------------------------------
    def add_marker(self, x: float, label: str = "", color: str = "#888") -> pg.InfiniteLine:
        """A vertical line at ``x`` (a curriculum stage starts, the learning rate changed ...)."""
        line = pg.InfiniteLine(
            pos=x,
            angle=90,
            movable=False,
            pen=pg.mkPen(color, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
            label=label or None,
            labelOpts={"position": 0.92, "color": color, "fill": (255, 255, 255, 200), "movable": False},
        )
        self.getPlotItem().addItem(line, ignoreBounds=True)
        self._markers.append(line)
        return line

    def markers(self) -> list[tuple[float, str]]:
        """(x, label) of every marker."""
        return [(line.value(), line.label.format if line.label else "") for line in self._markers]

    def clear_all(self) -> None:
        """Remove every curve and marker."""
        item = self.getPlotItem()
        for curve in self._curves.values():
            item.removeItem(curve.item)
        for line in self._markers:
            item.removeItem(line)
        self._curves.clear()
        self._markers.clear()
        self.legend.clear()

    def stop(self) -> None:
        """Stop redrawing (the widget is going away)."""
        self._timer.stop()

    # Slots --------------------------------------------------------------------------------------------
    def _on_timer_timeout(self) -> None:
        if self.isVisible():
            self.flush()
