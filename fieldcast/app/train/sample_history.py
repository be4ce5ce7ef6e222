"""Every validation's saved samples of a run, to scrub through: an epoch slider over the validations, truth /
prediction / difference of the samples of one validation, the first five and last five validations side by
side, and the per-sample loss distribution of the newest validation.

The samples live in the run folder (``samples/epoch_NNNN.npz``, written atomically by the trainer); only
the files on screen are read, and a few are kept in memory, so a run with hundreds of validations scrubs as
fast as one with five.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from fieldcast.engine.run_folder import RunFolderError, SampleFile, Samples, list_samples, load_samples

__all__ = ["MODES", "SampleHistory"]

log = logging.getLogger("fieldcast.app")

#: what the grid shows: one validation (rows: samples), or the first / last five validations (columns)
MODES = ("One validation", "First 5 validations", "Last 5 validations")
_GRID = 5
_MAX_ROWS = 3  # samples drawn for one validation
_CACHE = 12  # samples files kept in memory
_COLUMNS = ("truth", "prediction", "difference")
EMPTY = "No saved validation samples yet: they appear after the first validation that draws samples."


class SampleHistory(QWidget):
    """Scrub through the saved samples of one run folder."""

    sig_shown = Signal(int)
    """The validation now shown (index into the saved validations) after the slider or mode changed."""

    def __init__(self, parent: QWidget | None = None, min_interval_ms: int = 500) -> None:
        super().__init__(parent)
        # New validations while training arrive fast: re-listed and drawn at most this often, and not at
        # all while the widget is hidden (it catches up when shown).
        self._later = QTimer(self, singleShot=True, interval=min_interval_ms)
        self._later.timeout.connect(self._on_later_timeout)
        self._pending = False
        self.run_dir: Path | None = None
        self.files: list[SampleFile] = []
        self._cache: OrderedDict[Path, Samples] = OrderedDict()
        self.reads = 0  # samples files opened (the cache saves the rest)
        self.mode_combo = QComboBox(objectName="history_mode")
        self.mode_combo.addItems(list(MODES))
        self.channel_combo = QComboBox(objectName="history_channel")
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="history_slider")
        self.slider.setPageStep(1)
        self.slider.setTracking(True)
        self.position = QLabel(EMPTY, objectName="history_position", wordWrap=True)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.losses = pg.PlotWidget(background="w")
        self.losses.setObjectName("history_losses")
        self.losses.setMaximumHeight(170)
        self.losses.setLabel("bottom", "per-sample MSE of the newest validation")
        self.losses.setLabel("left", "samples")
        self._bars: pg.BarGraphItem | None = None
        self._build()
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.channel_combo.currentIndexChanged.connect(self._on_channel_changed)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self._update_controls()

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.mode_combo)
        bar.addWidget(QLabel("channel"))
        bar.addWidget(self.channel_combo)
        bar.addWidget(self.slider, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(bar)
        box.addWidget(self.position)
        box.addWidget(self.view, 1)
        box.addWidget(self.losses)

    # Public API ---------------------------------------------------------------------------------------
    def set_run(self, run_dir: Path | None) -> None:
        """Show the saved samples of ``run_dir`` (None: nothing), the newest validation first."""
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._cache.clear()
        self.files = []
        self.refresh(follow=True)

    def refresh_soon(self) -> None:
        """A validation saved samples: re-list and redraw shortly (coalesced), or when next shown."""
        self._pending = True
        if self.isVisible() and not self._later.isActive():
            self._later.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._pending and not self._later.isActive():
            self._later.start(0)

    def refresh(self, follow: bool = False) -> None:
        """Re-list the run's samples files now; ``follow`` moves to the newest one."""
        self._pending = False
        at_end = self.slider.value() == self.slider.maximum()
        self.files = list_samples(self.run_dir) if self.run_dir is not None else []
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.files) - 1))
        if follow or at_end:
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self._update_controls()
        self._draw_losses()
        self._draw()

    @property
    def index(self) -> int:
        return self.slider.value()

    # Reading ----------------------------------------------------------------------------------------
    def _samples(self, i: int) -> Samples | None:
        sample = self.files[i]
        if sample.path in self._cache:
            self._cache.move_to_end(sample.path)
            return self._cache[sample.path]
        try:
            loaded = load_samples(sample)
        except RunFolderError as exc:
            log.warning("%s", exc)
            self.position.setText(str(exc))
            return None
        self.reads += 1
        self._cache[sample.path] = loaded
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return loaded

    # Drawing ----------------------------------------------------------------------------------------
    def _update_controls(self) -> None:
        has = bool(self.files)
        self.slider.setEnabled(has and self.mode_combo.currentIndex() == 0)
        self.channel_combo.setEnabled(has)
        if not has:
            self.position.setText(EMPTY)

    def _channels(self, samples: Samples) -> None:
        names = list(samples.channels)
        if [self.channel_combo.itemText(i) for i in range(self.channel_combo.count())] != names:
            self.channel_combo.blockSignals(True)
            self.channel_combo.clear()
            self.channel_combo.addItems(names)
            self.channel_combo.blockSignals(False)

    def _draw(self) -> None:
        self.view.clear()
        if not self.files:
            return
        mode = self.mode_combo.currentIndex()
        if mode == 0:
            indices = [self.index]
        elif mode == 1:
            indices = list(range(min(_GRID, len(self.files))))
        else:
            indices = list(range(max(0, len(self.files) - _GRID), len(self.files)))
        shown = [s for i in indices if (s := self._samples(i)) is not None]
        if not shown:
            return
        self._channels(shown[-1])
        channel = max(0, min(self.channel_combo.currentIndex(), len(shown[-1].channels) - 1))
        if mode == 0:
            s = shown[0]
            rows = [(f"sample {k}", s, k) for k in range(min(_MAX_ROWS, s.truth.shape[0]))]
            where = f"validation {self.index + 1} of {len(self.files)}"
            step = f", step {s.step}" if s.step is not None else ""
            self.position.setText(
                f"Epoch {s.epoch}{step} — {where}; rows: samples, columns: {', '.join(_COLUMNS)}"
            )
            self._draw_rows(rows, channel)
        else:
            which = "First" if mode == 1 else "Last"
            epochs = ", ".join(str(s.epoch) for s in shown)
            self.position.setText(
                f"{which} {len(shown)} validations (epochs {epochs}); rows: {', '.join(_COLUMNS)}"
            )
            self._draw_columns(shown, channel)
        self.sig_shown.emit(self.index)

    def _triplet(self, s: Samples, k: int, channel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        truth = np.asarray(s.truth[k, channel], np.float32)
        pred = np.asarray(s.prediction[k, channel], np.float32)
        return truth, pred, pred - truth

    def _image(
        self, row: int, col: int, image: np.ndarray, levels: tuple[float, float], diff: bool, title: str
    ):
        plot = self.view.addPlot(row=row, col=col, title=title)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setAspectLocked(True)
        plot.setMouseEnabled(False, False)
        item = pg.ImageItem(image if image.ndim == 2 else np.atleast_2d(image))
        item.setColorMap(pg.colormap.get("CET-D1" if diff else "viridis"))
        item.setLevels(levels)
        plot.addItem(item)
        return item

    def _draw_rows(self, rows: list[tuple[str, Samples, int]], channel: int) -> None:
        for r, (label, s, k) in enumerate(rows):
            truth, pred, diff = self._triplet(s, k, channel)
            levels = _levels(truth, pred)
            bound = _bound(diff)
            for c, (image, name) in enumerate(((truth, "truth"), (pred, "prediction"), (diff, "difference"))):
                lv = (-bound, bound) if c == 2 else levels
                self._image(r, c, image, lv, c == 2, f"{label}: {name}")

    def _draw_columns(self, shown: list[Samples], channel: int) -> None:
        triplets = [self._triplet(s, 0, channel) for s in shown]
        levels = _levels(*(t[0] for t in triplets), *(t[1] for t in triplets))
        bound = max(_bound(t[2]) for t in triplets)
        for c, (s, trip) in enumerate(zip(shown, triplets, strict=True)):
            for r, name in enumerate(_COLUMNS):
                lv = (-bound, bound) if r == 2 else levels
                self._image(r, c, trip[r], lv, r == 2, f"epoch {s.epoch}: {name}")

    def _draw_losses(self) -> None:
        if self._bars is not None:
            self.losses.removeItem(self._bars)
            self._bars = None
        if not self.files:
            self.losses.setTitle("")
            return
        newest = self._samples(len(self.files) - 1)
        losses = newest.losses[np.isfinite(newest.losses)] if newest is not None else np.zeros(0)
        if losses.size == 0:
            self.losses.setTitle("no per-sample losses")
            return
        counts, edges = np.histogram(losses, bins=min(20, max(1, losses.size)))
        self._bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush="#0072B2")
        self.losses.addItem(self._bars)
        self.losses.setTitle(
            f"Loss distribution, epoch {newest.epoch}: {losses.size} sample(s), "
            f"median {np.median(losses):.3g}"
        )

    # Slots ------------------------------------------------------------------------------------------
    def _on_later_timeout(self) -> None:
        if self._pending and self.isVisible():
            self.refresh()

    def _on_slider_changed(self, _value: int) -> None:
        self._draw()

    def _on_mode_changed(self, _index: int) -> None:
        self._update_controls()
        self._draw()

    def _on_channel_changed(self, _index: int) -> None:
        self._draw()


def _levels(*images: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([np.ravel(i) for i in images])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _bound(diff: np.ndarray) -> float:
    finite = np.abs(diff[np.isfinite(diff)])
    value = float(finite.max()) if finite.size else 1.0
    return value if value > 0 else 1.0
