"""The Play panel: an interactive smoke canvas stepped by an exported model or the reference solver, and
the pages of the other systems (trajectory, melt, and the generic field page for any other field model).
Every model, however it arrives, opens in the page that fits it (:mod:`fieldcast.app.play.routing`).

The simulation runs in a :class:`~fieldcast.app.play.stepper.Stepper` thread; finished frames arrive as
signal payloads and a display-rate timer draws the newest one. Painting edits the control masks directly
(under their lock) and is picked up at the next step, so neither painting nor drawing waits for inference.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.panel import Panel
from fieldcast.app.paths import app_paths
from fieldcast.app.play.channels import channel_data, default_range
from fieldcast.app.play.compare import CompareView
from fieldcast.app.play.field_view import FieldView
from fieldcast.app.play.generative_view import GenerativeView
from fieldcast.app.play.melt_view import MeltView
from fieldcast.app.play.model_opening import ModelOpener
from fieldcast.app.play.model_picker import SOLVER, ModelPicker, default_model_path
from fieldcast.app.play.recorder import Recorder, mp4_available, render_rgb, save_png
from fieldcast.app.play.routing import route_file
from fieldcast.app.play.sidebar import (
    DisplayBox,
    OutputBox,
    TransportBox,
    connect_transport,
    message_label,
    sidebar_scroll,
)
from fieldcast.app.play.simulation import Frame, ModelBackend, Simulation, SolverBackend
from fieldcast.app.play.stepper import Stepper
from fieldcast.app.play.stress_view import StressView
from fieldcast.app.play.tools import Painter, ToolBox
from fieldcast.app.play.trajectory_view import TrajectoryView
from fieldcast.widgets.field_canvas import FieldCanvas

__all__ = ["PlayPanel"]

log = logging.getLogger("fieldcast.app.play")

_DISPLAY_MS = 16


def _open_checked(path: str, provider: str, size: int) -> ModelBackend:
    """Open a smoke model and run one step of zeros: a graph whose outputs differ from what its metadata
    declares fails here, naming the file, instead of after the page says it is playing."""
    backend = ModelBackend(path, [provider] if provider else None)
    info = backend.info
    if not info.recurrent:
        nx, ny = info.grid if info.grid and backend.check_grid(size, size) else (size, size)
        backend.session.run(np.zeros((1, len(info.input_channels), nx, ny), np.float32))
    return backend


class PlayPanel(Panel):
    """Paint emitters, colliders and pushes into a running smoke simulation and watch it respond.

    Parameters
    ----------
    runs : the runs folder, whose exported models the model picker offers.
    autoplay : start playing as soon as the panel is shown.
    """

    name = "play"
    title = "Play"
    file_suffixes = (".onnx", ".gcode", ".gco", ".g")
    file_filter = "Fieldcast models and G-code (*.onnx *.gcode *.gco *.g)"

    #: what the system selector offers, in order: (label, page attribute)
    SYSTEMS = (
        ("Smoke", "smoke_page"),
        ("Printer trajectory (G-code)", "trajectory"),
        ("Laser melting", "melt"),
        ("Polycrystal stress", "stress"),
        ("Field model (any system)", "field"),
        ("Generated maps (thermal imaging, radio)", "generative"),
    )

    def __init__(
        self, runs: Path | None = None, autoplay: bool = True, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.autoplay = autoplay
        self.simulation = Simulation(128)
        self.stepper = Stepper(self.simulation)
        self.opener = ModelOpener(self)
        self.frame: Frame | None = None
        self.recorder: Recorder | None = None
        self._dirty = False
        self._sim_times: list[float] = []
        self._started = False
        self._resume_on_show = False  # the smoke page was playing when the panel was hidden
        self._model_name = SolverBackend.name
        self._provider = SolverBackend.provider

        self.canvas = FieldCanvas(f"{SolverBackend.name} — {SolverBackend.provider}")
        self.compare = CompareView()
        self.compare.hide()
        self.tools = ToolBox()
        self.transport = TransportBox()
        self.display = DisplayBox()
        self.picker = ModelPicker(runs if runs is not None else app_paths().runs)
        self.output = OutputBox()
        self.painter = Painter(self.tools, self.simulation)
        self.message = message_label("play_message")
        self.readouts = QLabel()
        self.readouts.setObjectName("play_readouts")
        self.readouts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.picker.set_active(SOLVER, self._provider)
        self.trajectory = TrajectoryView(runs if runs is not None else app_paths().runs)
        self.melt = MeltView(runs if runs is not None else app_paths().runs)
        self.field = FieldView(runs if runs is not None else app_paths().runs)
        self.stress = StressView()
        self.generative = GenerativeView(runs=runs if runs is not None else app_paths().runs)
        self.system_combo = QComboBox()
        self.system_combo.setObjectName("play_system")
        self.system_combo.addItems([label for label, _ in self.SYSTEMS])
        self._layout_widgets()
        self._connect()
        self.timer = QTimer(self)
        self.timer.setInterval(_DISPLAY_MS)
        self.timer.timeout.connect(self._on_timer_timeout)

    def _layout_widgets(self) -> None:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 4, 0)
        for box in (self.transport, self.tools, self.display, self.picker, self.output):
            column.addWidget(box)
        column.addStretch(1)
        scroll = sidebar_scroll(side)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.compare)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        view = QVBoxLayout()
        view.addWidget(self.message)
        view.addWidget(self.splitter, 1)
        view.addWidget(self.readouts)
        self.smoke_page = QWidget()
        row = QHBoxLayout(self.smoke_page)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(scroll)
        row.addLayout(view, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.smoke_page)
        self.pages.addWidget(self.trajectory)
        self.pages.addWidget(self.melt)
        self.pages.addWidget(self.field)
        self.pages.addWidget(self.stress)
        self.pages.addWidget(self.generative)
        top = QHBoxLayout()
        top.addWidget(QLabel("System"))
        top.addWidget(self.system_combo)
        top.addStretch(1)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(self.pages, 1)

    def _connect(self) -> None:
        self.system_combo.currentIndexChanged.connect(self._on_system_changed)
        self.trajectory.sig_status.connect(self.sig_status)
        self.trajectory.sig_file_opened.connect(self.sig_file_opened)
        self.melt.sig_status.connect(self.sig_status)
        self.melt.sig_file_opened.connect(self.sig_file_opened)
        self.field.sig_status.connect(self.sig_status)
        self.field.sig_file_opened.connect(self.sig_file_opened)
        self.stress.sig_status.connect(self.sig_status)
        self.stress.sig_file_opened.connect(self.sig_file_opened)
        self.generative.sig_status.connect(self.sig_status)
        self.generative.sig_file_opened.connect(self.sig_file_opened)
        self.field.sig_model_requested.connect(self._on_field_model_requested)
        self.stepper.sig_frame.connect(self._on_stepper_frame)
        self.stepper.sig_error.connect(self._on_stepper_error)
        self.canvas.sig_stroke_started.connect(self.painter.start)
        self.canvas.sig_stroke_moved.connect(self.painter.move)
        self.canvas.sig_stroke_finished.connect(self.painter.finish)
        self.tools.sig_brush_changed.connect(self._on_brush_changed)
        self._on_brush_changed(float(self.tools.brush.value()))
        connect_transport(
            self.transport,
            self.stepper,
            play=self.play,
            pause=self.pause,
            reset=lambda: self._command(self.simulation.reset),
        )
        t = self.transport
        t.clear_button.clicked.connect(lambda: self._command(self.simulation.clear))
        t.scene_combo.currentTextChanged.connect(self._on_scene_changed)
        t.grid_combo.currentIndexChanged.connect(self._on_grid_changed)
        self.display.sig_display_changed.connect(self._on_display_changed)
        self.picker.sig_model_requested.connect(self._on_model_requested)
        self.output.compare_check.toggled.connect(self._on_compare_toggled)
        self.output.bounds_check.toggled.connect(self._on_bounds_toggled)
        self.output.record_button.toggled.connect(self._on_record_toggled)
        self.output.screenshot_button.clicked.connect(self._on_screenshot_clicked)

    # Life cycle --------------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._started:
            self._started = True
            default = default_model_path()
            if default is not None and self.load_model(str(default)):
                self.picker.set_active(str(default), self._provider)
                self.picker.revert()  # show the model that is really playing in the picker
            self.stepper.start()
            self.timer.start()
            if self.autoplay:
                self.play()
        elif self._resume_on_show:
            self.transport.play_button.setChecked(True)
        self._resume_on_show = False

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Behind another tab the smoke simulation would only take a core from training; it goes on when
        # the panel is shown again.
        if not event.spontaneous():
            self._resume_on_show = self.transport.play_button.isChecked()
            self.transport.play_button.setChecked(False)
        super().hideEvent(event)

    def shutdown(self) -> None:
        self.trajectory.shutdown()
        self.melt.shutdown()
        self.field.shutdown()
        self.stress.shutdown()
        self.generative.shutdown()
        self.timer.stop()
        if self.recorder is not None:
            self.output.record_button.setChecked(False)
        self.stepper.stop()  # a step that stopped answering is abandoned, not waited for

    def self_check(self) -> list[str]:
        problems = []
        self.canvas.ensure_canvas()
        if self.canvas.problem is not None:
            from PySide6.QtGui import QGuiApplication

            # No OpenGL is expected on headless platforms (the smoke test); anywhere else it is a fault.
            if QGuiApplication.platformName() not in ("offscreen", "minimal"):
                problems.append(f"field canvas unavailable: {self.canvas.problem}")
            else:
                log.info("play canvas: %s (simulation still runs)", self.canvas.problem)
        return problems

    # Public ------------------------------------------------------------------------------------------------
    def play(self) -> None:
        self.stepper.rate = self.transport.speed
        self.stepper.play()

    def pause(self) -> None:
        self.stepper.pause()

    def show_system(self, label: str) -> None:
        """Bring the page of system ``label`` (one of :attr:`SYSTEMS`) to the front."""
        self.system_combo.setCurrentIndex([name for name, _ in self.SYSTEMS].index(label))

    def _on_system_changed(self, index: int) -> None:
        page = getattr(self, self.SYSTEMS[index][1])
        self.pages.setCurrentWidget(page)
        if page is not self.smoke_page:
            # The smoke simulation would only burn a core behind a page nobody sees.
            self.transport.play_button.setChecked(False)

    def open_path(self, path: Path) -> None:
        self.open_model(Path(path))

    def open_model(self, path: Path, provider: str = "") -> bool:
        """Open ``path`` in the page that fits it (see :func:`~fieldcast.app.play.routing.route_file`);
        a file no page shows is refused with a message on the page in front, naming the file and why."""
        route = route_file(path)
        if route.page is None:
            self._page_message(f"Play cannot show {path}: {route.problem}")
            return False
        # Pages are named by routing.PAGES; each is the attribute of that name, the smoke page excepted.
        attribute = "smoke_page" if route.page == "smoke" else route.page
        self.system_combo.setCurrentIndex([a for _, a in self.SYSTEMS].index(attribute))
        self.sig_show_me.emit()
        if route.gcode:
            self.trajectory.open_gcode(path)
            return True
        if route.page == "trajectory":
            opened = self.trajectory.open_model(str(path))
            if opened:
                self.sig_file_opened.emit(str(path))
            return opened
        if route.page == "melt":
            return self.melt.open_model(path)  # it reports the file as opened itself
        if route.page == "field":
            return self.field.load_model(path, provider)  # so does the field page
        if route.page == "stress":
            return self.stress.open_model(path)  # so does the stress page
        if route.page == "generative":
            return self.generative.open_model(path)  # so does the generative page
        opened = self.load_model(str(path), provider)
        if opened:
            self.picker.add_file(path)
            self.picker.set_active(str(path), self._provider)
            self.sig_file_opened.emit(str(path))
        return opened

    def _page_message(self, text: str) -> None:
        page = self.pages.currentWidget()
        (self if page is self.smoke_page else page).show_message(text)

    def load_model(self, path: str, provider: str = "") -> bool:
        """Play ``path`` (SOLVER for the reference solver); on failure say why and keep what was playing."""
        if path == SOLVER:
            self._model_name, self._provider = SolverBackend.name, SolverBackend.provider
            self._command(lambda: self.simulation.set_backend(lambda nx, ny: SolverBackend(nx, ny)))
            self._after_model_change()
            return True
        try:
            # In a worker with a time limit: a hostile graph can keep ONNX Runtime busy for minutes.
            backend = self.opener.run(path, lambda: _open_checked(path, provider, self.simulation.size))
        except Exception as exc:  # ModelError, or onnxruntime failing on a file it accepted
            self.show_message(f"Cannot play this model. {exc}")
            return False
        problem = backend.check_grid(self.simulation.size, self.simulation.size)
        if problem and backend.info.grid:
            self.transport.grid_combo.setCurrentIndex(
                self.transport.grid_combo.findData(backend.info.grid[0])
            )
        sessions = {self.simulation.size: backend}

        def factory(nx: int, ny: int) -> ModelBackend:
            # One session per model; a new grid only needs a new rollout, which ModelBackend makes.
            return sessions.pop(nx, None) or ModelBackend(path, [provider] if provider else None)

        self._model_name, self._provider = backend.name, backend.provider
        self._command(lambda: self.simulation.set_backend(factory))
        self._after_model_change()
        return True

    def _after_model_change(self) -> None:
        self.canvas.set_title(f"{self._model_name} — {self._provider}")
        self.picker.set_active(self.picker.model_path, self._provider)
        self.hide_message()

    def show_message(self, text: str) -> None:
        """An inline message above the canvas, also sent to the status bar."""
        self.message.setText(text)
        self.message.show()
        self.sig_status.emit(text)

    def hide_message(self) -> None:
        self.message.hide()

    def _command(self, command) -> None:
        self.stepper.call(command)
        if not self.stepper.is_alive():
            # Not started yet (panel never shown): run it here, nothing else touches the simulation.
            frame = command()
            if isinstance(frame, Frame):
                self._on_stepper_frame(frame, ack=False)

    # Frames and drawing -------------------------------------------------------------------------------------
    def _on_stepper_frame(self, frame: Frame, ack: bool = True) -> None:
        if ack:
            self.stepper.frame_received()
        if self.frame is not None and frame.index > self.frame.index:
            self._sim_times.append(time.perf_counter())
            self._sim_times = self._sim_times[-60:]
        self.frame = frame
        self.compare.add_error(frame)
        self._dirty = True

    def _on_timer_timeout(self) -> None:
        if self._dirty and self.frame is not None:
            self._dirty = False
            self._draw(self.frame)
        controls = self.simulation.controls
        if controls.version != getattr(self, "_mask_version", None):
            self._mask_version = controls.version
            self.canvas.set_masks(*controls.masks())

    def _draw(self, frame: Frame) -> None:
        channel = self.display.channel
        data = channel_data(channel, frame.density, frame.velocity)
        clim = self.display.fixed_range or default_range(channel, data)
        if self.display.fixed_range is None:
            self.display.show_range(*clim)
        self.canvas.set_colormap(self.display.cmap, clim)
        self.canvas.set_field(data)
        if self.compare.isVisible():
            self.compare.show_frame(frame, channel, self.display.cmap, clim)
        if self.recorder is not None:
            self.recorder.add(render_rgb(data, self.display.cmap, clim, frame.emitter, frame.collider))
            if self.recorder.full:
                self.output.record_button.setChecked(False)
        self._update_readouts(frame)

    def _update_readouts(self, frame: Frame) -> None:
        times = self._sim_times
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else 0.0
        s = frame.stats
        n = frame.density.shape[0]
        parts = [
            f"<b>{fps:5.1f}</b> fps",
            f"model <b>{frame.ms_model:.1f}</b> ms/step",
            self._provider,
            f"grid {n}×{frame.density.shape[1]}",
            f"frame {frame.index}",
            f"total smoke {s.get('total_smoke', 0):.0f}",
            f"max density {s.get('max_density', 0):.2f}",
            f"divergence {s.get('divergence_norm', 0):.3g}",
        ]
        if frame.error is not None:
            parts.append(f"error vs solver <b>{frame.error:.3g}</b>")
        if "bounded_cells" in s:
            if self.simulation.bounds:
                parts.append(
                    f"bounds changed <b>{100 * s['bounded_cells']:.2f} %</b> of cells, "
                    f"removed {s.get('smoke_removed', 0):.1f} smoke"
                )
            else:
                parts.append("bounds off")
        self.readouts.setText(" · ".join(parts))

    # Handlers ----------------------------------------------------------------------------------------------
    def _on_scene_changed(self, name: str) -> None:
        self._command(lambda: self.simulation.set_scene(name))

    def _on_grid_changed(self) -> None:
        size = int(self.transport.grid_combo.currentData())
        self._command(lambda: self.simulation.set_size(size))

    def _on_brush_changed(self, radius: float) -> None:
        self.canvas.brush_radius = radius

    def _on_display_changed(self) -> None:
        self._dirty = True

    def _on_stepper_error(self, message: str) -> None:
        self.show_message(f"Simulation stopped: {message}")

    def _on_model_requested(self, path: str, provider: str) -> None:
        if path != SOLVER and route_file(path).page != "smoke":
            self.picker.revert()  # the smoke page keeps playing what it played
            self.open_model(Path(path), provider)
        elif not self.load_model(path, provider):
            self.picker.revert()

    def _on_field_model_requested(self, path: str, provider: str) -> None:
        if not self.open_model(Path(path), provider) or self.pages.currentWidget() is not self.field:
            self.field.picker.revert()

    def _on_compare_toggled(self, on: bool) -> None:
        self.compare.clear()
        self.compare.setVisible(on)
        self._command(lambda: self.simulation.set_compare(on))

    def _on_bounds_toggled(self, on: bool) -> None:
        self._command(lambda: self.simulation.set_bounds(on))

    def _on_record_toggled(self, on: bool) -> None:
        if on:
            self._start_recording()
        elif self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            self.output.record_button.setText("Record…")
            try:
                path = recorder.stop()
            except (OSError, ValueError) as exc:
                self.show_message(f"Recording not saved: {exc}")
                return
            self.sig_status.emit(f"Recorded {len(recorder.frames)} frames to {path}")

    def _start_recording(self, path: str | None = None) -> None:
        if path is None:
            filters = "GIF animation (*.gif)" + (";;MP4 video (*.mp4)" if mp4_available() else "")
            path, _ = QFileDialog.getSaveFileName(self, "Record to", str(Path.home() / "smoke.gif"), filters)
        if not path:
            self.output.record_button.setChecked(False)
            return
        try:
            self.recorder = Recorder(path, fps=min(self.stepper.rate or 60.0, 50.0))
        except ValueError as exc:
            self.show_message(str(exc))
            self.output.record_button.setChecked(False)
            return
        self.output.record_button.setText("Stop recording")

    def start_recording(self, path: str) -> None:
        """Record to ``path`` (.gif or .mp4) without asking; stop with the record button."""
        self._start_recording(path)
        self.output.record_button.blockSignals(True)
        self.output.record_button.setChecked(self.recorder is not None)
        self.output.record_button.blockSignals(False)

    def _on_screenshot_clicked(self, checked: bool = False, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save screenshot", str(Path.home() / "smoke.png"), "PNG image (*.png)"
            )
        if not path or self.frame is None:
            return
        self.save_screenshot(path)

    def save_screenshot(self, path: str) -> Path:
        """Write the current frame as shown (channel, colours, overlays) to a PNG file."""
        frame = self.frame
        channel = self.display.channel
        data = channel_data(channel, frame.density, frame.velocity)
        clim = self.display.fixed_range or default_range(channel, data)
        out = save_png(path, render_rgb(data, self.display.cmap, clim, frame.emitter, frame.collider))
        self.sig_status.emit(f"Screenshot saved to {out}")
        return out
