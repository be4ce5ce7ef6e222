"""The Train panel's view of a generative run: generated maps against the truth, and loss by timestep.

For the validation chosen with the slider (the newest by default): on the left, validation conditions one a
row, each with its truth, the generated map and their difference; on the right, several samples of one
condition side by side with its truth, their mean and their per-pixel spread. Below, the validation loss by
diffusion timestep, the newest validation's beside the first one's, which shows at which noise levels the
model still learns. Records come from the run folder (:mod:`fieldcast.app.train.generative_records`); only
the samples file on screen is read.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from fieldcast.app.train.generative_records import (
    GenerativeSamples,
    RecordTail,
    SamplesRecord,
    TimestepLoss,
    generative_records,
    load_generative_samples,
)
from fieldcast.engine.run_folder import RunFolderError
from fieldcast.widgets.loss_plot import PALETTE, LossPlot

__all__ = ["EMPTY", "GenerativeRunView"]

log = logging.getLogger("fieldcast.app")

EMPTY = (
    "No generated samples yet: a generative task saves samples of its validation conditions at each "
    "validation, and they appear here."
)
_ROWS = 3  # generated-vs-truth pairs drawn
_SAMPLES = 4  # samples of one condition drawn
_CACHE = 6


class GenerativeRunView(QWidget):
    """Generated vs truth with differences and several samples per condition, and the loss by timestep."""

    sig_available = Signal(bool)
    """Whether the run shown has generative records (the panel shows the tab only then)."""

    def __init__(self, parent: QWidget | None = None, min_interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._later = QTimer(self, singleShot=True, interval=min_interval_ms)
        self._later.timeout.connect(self._on_later_timeout)
        self._pending = False
        self.run_dir: Path | None = None
        self._tail: RecordTail | None = None
        self.samples: list[SamplesRecord] = []
        self.losses: list[TimestepLoss] = []
        self.available = False
        self._cache: OrderedDict[Path, GenerativeSamples] = OrderedDict()
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="generative_history_slider")
        self.slider.setPageStep(1)
        self.position = QLabel(EMPTY, objectName="generative_history_position", wordWrap=True)
        self.pairs_view = pg.GraphicsLayoutWidget()
        self.pairs_view.setBackground("w")
        self.samples_view = pg.GraphicsLayoutWidget()
        self.samples_view.setBackground("w")
        self.timestep_plot = LossPlot(
            "Validation loss by diffusion timestep",
            "diffusion timestep (0: almost clean, high: almost pure noise)",
            "loss",
            log_y=True,
            refresh_hz=None,
        )
        self.timestep_plot.setObjectName("generative_timestep_loss")
        self.timestep_plot.add_curve("first", "first validation", color="#aaaaaa", symbol="o")
        self.timestep_plot.add_curve("latest", "newest validation", color=PALETTE[0], symbol="o")
        self.timestep_plot.setMaximumHeight(200)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Validation"))
        bar.addWidget(self.slider, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(bar)
        box.addWidget(self.position)
        views = QHBoxLayout()
        views.addWidget(self.pairs_view, 1)
        views.addWidget(self.samples_view, 1)
        box.addLayout(views, 1)
        box.addWidget(self.timestep_plot)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.slider.setEnabled(False)

    # Public API ---------------------------------------------------------------------------------------
    def set_run(self, run_dir: Path | None) -> None:
        """Show the generative records of ``run_dir`` (None: nothing), the newest validation first."""
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._tail = RecordTail(self.run_dir / "metrics.jsonl") if self.run_dir is not None else None
        self._cache.clear()
        self.samples, self.losses = [], []
        self.refresh(follow=True)

    def refresh_soon(self) -> None:
        """A validation ended: re-read the records shortly (coalesced), or when next shown."""
        self._pending = True
        # Hidden and without records yet (its tab is hidden too), it still looks: the first records show it.
        if (self.isVisible() or not self.available) and not self._later.isActive():
            self._later.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._pending and not self._later.isActive():
            self._later.start(0)

    def refresh(self, follow: bool = False) -> None:
        """Re-read the run's records now; ``follow`` moves to the newest validation."""
        self._pending = False
        at_end = self.slider.value() == self.slider.maximum()
        samples, losses = self._read_records()
        if not (samples or losses or follow):
            return  # nothing new (a run of another task, or a validation without records): nothing to draw
        self.samples += samples
        self.losses += losses
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.samples) - 1))
        if follow or at_end:
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(self.samples) > 1)
        available = bool(self.samples or self.losses)
        if available != self.available:
            self.available = available
            self.sig_available.emit(available)
        self._draw_losses()
        self._draw()

    # Reading ------------------------------------------------------------------------------------------
    def _read_records(self) -> tuple[list[SamplesRecord], list[TimestepLoss]]:
        """The generative records added to the run's metrics since the last look."""
        if self.run_dir is None or self._tail is None:
            return [], []
        try:
            records = self._tail.read_new()
        except OSError as exc:
            self.position.setText(f"{self._tail.path}: cannot be read ({exc})")
            return [], []
        return generative_records(self.run_dir, records)

    def _load(self, record: SamplesRecord) -> GenerativeSamples | None:
        if record.path in self._cache:
            self._cache.move_to_end(record.path)
            return self._cache[record.path]
        try:
            loaded = load_generative_samples(record.path)
        except RunFolderError as exc:
            log.warning("%s", exc)
            self.position.setText(str(exc))
            return None
        self._cache[record.path] = loaded
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return loaded

    # Drawing ------------------------------------------------------------------------------------------
    def _draw(self) -> None:
        self.pairs_view.clear()
        self.samples_view.clear()
        if not self.samples:
            self.position.setText(EMPTY)
            return
        index = self.slider.value()
        record = self.samples[index]
        loaded = self._load(record)
        if loaded is None:
            return
        n, s = loaded.truths.shape[0], loaded.samples.shape[0]
        epoch = f", epoch {record.epoch}" if record.epoch is not None else ""
        units = f" ({loaded.units})" if loaded.units not in ("", "1") else ""
        self.position.setText(
            f"Validation {index + 1} of {len(self.samples)} (step {record.step}{epoch}), "
            f"{loaded.target or 'target'}{units}. Left: {min(n, _ROWS)} of {n} validation conditions, truth, "
            f"generated and generated − truth. Right: {min(s, _SAMPLES)} of {s} samples of one condition, "
            "their mean and spread."
        )
        self._draw_pairs(loaded)
        self._draw_samples(loaded)

    def _draw_pairs(self, loaded: GenerativeSamples) -> None:
        rows = min(_ROWS, loaded.truths.shape[0])
        levels = _levels(loaded.truths[:rows], loaded.predictions[:rows])
        diff = loaded.differences[:rows]
        bound = _bound(diff)
        for r in range(rows):
            cells = (
                (loaded.truths[r], "truth", "viridis", levels),
                (loaded.predictions[r], "generated", "viridis", levels),
                (diff[r], "generated − truth", "CET-D1", (-bound, bound)),
            )
            for c, (image, title, cmap, lv) in enumerate(cells):
                _image(self.pairs_view, r, c, image, cmap, lv, title if r == 0 else "")

    def _draw_samples(self, loaded: GenerativeSamples) -> None:
        shown = loaded.samples[:_SAMPLES]
        levels = _levels(loaded.truth, shown)
        spread = loaded.samples.std(axis=0)
        cells = [(loaded.truth, "truth", "viridis", levels)]
        cells += [(m, f"sample {k + 1}", "viridis", levels) for k, m in enumerate(shown)]
        cells.append((loaded.samples.mean(axis=0), f"mean of {len(loaded.samples)}", "viridis", levels))
        cells.append((spread, "spread (std)", "magma", (0.0, max(float(spread.max()), 1e-6))))
        columns = 3
        for k, (image, title, cmap, lv) in enumerate(cells):
            _image(self.samples_view, k // columns, k % columns, image, cmap, lv, title)

    def _draw_losses(self) -> None:
        plot = self.timestep_plot
        if not self.losses:
            for key in ("first", "latest"):
                plot.set_points(key, [], [])
            plot.flush()
            return
        first, latest = self.losses[0], self.losses[-1]
        several = len(self.losses) > 1
        plot.set_points("first", first.centres if several else [], first.values if several else [])
        plot.set_points("latest", latest.centres, latest.values)  # empty bins (NaN) are left out
        plot.flush()
        # The timesteps are a fixed domain: show all of it, not room for a curve to grow into.
        c = latest.centres
        half = (c[1] - c[0]) / 2 if len(c) > 1 else 0.5
        plot.getPlotItem().setXRange(float(c[0] - half), float(c[-1] + half), padding=0.02)
        steps = f"newest: step {latest.step}; first: step {first.step}" if several else f"step {latest.step}"
        title = f"Validation loss by diffusion timestep ({steps})"
        plot.getPlotItem().setTitle(title, color="#333", size="10pt")

    # Slots --------------------------------------------------------------------------------------------
    def _on_later_timeout(self) -> None:
        if self._pending and (self.isVisible() or not self.available):
            self.refresh()

    def _on_slider_changed(self, _value: int) -> None:
        self._draw()


def _levels(*arrays: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([np.ravel(a) for a in arrays])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _bound(diff: np.ndarray) -> float:
    finite = np.abs(diff[np.isfinite(diff)])
    return max(float(finite.max()) if finite.size else 1.0, 1e-6)


def _image(view: pg.GraphicsLayoutWidget, row: int, col: int, image, cmap: str, levels, title: str) -> None:
    """One map (nx, ny) in a cell of ``view``, x to the right and y up, without axes."""
    plot = view.addPlot(row=row, col=col, title=title)
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setAspectLocked(True)
    plot.setMouseEnabled(False, False)
    item = pg.ImageItem(np.asarray(image, np.float32))
    item.setColorMap(pg.colormap.get(cmap))
    item.setLevels(levels)
    plot.addItem(item)
