"""The Train panel's live plots (losses, learning rate, per-channel metrics, rollout error) and ETA."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QWidget

from fieldcast.widgets.loss_plot import PALETTE, LossPlot

__all__ = ["Eta", "LivePlots", "format_duration"]


def format_duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``42 s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class Eta:
    """Remaining time of a stage from its step rate, smoothed so that one slow step does not jump it."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self.smoothing = smoothing
        self.reset()

    def reset(self) -> None:
        self._last: tuple[float, int] | None = None
        self.seconds_per_step: float | None = None

    def update(self, done: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._last is not None and done > self._last[1]:
            rate = (now - self._last[0]) / (done - self._last[1])
            sps = self.seconds_per_step
            self.seconds_per_step = rate if sps is None else sps + self.smoothing * (rate - sps)
        self._last = (now, done)

    def remaining(self, done: int, total: int | None) -> float | None:
        if self.seconds_per_step is None or not total:
            return None
        return max(0, total - done) * self.seconds_per_step


#: melt microstructure validation figures, each with the persistence baseline it is compared with
MELT_BASELINES = {"mse": "persistence_mse", "front_mse": "persistence_front_mse"}

_TITLES = {
    "rollout": ("Validation metrics by channel", "normalised MSE"),
    "melt": ("Validation MSE of the IPF channels (solid cells)", "MSE"),
}


@dataclass(frozen=True)
class _Validation:
    step: int
    metrics: dict[str, float]
    rollout: dict[int, float]


class LivePlots(QWidget):
    """Four plots fed by training events; curves are created once and redrawn at a fixed rate.

    Events only buffer points. One timer takes the plots in turn, one plot per tick, so each on-screen
    plot sets the data of its changed curves once and repaints at most ``refresh_hz`` times a second
    (the plots of validation results, which change once an epoch, at most ``validation_hz``) however fast
    the steps come, and the window never repaints all four in one go: the event loop is blocked for one
    plot's repaint at a time (a few milliseconds), not four.
    """

    def __init__(
        self, parent: QWidget | None = None, refresh_hz: float = 10.0, validation_hz: float = 2.0
    ) -> None:
        super().__init__(parent)
        self.refresh_hz = refresh_hz
        self.loss = LossPlot("Loss", "step", "loss", log_y=True, refresh_hz=None)
        self.lr = LossPlot("Learning rate", "step", "lr", log_y=True, refresh_hz=None)
        self.metrics = LossPlot(
            "Validation metrics by channel", "step", "normalised MSE", log_y=True, refresh_hz=None
        )
        self.rollout = LossPlot(
            "Rollout error against horizon", "horizon (frames)", "normalised MSE", log_y=True, refresh_hz=None
        )
        self.plots = (self.loss, self.lr, self.metrics, self.rollout)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, plot in enumerate(self.plots):
            plot.setMinimumSize(260, 180)
            grid.addWidget(plot, i // 2, i % 2)
        slow = max(1, round(refresh_hz / validation_hz))
        self._every = {self.metrics: slow, self.rollout: slow}  # flush once every this many rounds
        self._turn = 0
        self._round = 0
        self._timer = QTimer(self, interval=max(1, round(1000 / (refresh_hz * len(self.plots)))))
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self.clear()

    def _create_curves(self, kind: str) -> None:
        self.loss.add_curve("train", "train (step)")
        self.loss.add_curve("train_epoch", "train (epoch mean)", symbol="o")
        self.lr.add_curve("lr", "learning rate")
        if kind == "melt":
            # No validation loss and no rollout test: the model's MSE and front MSE against persistence.
            for i, (name, baseline) in enumerate(MELT_BASELINES.items()):
                color = PALETTE[i]
                self.metrics.add_curve(name, name.replace("_", " "), color=color, symbol="o")
                self.metrics.add_curve(baseline, baseline.replace("_", " "), color=color, dashed=True)
            return
        self.loss.add_curve("valid", "validation", symbol="s")
        self.rollout.add_curve("first", "first validation", color="#aaaaaa", symbol="o")
        self.rollout.add_curve("latest", "latest validation", symbol="o")

    def clear(self, kind: str = "rollout") -> None:
        """Forget every curve: a new run starts, of the curriculum trainer (``"rollout"``) or ``"melt"``."""
        for plot in self.plots:
            plot.clear_all()
        title, y_label = _TITLES[kind]
        self.metrics.getPlotItem().setTitle(title, color="#333", size="10pt")
        self.metrics.getPlotItem().setLabel("left", y_label)
        self.rollout.setVisible(kind == "rollout")  # melt training runs no rollout test
        self._create_curves(kind)
        self._step_offset = 0
        self._last_step = 0
        self._has_first_rollout = False

    def flush(self) -> None:
        """Draw every buffered point now (the timer does it on its own for the plots on screen)."""
        for plot in self.plots:
            plot.flush()

    def stop(self) -> None:
        """Stop redrawing (the widget is going away)."""
        self._timer.stop()

    def x(self, step: int) -> int:
        """Steps are counted across curriculum stages, so later stages continue to the right."""
        return self._step_offset + step

    # Events -------------------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """Route one training event to the plots that show it."""
        kind = type(event).__name__
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)

    def _on_StageEvent(self, event: Any) -> None:  # noqa: N802 - named after the event class
        if event.status == "start":
            self._step_offset = self._last_step if event.index > 0 else 0
            label = f"{event.name} ({event.index + 1}/{event.total})"
            for plot in (self.loss, self.lr, self.metrics):
                plot.add_marker(self._step_offset, label)

    def _on_StepEvent(self, event: Any) -> None:  # noqa: N802
        x = self.x(event.step)
        self._last_step = x
        self.loss.append("train", x, event.loss)
        self.lr.append("lr", x, event.lr)

    def _on_EpochEvent(self, event: Any) -> None:  # noqa: N802
        self.loss.append("train_epoch", self.x(event.step), event.train_loss)

    def _on_ValidationEvent(self, event: Any) -> None:  # noqa: N802
        x = self.x(event.step)
        if "loss" in event.metrics:
            self.loss.append("valid", x, event.metrics["loss"])
        for name, value in event.metrics.items():
            if name.startswith("mse/") or self.metrics.has_curve(name):
                self.metrics.append(name, x, value)
        if event.rollout:
            horizons = sorted(event.rollout)
            values = [event.rollout[h] for h in horizons]
            if not self._has_first_rollout:
                self.rollout.set_points("first", horizons, values)
                self._has_first_rollout = True
            self.rollout.set_points("latest", horizons, values)

    def on_record(self, record: dict[str, Any]) -> None:
        """Replay one ``metrics.jsonl`` record (a resumed run shows its history before new steps arrive)."""
        kind, step = record.get("kind"), int(record.get("step", 0))
        x = self.x(step)
        if kind == "step" and isinstance(record.get("loss"), float):
            self._last_step = x
            self.loss.append("train", x, record["loss"])
            self.lr.append("lr", x, float(record.get("lr", 0.0)))
        elif kind == "epoch" and isinstance(record.get("train_loss"), float):
            self.loss.append("train_epoch", x, record["train_loss"])
        elif kind == "validation":
            metrics = {
                k: v
                for k, v in record.items()
                if isinstance(v, (int, float)) and k not in ("step", "epoch", "time")
            }
            rollout = {
                int(h): v for h, v in (record.get("rollout") or {}).items() if isinstance(v, (int, float))
            }
            self._on_ValidationEvent(_Validation(step, metrics, rollout))

    def mark_lr_change(self, lr: float) -> None:
        """A learning-rate change asked from the panel, marked where the run is now."""
        self.lr.add_marker(self._last_step, f"lr → {lr:g}", color="#D55E00")

    # Slots --------------------------------------------------------------------------------------------
    def _on_timer_timeout(self) -> None:
        plot = self.plots[self._turn]
        self._turn = (self._turn + 1) % len(self.plots)
        self._round += self._turn == 0
        if self._round % self._every.get(plot, 1):
            return
        if not plot.viewport().visibleRegion().isEmpty():  # hidden panels, collapsed splitters: skip
            plot.flush()
