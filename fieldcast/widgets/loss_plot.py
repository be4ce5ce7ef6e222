"""Live curves for training metrics: points arrive at any rate, the plot redraws at a fixed rate.

Curves are created once and fed by :meth:`LossPlot.append`; :meth:`LossPlot.flush` hands the buffered points
to pyqtgraph with one ``setData`` per changed curve, from a ``QTimer`` (the plot's own, or one timer shared by
several plots), so a fast training loop never floods the event loop with redraws. Vertical markers
(curriculum stages, learning-rate changes) are ``InfiniteLine`` items.

Redrawing is kept cheap because the axes rarely change: the plot frames its data itself, in round steps and
with room to grow (:func:`fit_interval`), instead of pyqtgraph's auto-range, which moves the axes on every
new point. While the range holds, the axes (which also draw the grid across the whole plot) are blitted
from a cached pixmap and their labels are not re-set. Zooming or panning by hand stops the framing; the
plot's "A" button (or its menu's auto-range) gives it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGraphicsItem, QWidget

__all__ = ["PALETTE", "LossPlot", "fit_interval"]

#: colours that stay distinguishable on a light background (Okabe-Ito)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least ``raw`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in _NICE if m * power >= raw * (1 - 1e-9))


def fit_interval(lo: float, hi: float, before: float = 0.05, after: float = 0.05) -> tuple[float, float]:
    """A view interval holding the data interval [lo, hi], its ends rounded to steps of about a quarter span.

    ``before`` and ``after`` are extra room, as fractions of the data span, left below ``lo`` and above
    ``hi`` (room to grow means fewer changes of range while points keep arriving). A point interval gets a
    span of a fifth of its magnitude (or 1 at zero).
    """
    span = hi - lo
    if not span > 0:
        span = 0.2 * max(abs(lo), abs(hi)) or 1.0
    step = _nice_step(span / 4)
    return (math.floor((lo - before * span) / step) * step, math.ceil((hi + after * span) / step) * step)


class _Series:
    """One curve's points in growable numpy buffers; the filled part is what pyqtgraph is given."""

    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self._x = np.empty(64)
        self._y = np.empty(64)
        self.n = 0
        self.dirty = False

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            # New buffers: arrays already handed to pyqtgraph are views of the old ones and stay valid.
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self.n], self._y[self.n] = x, y
        self.n += 1
        self.dirty = True

    def replace(self, xs: np.ndarray, ys: np.ndarray) -> None:
        self._x, self._y, self.n = np.array(xs, float), np.array(ys, float), len(xs)
        self.dirty = True

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x[: self.n], self._y[: self.n]


class LossPlot(pg.PlotWidget):
    """A plot of named live curves with stage markers.

    Parameters
    ----------
    title : shown above the plot.
    x_label, y_label : axis labels.
    log_y : logarithmic y axis; points that are not strictly positive are dropped (they have no place on it).
    refresh_hz : how often buffered points are drawn by the plot's own timer; ``None`` for no timer (the
        owner calls :meth:`flush`, e.g. from one timer shared by several plots).
    """

    def __init__(
        self,
        title: str,
        x_label: str = "step",
        y_label: str = "",
        *,
        log_y: bool = False,
        refresh_hz: float | None = 20.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent=parent, background="w")
        self.log_y = log_y
        self._curves: dict[str, _Series] = {}
        self._markers: list[pg.InfiniteLine] = []
        self._framing = True
        item = self.getPlotItem()
        item.setTitle(title, color="#333", size="10pt")
        item.setLabel("bottom", x_label)
        if y_label:
            item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        item.setLogMode(y=log_y)
        item.disableAutoRange()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.enableAutoSIPrefix(False)  # "(x0.001)" in the label would re-set it at every range change
            # The axis also draws the grid over the whole plot, so every new point repaints it: a cached
            # pixmap makes that a blit until the range changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getViewBox().sigRangeChangedManually.connect(self._on_range_changed_manually)
        self.legend = item.addLegend(
            offset=(-10, 10), labelTextColor="#333", brush=pg.mkBrush(255, 255, 255, 200)
        )
        self._timer: QTimer | None = None
        if refresh_hz:
            self._timer = QTimer(self)
            self._timer.setInterval(max(1, round(1000 / refresh_hz)))
            self._timer.timeout.connect(self._on_timer_timeout)
            self._timer.start()

    # Curves -------------------------------------------------------------------------------------------
    def add_curve(
        self,
        key: str,
        label: str | None = None,
        color: str | None = None,
        symbol: str | None = None,
        dashed: bool = False,
    ) -> None:
        """Create curve ``key`` once (a second call does nothing); ``label`` goes into the legend.

        ``dashed`` draws a reference (a baseline the other curves are compared with).
        """
        if key in self._curves:
            return
        color = color or PALETTE[len(self._curves) % len(PALETTE)]
        style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
        pen = pg.mkPen(color, width=1, style=style)
        kwargs = {"symbol": symbol, "symbolSize": 6, "symbolBrush": color, "symbolPen": pen} if symbol else {}
        item = self.getPlotItem().plot([], [], pen=pen, name=label or key, **kwargs)
        self._curves[key] = _Series(item)

    def has_curve(self, key: str) -> bool:
        return key in self._curves

    def curve_keys(self) -> list[str]:
        return list(self._curves)

    def append(self, key: str, x: float, y: float) -> None:
        """Add one point to curve ``key`` (created with default style if new); drawn at the next flush."""
        if not math.isfinite(y) or (self.log_y and y <= 0):
            return
        if key not in self._curves:
            self.add_curve(key)
        self._curves[key].append(float(x), float(y))

    def set_points(self, key: str, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Replace all points of curve ``key``."""
        if key not in self._curves:
            self.add_curve(key)
        x, y = np.asarray(xs, float), np.asarray(ys, float)
        if x.shape != y.shape:
            raise ValueError(f"{len(x)} x values for {len(y)} y values")
        keep = np.isfinite(y) & (y > 0) if self.log_y else np.isfinite(y)
        self._curves[key].replace(x[keep], y[keep])

    def points(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The points of curve ``key`` received so far (drawn or about to be)."""
        x, y = self._curves[key].data()
        return x.copy(), y.copy()

    def drawn_count(self, key: str) -> int:
        """How many points of curve ``key`` the plot currently draws."""
        x, _ = self._curves[key].item.getOriginalDataset()
        return 0 if x is None else len(x)

    def flush(self) -> None:
        """Draw the buffered points now: one ``setData`` per changed curve, the range moved only if needed."""
        changed = False
        for curve in self._curves.values():
            if curve.dirty:
                curve.item.setData(*curve.data())
                curve.dirty = False
                changed = True
        if changed:
            self._frame_data()

    # Range --------------------------------------------------------------------------------------------
    def _data_bounds(self) -> tuple[float, float, float, float] | None:
        """(x0, x1, y0, y1) of every point and marker, y in view units (log10 on a log axis)."""
        xs, ys = [], []
        for curve in self._curves.values():
            x, y = curve.data()
            if len(x):
                xs += [x.min(), x.max()]
                ys += [y.min(), y.max()]
        if not ys:
            return None
        xs += [line.value() for line in self._markers]
        y0, y1 = min(ys), max(ys)
        if self.log_y:
            y0, y1 = math.log10(y0), math.log10(y1)
        return float(min(xs)), float(max(xs)), y0, y1

    def _frame_data(self) -> None:
        """Move the view only when the data leave it or fill less than half of it along an axis."""
        view = self.getPlotItem().getViewBox()
        if any(view.autoRangeEnabled()):  # the user asked for auto-range again (button or menu)
            view.disableAutoRange()
            self._framing = True
        bounds = self._data_bounds()
        if not self._framing or bounds is None:
            return
        x0, x1, y0, y1 = bounds
        (vx0, vx1), (vy0, vy1) = view.viewRange()
        want_x = fit_interval(x0, x1, before=0.02, after=0.5)  # steps grow to the right
        if x0 >= 0:
            want_x = (max(0.0, want_x[0]), want_x[1])  # no negative steps or horizons in view
        want_y = fit_interval(y0, y1)
        # A point on the edge is half hidden: the view keeps a margin of 1 % beyond the newest step and
        # around the values (the left end may sit on step 0).
        mx, my = 0.01 * (vx1 - vx0), 0.01 * (vy1 - vy0)
        x_ok = vx0 <= x0 and x1 <= vx1 - mx and 2 * (want_x[1] - want_x[0]) >= vx1 - vx0
        y_ok = vy0 + my <= y0 and y1 <= vy1 - my and 2 * (want_y[1] - want_y[0]) >= vy1 - vy0
        if not (x_ok and y_ok):
            view.setRange(
                xRange=(vx0, vx1) if x_ok else want_x, yRange=(vy0, vy1) if y_ok else want_y, padding=0
            )
            # pyqtgraph applies a new range while painting, and the items it moves then ask for a second
            # paint; applying it now keeps one paint per flush.
            view.updateMatrix()

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
        """Remove every curve and marker; the next points are framed afresh."""
        item = self.getPlotItem()
        for curve in self._curves.values():
            item.removeItem(curve.item)
        for line in self._markers:
            item.removeItem(line)
        self._curves.clear()
        self._markers.clear()
        self.legend.clear()
        self._framing = True

    def stop(self) -> None:
        """Stop redrawing (the widget is going away)."""
        if self._timer is not None:
            self._timer.stop()

    # Slots --------------------------------------------------------------------------------------------
    def _on_range_changed_manually(self, _mask: object) -> None:
        self._framing = False

    def _on_timer_timeout(self) -> None:
        if self.isVisible():
            self.flush()
