"""Pictures of the generative Play page: one map with its title and colour bar, and the condition overlay.

A :class:`MapView` shows an ``(nx, ny)`` map in a perceptual colour map at a fixed size with a colour bar
(low and high values, units) under it; the editable one reports mouse presses, drags and releases in cell
coordinates (x right, y up), so the page can paint buildings, place the transmitter or draw a laser path.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from fieldcast.app.play.generative_condition import path_mask
from fieldcast.widgets.field_colors import blend, colorize, lut

__all__ = ["MapView", "condition_picture", "shared_range"]

_BUILDING_RGB = (0.80, 0.82, 0.86)
_STREET_RGB = (0.10, 0.11, 0.16)
_TRANSMITTER_RGB = (1.0, 0.25, 0.2)
_PATH_RGB = (0.25, 0.85, 1.0)


def _qimage(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


def shared_range(*maps: np.ndarray | None, tail: float = 0.0) -> tuple[float, float]:
    """One value range for ``maps`` so they compare by colour: from the ``tail`` to the 100 - ``tail``
    percentile of their finite values (``tail`` 0: lowest to highest). A radio map leaves out its
    transmitter's peak cell (tail 0.5); an infrared frame keeps all (its melt pool is a few hot pixels and
    the point of the picture)."""
    values = [np.asarray(m, float).ravel() for m in maps if m is not None]
    data = np.concatenate(values) if values else np.zeros(0)
    data = data[np.isfinite(data)]
    if not data.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(data, [tail, 100.0 - tail]))
    if hi - lo < 1e-9:
        pad = max(abs(hi) * 0.05, 1e-3)
        return lo - pad, hi + pad
    return lo, hi


def condition_picture(
    source: str, condition: dict[str, np.ndarray], path: list[tuple[float, float]] | None = None
) -> np.ndarray:
    """(ny, nx, 3) uint8 picture of a condition: radio as buildings (light) on streets (dark) with the
    transmitter in red; infrared as the plate's material in grey with the scan path and the laser now."""
    first = next(iter(condition.values()))
    shape = np.shape(first)
    rgba = np.zeros((*shape, 4), np.float32)
    if source == "radio":
        base = np.empty((shape[1], shape[0], 3), np.uint8)
        base[:] = (np.asarray(_STREET_RGB) * 255 + 0.5).astype(np.uint8)
        inside = np.asarray(condition.get("buildings", np.zeros(shape))) > 0.5
        rgba[inside] = (*_BUILDING_RGB, 1.0)
        tx = np.asarray(condition.get("transmitter", np.zeros(shape)), np.float32)
        alpha = np.clip(tx * 1.4, 0.0, 1.0)
        show = alpha > 0.05
        rgba[show, :3] = _TRANSMITTER_RGB
        rgba[show, 3] = np.maximum(rgba[show, 3] * (1 - alpha[show]), alpha[show])
        return blend(base, rgba)
    material = np.asarray(condition.get("material", np.zeros(shape)), float)
    lo, hi = float(material.min()), float(material.max())
    base = colorize(material, "gray", (lo - 0.5 * (hi - lo + 1), hi + 0.5 * (hi - lo + 1)))
    scanned = np.asarray(condition.get("scan_path", np.zeros(shape))) > 0.5
    if path:
        scanned |= path_mask(path, shape)
    rgba[scanned] = (*_PATH_RGB, 0.8)
    laser = np.asarray(condition.get("laser", np.zeros(shape)), float)
    if laser.max() > 0:
        alpha = np.clip(laser / laser.max(), 0.0, 1.0)
        show = alpha > 0.05
        rgba[show] = np.concatenate([np.tile((1.0, 1.0, 0.5), (int(show.sum()), 1)), alpha[show, None]], 1)
    return blend(base, rgba)


class _ColourBar(QWidget):
    """A horizontal gradient of a colour map with its low and high values and units."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gradient = QLabel()
        self.gradient.setFixedSize(width, 10)
        self.low = QLabel()
        self.high = QLabel()
        self.high.setAlignment(Qt.AlignmentFlag.AlignRight)
        for label in (self.low, self.high):
            label.setStyleSheet("color:#555; font-size:9pt;")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.low)
        row.addStretch(1)
        row.addWidget(self.high)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addWidget(self.gradient)
        column.addLayout(row)
        self._width = width
        self.cmap = ""

    def set_scale(self, cmap: str, clim: tuple[float, float], units: str) -> None:
        if cmap != self.cmap:
            self.cmap = cmap
            table = (lut(cmap)[:, :3] * 255 + 0.5).astype(np.uint8)
            idx = np.linspace(0, len(table) - 1, self._width).astype(int)
            self.gradient.setPixmap(_qimage(np.repeat(table[idx][None], 10, axis=0)))
        suffix = f" {units}" if units else ""
        self.low.setText(f"{clim[0]:.3g}{suffix}")
        self.high.setText(f"{clim[1]:.3g}{suffix}")


class MapView(QWidget):
    """One map: title, picture (``size`` pixels square) and, for data maps, a colour bar with units.

    Parameters
    ----------
    title : the caption above the picture.
    name : the object name (tests and screenshots find the view by it).
    size : the picture's side in pixels.
    colour_bar : show a colour bar (off for the condition, which is drawn in fixed colours).
    """

    sig_pressed = Signal(float, float, object)
    """The mouse was pressed at cell (x, y) with this button (Qt.MouseButton)."""
    sig_moved = Signal(float, float)
    """The mouse moved to cell (x, y) with a button held."""
    sig_released = Signal()
    """The mouse button was released."""

    def __init__(self, title: str, name: str, size: int = 220, colour_bar: bool = True) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setFixedWidth(size)  # the colour bar's values sit under the ends of its gradient
        self.title = QLabel(title)
        self.title.setObjectName(f"{name}_title")
        self.title.setStyleSheet("font-weight:600;")
        self.title.setWordWrap(True)
        # Two lines whatever the text, so a title growing during denoising does not move the picture.
        self.title.setFixedHeight(2 * self.title.fontMetrics().lineSpacing() + 2)
        self.title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        self.picture = QLabel()
        self.picture.setFixedSize(size, size)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setStyleSheet("background:#1b1d24;")
        self.bar = _ColourBar(size) if colour_bar else None
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.title)
        column.addWidget(self.picture)
        if self.bar is not None:
            column.addWidget(self.bar)
        column.addStretch(1)
        self._size = size
        self.shape: tuple[int, int] | None = None
        self.data: np.ndarray | None = None
        self.clim: tuple[float, float] = (0.0, 1.0)
        self._pressed = False

    def set_title(self, text: str) -> None:
        self.title.setText(text)

    def clear(self, text: str = "") -> None:
        """No map: an empty dark square with ``text`` in it."""
        self.data = None
        self.picture.clear()
        self.picture.setText(f"<span style='color:#aaa'>{text}</span>")
        self.picture.setWordWrap(True)
        if self.bar is not None:
            self.bar.low.setText("")
            self.bar.high.setText("")

    def show_map(self, data: np.ndarray, cmap: str, clim: tuple[float, float], units: str = "") -> None:
        """Draw ``data`` (nx, ny) in ``cmap`` over ``clim`` with a colour bar in ``units``."""
        self.data = np.asarray(data)
        self.clim = clim
        self.show_rgb(colorize(self.data, cmap, clim))
        if self.bar is not None:
            self.bar.set_scale(cmap, clim, units)

    def show_rgb(self, rgb: np.ndarray) -> None:
        """Draw a (ny, nx, 3) uint8 picture (top row = highest y), scaled by whole pixels to fit."""
        ny, nx = rgb.shape[:2]
        self.shape = (nx, ny)
        scale = self._scale()
        w, h = round(nx * scale), round(ny * scale)
        # Cells stay sharp squares: nearest-neighbour scaling, no smoothing between cells.
        pixmap = _qimage(rgb).scaled(
            w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation
        )
        self.picture.setPixmap(pixmap)

    def _scale(self) -> float:
        """Picture pixels per cell: the map fills the picture's side."""
        nx, ny = self.shape or (1, 1)
        return self._size / max(nx, ny)

    # Mouse --------------------------------------------------------------------------------------------
    def _cell(self, pos: QPointF) -> tuple[float, float] | None:
        """The cell coordinates (x right, y up) under picture pixel ``pos``, or None outside the map."""
        if self.shape is None:
            return None
        nx, ny = self.shape
        scale = self._scale()
        left = (self._size - nx * scale) / 2
        top = (self._size - ny * scale) / 2
        x = (pos.x() - left) / scale
        y = ny - (pos.y() - top) / scale
        if not (0 <= x < nx and 0 <= y < ny):
            return None
        return float(x), float(y)

    def _picture_pos(self, event: QMouseEvent) -> QPointF:
        return self.picture.mapFrom(self, event.position().toPoint()).toPointF()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        cell = self._cell(self._picture_pos(event))
        if cell is None:
            super().mousePressEvent(event)
            return
        self._pressed = True
        self.sig_pressed.emit(cell[0], cell[1], event.button())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if not self._pressed:
            return
        cell = self._cell(self._picture_pos(event))
        if cell is not None:
            self.sig_moved.emit(cell[0], cell[1])

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._pressed:
            self._pressed = False
            self.sig_released.emit()

    def cell_pixel(self, x: float, y: float):
        """The widget pixel (QPoint) at the centre of cell coordinates (x, y): where a hand would click."""
        nx, ny = self.shape or (1, 1)
        scale = self._scale()
        left = (self._size - nx * scale) / 2
        top = (self._size - ny * scale) / 2
        px = left + x * scale
        py = top + (ny - y) * scale
        return self.picture.mapTo(self, QPoint(round(px), round(py)))
