"""The Play panel's generic field page: step any exported field model, show any state channel, paint its
control channels.

For models of systems without a page of their own (a dataset from elsewhere: ``generic:...`` systems whose
spec travels in the model). The rollout starts from a dataset frame (the model's training file when it is
here, or a file the user opens or drops) or from zeros, and is stepped by
:class:`~fieldcast.engine.field_session.FieldPlay` in a :class:`~fieldcast.app.play.stepper.Stepper` thread;
painting edits the control planes under their lock and is picked up at the next step, so neither painting nor
drawing waits for inference. What is shown is the model's output as it is (only its layout's own rule, solid
and nonnegative channels, is applied).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from fieldcast.app.paths import app_paths
from fieldcast.app.play.field_controls import ControlPainter, PaintBox, StartBox
from fieldcast.app.play.field_display import auto_range, controls_overlay, field_picture
from fieldcast.app.play.model_opening import ModelOpener
from fieldcast.app.play.model_picker import SOLVER, ModelPicker
from fieldcast.app.play.recorder import save_png
from fieldcast.app.play.sidebar import (
    DisplayBox,
    TransportBox,
    connect_transport,
    message_label,
    sidebar_scroll,
)
from fieldcast.app.play.stepper import Stepper
from fieldcast.engine.field_session import (
    FieldFrame,
    FieldPlay,
    StartState,
    channel_colormaps,
    dataset_start,
    field_play_problem,
    first_start,
    zero_start,
)
from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.runtime import ModelError, ModelSession
from fieldcast.widgets.field_canvas import FieldCanvas

__all__ = ["DATASET_SUFFIXES", "FieldView"]

DATASET_SUFFIXES = (".h5", ".hdf5", ".hdf")
_DISPLAY_MS = 16


class _Holder:
    """What the stepper steps: the page's current :class:`FieldPlay`, swapped between steps."""

    def __init__(self) -> None:
        self.play: FieldPlay | None = None

    @property
    def frame(self) -> FieldFrame | None:
        return None if self.play is None else self.play.frame

    def use(self, play: FieldPlay) -> FieldFrame:
        self.play = play
        return play.frame

    def advance(self) -> FieldFrame:
        if self.play is None:
            raise RuntimeError("no model: open a field model first")
        return self.play.advance()


def _open(path: Path, provider: str) -> tuple[ModelSession, StartState, Path | None, str | None, FieldPlay]:
    """Everything opening a field model takes (session, checks, first state), run off the GUI thread.

    Raises :class:`ModelError` naming ``path`` for a model this page cannot play.
    """
    session = ModelSession(path, [provider] if provider else None)
    problem = field_play_problem(session.info)
    if problem:
        raise ModelError(path, problem)
    start, data, note = first_start(session.info, path)
    try:
        play = FieldPlay(session, start)
    except (KeyError, ValueError) as exc:
        raise ModelError(path, str(exc)) from None
    return session, start, data, note, play


class FieldView(QWidget):
    """Any field model, stepped from a start under painted controls, with any channel on the canvas.

    Parameters
    ----------
    runs : the runs folder, whose exported models the model picker offers.
    parent : the Qt parent.
    """

    sig_status = Signal(str)
    """A short message for the status bar."""
    sig_file_opened = Signal(str)
    """A model file opened successfully (path), for the recent files."""
    sig_model_requested = Signal(str, str)
    """The user chose a model (path, provider); the panel opens it in the page that fits it."""

    def __init__(self, runs: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs = runs if runs is not None else app_paths().runs
        self.holder = _Holder()
        self.stepper = Stepper(self.holder)
        self.opener = ModelOpener(self)
        # The model the GUI works with: the holder takes it over at the stepper's next command, and every
        # later command (reset, a new start) is queued behind that one.
        self._play: FieldPlay | None = None
        self.session: ModelSession | None = None
        self.model_path: Path | None = None
        self.frame: FieldFrame | None = None
        self._dirty = False
        self._started = False
        self._times: list[float] = []
        self._overlay_version: tuple | None = None

        self.transport = TransportBox(scene_controls=False, reset_tip="Back to the starting state")
        self.start_box = StartBox()
        self.paint_box = PaintBox()
        self.paint_box.hide()
        self.painter = ControlPainter(self.paint_box, lambda: self._play)
        self.display = DisplayBox({"": ("—", "viridis")})
        self.picker = ModelPicker(self.runs, builtin=False)
        self.picker.device_label.setText("—")
        self.open_button = QPushButton("Open model…")
        self.screenshot_button = QPushButton("Screenshot…")
        self.screenshot_button.setToolTip("Save the field as shown (channel, colours, controls) as a PNG")
        self.canvas = FieldCanvas("No model")
        self.message = message_label("field_message")
        self.hint = QLabel(
            "Open a field model (File > Open model…, a drop, or Open model… here). Any model of a system "
            "without a page of its own plays here: choose the channel to show and paint its controls."
        )
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color:#777;")
        self.readouts = QLabel()
        self.readouts.setObjectName("field_readouts")
        self.readouts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAcceptDrops(True)
        self._layout_widgets()
        self._connect()
        self._enable(False)
        self.timer = QTimer(self)
        self.timer.setInterval(_DISPLAY_MS)
        self.timer.timeout.connect(self._on_timer_timeout)

    # -- assembly -----------------------------------------------------------------------------------------
    def _layout_widgets(self) -> None:
        self.picker.layout().addRow(self.open_button)
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 4, 0)
        for box in (self.transport, self.start_box, self.paint_box, self.display, self.picker):
            column.addWidget(box)
        column.addWidget(self.screenshot_button)
        column.addStretch(1)
        view = QVBoxLayout()
        view.addWidget(self.message)
        view.addWidget(self.hint)
        view.addWidget(self.canvas, 1)
        view.addWidget(self.readouts)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(sidebar_scroll(side))
        row.addLayout(view, 1)

    def _connect(self) -> None:
        self.stepper.sig_frame.connect(self._on_stepper_frame)
        self.stepper.sig_error.connect(self._on_stepper_error)
        connect_transport(self.transport, self.stepper, play=self.play, pause=self.pause, reset=self.reset)
        self.start_box.sig_start_changed.connect(self._on_start_changed)
        self.start_box.sig_open_clicked.connect(self._on_open_dataset_clicked)
        self.paint_box.brush_spin.valueChanged.connect(self._on_brush_changed)
        self.paint_box.show_check.toggled.connect(self._on_display_changed)
        self.display.sig_display_changed.connect(self._on_display_changed)
        self.picker.sig_model_requested.connect(self._on_picker_requested)
        self.open_button.clicked.connect(self._on_open_model_clicked)
        self.screenshot_button.clicked.connect(self._on_screenshot_clicked)
        self.canvas.sig_stroke_started.connect(self.painter.start)
        self.canvas.sig_stroke_moved.connect(self.painter.move)
        self.canvas.sig_stroke_finished.connect(self.painter.finish)
        self._on_brush_changed(self.paint_box.brush_spin.value())

    def _enable(self, on: bool) -> None:
        for widget in (self.transport, self.start_box, self.paint_box, self.display, self.screenshot_button):
            widget.setEnabled(on)

    # -- life cycle ---------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.stepper.rate = self.transport.speed
            self.stepper.start()
        self.picker.refresh()
        self.timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A model stepping behind a page nobody sees would only burn a core.
        self.pause()
        self.timer.stop()
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Stop the stepper (the application is closing)."""
        self.timer.stop()
        self.stepper.stop()

    # -- public -------------------------------------------------------------------------------------------
    @property
    def play_state(self) -> FieldPlay | None:
        """The model stepped now, or None before one is opened."""
        return self._play

    def play(self) -> None:
        if self._play is not None:
            self.stepper.rate = self.transport.speed
            self.stepper.play()

    def pause(self) -> None:
        if self.stepper.running:
            self.stepper.pause()

    def reset(self) -> None:
        play = self._play
        if play is not None:
            self._command(play.reset)

    def load_model(self, path: str | os.PathLike, provider: str = "") -> bool:
        """Step the field model at ``path``; False, with a message naming the file, when it cannot."""
        path = Path(path)
        try:
            # In a worker with a time limit: a hostile graph can keep ONNX Runtime busy for minutes.
            session, start, data, note, play = self.opener.run(path, lambda: _open(path, provider))
        except ModelError as exc:
            self.show_message(f"Cannot play this model. {exc}")
            return False
        self.pause()
        self.session, self.model_path = session, path
        self._play = play
        self._command(lambda: self.holder.use(play))
        self._show_model(session.info, data)
        self.picker.add_file(path)
        providers = ", ".join(p.removesuffix("ExecutionProvider") for p in session.providers)
        self.picker.set_active(str(path), providers)
        if note:
            self.show_message(note)
        else:
            self.hide_message()
        self.sig_file_opened.emit(str(path))
        self.sig_status.emit(f"Field model {path.name}: {start.source}")
        return True

    def open_dataset(self, path: str | os.PathLike) -> bool:
        """Start from the first frame of dataset ``path``; False, with a message, when it does not fit."""
        from fieldcast.engine.data import open_dataset

        if self.session is None:
            self.show_message("Open a field model first, then a dataset to start it from.")
            return False
        path = Path(path)
        try:
            start = dataset_start(path, self.session.info)
            with open_dataset(path) as ds:
                extent = (ds.n_trajectories, ds.n_frames)
        except (OSError, ValueError) as exc:
            self.show_message(f"Cannot start from this dataset. {exc}")
            return False
        self.start_box.set_dataset(path, *extent)
        self._use_start(start)
        self.hide_message()
        return True

    def show_message(self, text: str) -> None:
        """An inline message above the canvas, also sent to the status bar."""
        self.message.setText(text)
        self.message.show()
        self.sig_status.emit(text)

    def hide_message(self) -> None:
        self.message.hide()

    def save_screenshot(self, path: str | os.PathLike) -> Path:
        """Write the field as shown (channel, colours, range, controls) to a PNG file."""
        out = save_png(path, field_picture(*self._shown(self.frame), self._overlay()))
        self.sig_status.emit(f"Screenshot saved to {out}")
        return out

    # -- internals ----------------------------------------------------------------------------------------
    def _show_model(self, info: ModelInfo, data: Path | None) -> None:
        units = dict(zip(info.input_channels, info.input_units, strict=False))
        cmaps = channel_colormaps(info)
        channels = {n: (n, cmaps.get(n, "viridis")) for n in info.layout["state"]}
        channels.update({n: (f"{n} (control)", "magma") for n in info.layout["controls"]})
        self.display.set_channels(channels)
        self.paint_box.set_controls(list(info.layout["controls"]), units)
        extent = (0, 0)
        if data is not None:
            from fieldcast.engine.data import open_dataset

            with open_dataset(data) as ds:
                extent = (ds.n_trajectories, ds.n_frames)
        self.start_box.set_dataset(data, *extent)
        self.canvas.set_title(f"{self.model_path.name} — {info.system}")
        self.hint.hide()
        self._times.clear()
        self._overlay_version = None
        self._enable(True)

    def _on_start_changed(self) -> None:
        if self.session is None:
            return
        box = self.start_box
        try:
            if box.use_dataset and box.path is not None:
                start = dataset_start(box.path, self.session.info, box.trajectory, box.frame)
            else:
                grid = self._play.start.grid if self._play is not None else None
                start = zero_start(self.session.info, grid)
        except (OSError, ValueError) as exc:
            self.show_message(f"Cannot start there. {exc}")
            return
        self._use_start(start)

    def _use_start(self, start: StartState) -> None:
        play = self._play
        if play is not None:
            self._overlay_version = None
            self._command(lambda: play.set_start(start))
            self.sig_status.emit(f"Starting from {start.source}")

    def _command(self, command) -> None:
        self.stepper.call(command)
        if not self.stepper.is_alive():
            frame = command()  # not started yet: nothing else touches the model
            if isinstance(frame, FieldFrame):
                self._on_stepper_frame(frame, ack=False)

    def _shown(self, frame: FieldFrame) -> tuple[np.ndarray, str, tuple[float, float]]:
        """The data on the canvas, its colour map and its value range."""
        channel = self.display.channel
        data = frame.state.get(channel)
        if data is None:
            data = frame.controls.get(channel, next(iter(frame.state.values())))
        cmap = self.display.cmap
        return data, cmap, self.display.fixed_range or auto_range(data, cmap)

    def _overlay(self) -> np.ndarray | None:
        play = self._play
        if play is None or not self.paint_box.show_check.isChecked():
            return None
        return controls_overlay(play.controls.take(), play.info.layout.get("solid"))

    # -- frames -------------------------------------------------------------------------------------------
    def _on_stepper_frame(self, frame: FieldFrame, ack: bool = True) -> None:
        if ack:
            self.stepper.frame_received()
        if self.frame is not None and frame.index > self.frame.index:
            self._times = [*self._times[-59:], time.perf_counter()]
        self.frame = frame
        self._dirty = True

    def _on_timer_timeout(self) -> None:
        if self._dirty and self.frame is not None:
            self._dirty = False
            self._draw(self.frame)
        play = self._play
        if play is not None:
            version = (id(play.controls), play.controls.version, self.paint_box.show_check.isChecked())
            if version != self._overlay_version:
                self._overlay_version = version
                overlay = self._overlay()
                self.canvas.set_overlay(
                    overlay if overlay is not None else np.zeros((*play.start.grid, 4), np.float32)
                )

    def _draw(self, frame: FieldFrame) -> None:
        data, cmap, clim = self._shown(frame)
        if self.display.fixed_range is None:
            self.display.show_range(*clim)
        self.canvas.set_colormap(cmap, clim)
        self.canvas.set_field(data)
        self._update_readouts(frame, data)

    def _update_readouts(self, frame: FieldFrame, data: np.ndarray) -> None:
        t = self._times
        fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0
        finite = data[np.isfinite(data)]
        nx, ny = data.shape[:2]
        parts = [
            f"step <b>{frame.index}</b>",
            f"model <b>{frame.ms_model:.2f}</b> ms/step",
            f"step {frame.ms_total:.2f} ms",
            f"{fps:4.1f} steps/s",
            self.picker.device_label.text(),
            f"grid {nx}×{ny}",
        ]
        if finite.size:
            parts.append(
                f"{self.display.channel} min {finite.min():.3g} · max {finite.max():.3g} · "
                f"mean {finite.mean():.3g}"
            )
        if not frame.finite:
            parts.append("<b>NaN or infinity in the state</b>")
        play = self._play
        if play is not None:
            parts.append(f"from {play.start.source}")
        self.readouts.setText(" · ".join(parts))

    # -- handlers -----------------------------------------------------------------------------------------
    def _on_brush_changed(self, radius: int) -> None:
        self.canvas.brush_radius = float(radius)

    def _on_display_changed(self) -> None:
        self._dirty = True

    def _on_stepper_error(self, message: str) -> None:
        self.show_message(f"Simulation stopped: {message}")

    def _on_picker_requested(self, path: str, provider: str) -> None:
        if path != SOLVER:
            self.sig_model_requested.emit(path, provider)

    def _on_open_model_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a field model", str(self.runs), "Models (*.onnx)")
        if path:
            self.sig_model_requested.emit(path, self.picker.provider)

    def _on_open_dataset_clicked(self) -> None:
        start = str(self.start_box.path.parent) if self.start_box.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Start from a dataset", start, "Datasets (*.h5 *.hdf5 *.hdf)"
        )
        if path:
            self.open_dataset(path)

    def _on_screenshot_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save screenshot", str(Path.home() / "field.png"), "PNG image (*.png)"
        )
        if path and self.frame is not None:
            self.save_screenshot(path)

    # -- drops of datasets --------------------------------------------------------------------------------
    @staticmethod
    def _dataset_urls(event) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        return [p for p in paths if p.suffix.lower() in DATASET_SUFFIXES]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Datasets dropped here are starting states; anything else goes on to the window.
        if self.session is not None and self._dataset_urls(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = self._dataset_urls(event)
        if self.session is not None and paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, self, lambda: self.open_dataset(paths[0]))  # after the drop returns
        else:
            event.ignore()
