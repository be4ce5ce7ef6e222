"""The Train panel's live plots (losses, learning rate, validation metrics beside their baselines, rollout
error or scores) and ETA."""

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


#: prefixes of the baselines a validation metric is compared with: ``persistence_X`` (copy the last
#: state), ``zero_X`` (predict nothing), ``linear_X`` (the system's linear-filter baseline)
BASELINE_PREFIXES = ("persistence_", "zero_", "linear_")
_BASELINE_SYMBOLS = {"persistence_": None, "zero_": "x", "linear_": "t"}
_VALID_COLOUR = PALETTE[2]


def baselines_of(metrics: dict[str, Any]) -> dict[str, list[str]]:
    """{metric: [its baselines present in ``metrics``]} for every metric that has a baseline partner."""
    out: dict[str, list[str]] = {}
    for name in metrics:
        if name.startswith(BASELINE_PREFIXES):
            continue
        partners = [p + name for p in BASELINE_PREFIXES if p + name in metrics]
        if partners:
            out[name] = partners
    return out


def is_score(name: str) -> bool:
    """A score that is better when higher and may be negative (R²): drawn on a linear axis of its own."""
    return name == "r2" or name.startswith("r2_")


def _label(name: str) -> str:
    return name.replace("_", " ")


@dataclass(frozen=True)
class _Validation:
    step: int
    metrics: dict[str, float]
    rollout: dict[int, float]


class LivePlots(QWidget):
    """Four plots fed by training events; curves are created once and redrawn at a fixed rate.

    Loss and learning rate always; the validation metrics, each beside its baselines (dashed) when the
    task reports any (``persistence_X``, ``zero_X``, ``linear_X`` next to ``X``); the fourth is the rollout
    error against horizon for the field-rollout task, else the scores (R²) on a linear axis.

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
        self.scores = LossPlot(
            "Validation scores (dashed: baselines)", "step", "score", log_y=False, refresh_hz=None
        )
        self.plots = (self.loss, self.lr, self.metrics, self.rollout, self.scores)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        for i, plot in enumerate(self.plots):
            plot.setMinimumSize(260, 180)
            self._grid.addWidget(plot, min(i, 3) // 2, min(i, 3) % 2)  # rollout and scores share a cell
        slow = max(1, round(refresh_hz / validation_hz))
        self._every = {self.metrics: slow, self.rollout: slow, self.scores: slow}  # flush every N rounds
        self._turn = 0
        self._round = 0
        self._timer = QTimer(self, interval=max(1, round(1000 / (refresh_hz * len(self.plots)))))
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self.task = ""
        self.clear()

    def clear(self, task: str = "field_rollout") -> None:
        """Forget every curve: a new run of ``task`` starts."""
        for plot in self.plots:
            plot.clear_all()
        self.loss.add_curve("train", "train (step)")
        self.loss.add_curve("train_epoch", "train (epoch mean)", symbol="o")
        self.loss.add_curve("valid", "validation", color=_VALID_COLOUR, symbol="s")
        self.lr.add_curve("lr", "learning rate")
        self._colours: dict[str, str] = {}
        self._step_offset = 0
        self._last_step = 0
        self._has_first_rollout = False
        self.task = ""
        self.set_task(task)

    def set_task(self, task: str) -> None:
        """Title the plots for ``task`` and show the fourth plot it uses (rollout error, or scores)."""
        if task == self.task:
            return
        self.task = task
        rollout = task == "field_rollout"
        title, y_label = (
            ("Validation metrics by channel", "normalised MSE")
            if rollout
            else ("Validation metrics (dashed: baselines)", "error")
        )
        self.metrics.getPlotItem().setTitle(title, color="#333", size="10pt")
        self.metrics.getPlotItem().setLabel("left", y_label)
        self._arrange()

    def _arrange(self) -> None:
        """The fourth cell shows the rollout error (field rollout) or the scores (once there are any);
        with neither, the validation metrics take the whole row."""
        fourth = None
        if self.task == "field_rollout":
            fourth = self.rollout
        elif self.scores.curve_keys():
            fourth = self.scores
        self.rollout.setVisible(fourth is self.rollout)
        self.scores.setVisible(fourth is self.scores)
        span = 1 if fourth is not None else 2
        if self._grid.getItemPosition(self._grid.indexOf(self.metrics))[3] != span:
            self._grid.removeWidget(self.metrics)
            self._grid.addWidget(self.metrics, 1, 0, 1, span)

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

    def _on_DataEvent(self, event: Any) -> None:  # noqa: N802 - named after the event class
        self.set_task(event.task)

    def _on_StageEvent(self, event: Any) -> None:  # noqa: N802
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
        x, metrics = self.x(event.step), event.metrics
        if "loss" in metrics:
            self.loss.append("valid", x, metrics["loss"])
        for name, value in metrics.items():
            if name.startswith("mse/"):
                self.metrics.append(name, x, value)
        for name, partners in baselines_of(metrics).items():
            plot = self._plot_for(name)
            key = "valid" if name == "loss" else name
            if key != "valid":
                self._add_metric_curve(plot, name, symbol="o")
                plot.append(name, x, metrics[name])
            for partner in partners:
                prefix = next(p for p in BASELINE_PREFIXES if partner.startswith(p))
                label = f"{_label(name) if key != 'valid' else 'validation'} · {prefix.rstrip('_')}"
                self._add_metric_curve(plot, partner, name, label, _BASELINE_SYMBOLS[prefix], dashed=True)
                plot.append(partner, x, metrics[partner])
        if event.rollout:
            horizons = sorted(event.rollout)
            values = [event.rollout[h] for h in horizons]
            self.rollout.add_curve("first", "first validation", color="#aaaaaa", symbol="o")
            self.rollout.add_curve("latest", "latest validation", symbol="o")
            if not self._has_first_rollout:
                self.rollout.set_points("first", horizons, values)
                self._has_first_rollout = True
            self.rollout.set_points("latest", horizons, values)

    def _plot_for(self, name: str) -> LossPlot:
        if name == "loss":
            return self.loss
        return self.scores if is_score(name) else self.metrics

    def _add_metric_curve(
        self,
        plot: LossPlot,
        key: str,
        colour_of: str | None = None,
        label: str | None = None,
        symbol: str | None = None,
        dashed: bool = False,
    ) -> None:
        """Curve ``key`` in the colour of metric ``colour_of`` (its own when None), made once."""
        if plot.has_curve(key):
            return
        owner = colour_of or key
        if owner == "loss":
            colour = _VALID_COLOUR
        else:
            colour = self._colours.setdefault(owner, PALETTE[(len(self._colours) + 1) % len(PALETTE)])
        plot.add_curve(key, label or _label(key), color=colour, symbol=symbol, dashed=dashed)
        if plot is self.scores and len(plot.curve_keys()) == 1:
            self._arrange()  # the first score: the scores plot takes the fourth cell

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
