"""Ground truth next to prediction: one row per sample, truth | prediction | absolute error of one channel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

__all__ = ["SampleStrip"]

_COLUMNS = ("ground truth", "prediction", "|error|")

#: the caption before the first samples arrive
WAITING = "Samples appear after the first validation."


class SampleStrip(QWidget):
    """Pairs of fields (N, C, nx, ny) shown side by side for the channel picked in a combo box.

    Truth and prediction share their colour levels so equal values look equal; the error has its own.
    Samples arriving faster than ``min_interval_ms`` are coalesced: only the newest is drawn, with its
    caption, and nothing is drawn while the strip is hidden (it catches up when shown).
    """

    def __init__(self, parent: QWidget | None = None, min_interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._redraw = QTimer(self, singleShot=True, interval=min_interval_ms)
        self._redraw.timeout.connect(self._on_redraw_timeout)
        self.truth: np.ndarray | None = None
        self.prediction: np.ndarray | None = None
        self.channel_names: tuple[str, ...] = ()
        self._caption_text = ""
        self.caption = QLabel(WAITING)
        self.caption.setObjectName("sample_caption")
        self.channel_combo = QComboBox()
        self.channel_combo.setObjectName("sample_channel")
        self.channel_combo.currentIndexChanged.connect(self._on_channel_changed)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.view.setMinimumHeight(150)
        self._images: list[pg.ImageItem] = []
        self._cmap = pg.colormap.get("viridis")
        self._err_cmap = pg.colormap.get("inferno")
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(QLabel("channel"))
        top.addWidget(self.channel_combo)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(self.view, 1)

    def set_samples(
        self, truth: np.ndarray, prediction: np.ndarray, channel_names: tuple[str, ...], caption: str = ""
    ) -> None:
        """Show new pairs; ``truth`` and ``prediction`` are (N, C, nx, ny) in physical units."""
        if truth.shape != prediction.shape or truth.ndim != 4:
            raise ValueError(f"expected two (N, C, nx, ny) arrays, got {truth.shape} and {prediction.shape}")
        self.truth, self.prediction = truth, prediction
        if tuple(channel_names) != self.channel_names:
            self.channel_names = tuple(channel_names)
            keep = self.channel_combo.blockSignals(True)
            self.channel_combo.clear()
            self.channel_combo.addItems(list(self.channel_names))
            self.channel_combo.blockSignals(keep)
        if caption:
            self._caption_text = caption
        if not self._redraw.isActive():
            self._redraw.start()

    def clear(self, message: str = WAITING) -> None:
        """Show no samples, only ``message`` (a new run starts)."""
        self._redraw.stop()
        self.truth = self.prediction = None
        self._caption_text = message
        self.caption.setText(message)
        self.view.clear()
        self._images = []

    def flush(self) -> None:
        """Draw the newest samples now instead of at the next redraw."""
        self._redraw.stop()
        self._draw()

    def image_count(self) -> int:
        return len(self._images)

    def _build_grid(self, n: int) -> None:
        if len(self._images) == n * len(_COLUMNS):
            return
        self.view.clear()
        self._images = []
        for col, title in enumerate(_COLUMNS):
            self.view.addLabel(title, row=0, col=col, color="#333", size="9pt")
        for row in range(1, n + 1):
            for col in range(len(_COLUMNS)):
                box = self.view.addViewBox(row=row, col=col, lockAspect=True, enableMouse=False)
                box.setMenuEnabled(False)
                image = pg.ImageItem()
                image.setColorMap(self._err_cmap if col == len(_COLUMNS) - 1 else self._cmap)
                box.addItem(image)
                self._images.append(image)
        self.view.ci.setSpacing(4)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.truth is not None and not self._redraw.isActive():
            self._redraw.start()

    def _on_redraw_timeout(self) -> None:
        if self.isVisible():  # a hidden strip draws when shown again (showEvent)
            self._draw()

    def _draw(self) -> None:
        if self.truth is None or self.prediction is None:
            return
        if self._caption_text and self.caption.text() != self._caption_text:
            self.caption.setText(self._caption_text)
        self._build_grid(self.truth.shape[0])
        c = max(self.channel_combo.currentIndex(), 0)
        truth, pred = self.truth[:, c], self.prediction[:, c]
        lo, hi = float(np.nanmin(truth)), float(np.nanmax(truth))
        hi = hi if hi > lo else lo + 1e-6
        err = np.abs(pred - truth)
        err_hi = max(float(np.nanmax(err)), 1e-6)
        for i in range(truth.shape[0]):
            for j, (field, levels) in enumerate(
                ((truth[i], (lo, hi)), (pred[i], (lo, hi)), (err[i], (0, err_hi)))
            ):
                image = self._images[i * len(_COLUMNS) + j]
                image.setImage(np.ascontiguousarray(field, dtype=np.float32), levels=levels, autoLevels=False)

    def _on_channel_changed(self, _index: int) -> None:
        self._draw()
