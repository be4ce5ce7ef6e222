"""The Play panel's melt page: draw a laser path over a plate section, watch the pool and the grains.

The plate is a 96 × 48-cell cross-section (5 µm cells; x along the scan, y up to the surface). The mouse on
either view steers the beam along the surface: *Draw path* records a path that the beam then runs at the set
speed, *Drag beam* keeps the beam on under the mouse while the button is down. Temperature and grains come
from the reference solver or from melt models (a temperature surrogate, the CNN-ConvLSTM microstructure
surrogate), stepped in a :class:`~fieldcast.app.play.stepper.Stepper` thread by
:class:`~fieldcast.engine.melt_session.MeltPlay`; the comparison runs the solver alongside and plots the
error. Nothing here imports torch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.paths import app_paths
from fieldcast.app.play.melt_controls import LaserBox, MeltDisplayBox, MeltSourceBox
from fieldcast.app.play.model_opening import ModelOpener
from fieldcast.app.play.recorder import save_png
from fieldcast.app.play.sidebar import TransportBox, connect_transport, message_label, sidebar_scroll
from fieldcast.app.play.stepper import Stepper
from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.melt_session import MeltFrame, MeltPlay, melt_model_kind, open_melt_model
from fieldcast.engine.runtime import ModelError
from fieldcast.engine.systems.melt import Material
from fieldcast.resources import resource_path
from fieldcast.widgets.field_canvas import FieldCanvas
from fieldcast.widgets.field_colors import lut

__all__ = ["MODEL_FILTER", "MeltView", "beam_overlay", "find_melt_models", "shipped_melt_models"]

MODEL_FILTER = "Melt models (*.onnx)"
GRID = (96, 48)
_DISPLAY_MS = 16
_AXES = {"x": slice(0, 3), "y": slice(3, 6), "z": slice(6, 9)}
_PATH_RGBA = (0.25, 0.85, 1.0, 0.75)
_BEAM_ON_RGBA = (1.0, 1.0, 0.55, 0.95)
_BEAM_OFF_RGBA = (0.7, 0.7, 0.7, 0.6)
_POOL_RGBA = (1.0, 1.0, 1.0, 0.85)


def shipped_melt_models() -> list[tuple[str, Path]]:
    """The melt models that come with Fieldcast, as ``(kind, path)``."""
    found = []
    for name in ("melt_temperature.onnx", "melt_microstructure.onnx"):
        path = resource_path("models", name)
        kind = melt_model_kind(path) if path.is_file() else None
        if kind:
            found.append((kind, path))
    return found


def find_melt_models(token: CancelToken, root: Path) -> Iterator[list[tuple[str, Path]]]:
    """Yield once: ``(kind, path)`` of the melt models anywhere under ``root``, newest first."""
    found = []
    if root.is_dir():
        for candidate in sorted(root.rglob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True):
            token.raise_if_cancelled()
            if ".fp16" in candidate.name or ".int8" in candidate.name:
                continue
            kind = melt_model_kind(candidate)
            if kind:
                found.append((kind, candidate))
    yield found


def beam_overlay(
    shape: tuple[int, int], path: list[float], beam_x: float, on: bool, pool: np.ndarray | None = None
) -> np.ndarray:
    """(nx, ny, 4) RGBA: the path ahead along the surface, the beam, and the melt pool's outline."""
    nx, ny = shape
    rgba = np.zeros((nx, ny, 4), np.float32)
    if pool is not None and pool.any():
        inner = pool.copy()
        inner[1:-1, 1:-1] &= pool[:-2, 1:-1] & pool[2:, 1:-1] & pool[1:-1, :-2] & pool[1:-1, 2:]
        rgba[pool & ~inner] = _POOL_RGBA
    for a, b in zip(path[:-1], path[1:], strict=False):
        lo, hi = sorted((a, b))
        i0, i1 = int(np.clip(np.floor(lo), 0, nx - 1)), int(np.clip(np.floor(hi), 0, nx - 1))
        rgba[i0 : i1 + 1, ny - 2 :] = _PATH_RGBA
    i = int(np.clip(np.floor(beam_x), 0, nx - 1))
    rgba[max(0, i - 1) : i + 2, max(0, ny - 4) :] = _BEAM_ON_RGBA if on else _BEAM_OFF_RGBA
    return rgba


class MeltView(QWidget):
    """Temperature and grain views with the laser, model and display controls.

    Parameters
    ----------
    runs : folder searched (recursively) for exported melt models to offer; default the app's runs folder.
    parent : the Qt parent.
    """

    sig_status = Signal(str)
    """A short message for the status bar."""
    sig_file_opened = Signal(str)
    """A model file opened successfully (path), for the recent files."""

    def __init__(self, runs: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs = runs if runs is not None else app_paths().runs
        self.play_state = MeltPlay(*GRID)
        self.stepper = Stepper(self.play_state)
        self.opener = ModelOpener(self)
        self.frame: MeltFrame | None = self.play_state.frame
        self._dirty = True
        self._started = False
        self._drawing = False
        self._times: list[float] = []
        self._errors: dict[str, list[float]] = {"frames": [], "temperature": [], "ipf": []}
        self._workers: list[JobWorker] = []
        self.sources = {"temperature": "", "microstructure": ""}

        self.transport = TransportBox(
            scene_controls=False, reset_tip="A cold plate with fresh grains; the laser path is cleared"
        )
        self.laser = LaserBox()
        self.source_box = MeltSourceBox()
        self.display = MeltDisplayBox()
        self.temperature_canvas = FieldCanvas("Temperature — solver")
        self.grain_canvas = FieldCanvas("Grains (IPF) — solver")
        self.ref_temperature_canvas = FieldCanvas("Reference solver: temperature")
        self.ref_grain_canvas = FieldCanvas("Reference solver: grains")
        self.error_plot = self._make_error_plot()
        self.message = message_label("melt_message")
        self.readouts = QLabel()
        self.readouts.setObjectName("melt_readouts")
        self.readouts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel(
            "Drag along the plate to draw the laser's path (or choose Drag beam and hold the button). "
            "The section is 480 × 240 µm; x runs along the scan, the surface is at the top."
        )
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color:#777;")
        self.screenshot_button = QPushButton("Screenshot…")
        self.screenshot_button.setToolTip("Save the temperature and grain views side by side as a PNG")
        self._layout_widgets()
        self._connect()
        self.timer = QTimer(self)
        self.timer.setInterval(_DISPLAY_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        for kind, path in shipped_melt_models():
            self.source_box.add_model(kind, path)
        self._show_compare(False)

    # -- assembly -----------------------------------------------------------------------------------------
    def _make_error_plot(self) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w")
        item = plot.getPlotItem()
        item.setLabel("bottom", "frame")
        item.setLabel("left", "error vs solver")
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        item.addLegend(offset=(8, 4), labelTextColor="#333", brush=pg.mkBrush(255, 255, 255, 210))
        self.t_curve = plot.plot([], [], pen=pg.mkPen("#d9480f", width=1.5), name="temperature RMSE / 100 K")
        self.ipf_curve = plot.plot([], [], pen=pg.mkPen("#1c7ed6", width=1.5), name="IPF MSE × 100")
        plot.setMinimumHeight(110)
        plot.setMaximumHeight(170)
        return plot

    def _layout_widgets(self) -> None:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 4, 0)
        for box in (self.transport, self.laser, self.source_box, self.display):
            column.addWidget(box)
        column.addWidget(self.screenshot_button)
        column.addStretch(1)
        scroll = sidebar_scroll(side)
        views = QGridLayout()
        views.addWidget(self.temperature_canvas, 0, 0)
        views.addWidget(self.grain_canvas, 0, 1)
        views.addWidget(self.ref_temperature_canvas, 1, 0)
        views.addWidget(self.ref_grain_canvas, 1, 1)
        views.addWidget(self.error_plot, 2, 0, 1, 2)
        view = QVBoxLayout()
        view.addWidget(self.message)
        view.addWidget(self.hint)
        view.addLayout(views, 1)
        view.addWidget(self.readouts)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(scroll)
        row.addLayout(view, 1)

    def _connect(self) -> None:
        self.stepper.sig_frame.connect(self._on_stepper_frame)
        self.stepper.sig_error.connect(self._on_stepper_error)
        connect_transport(self.transport, self.stepper, play=self.play, pause=self.pause, reset=self.reset)
        beam = self.play_state.beam
        self.laser.sig_power_changed.connect(beam.set_power)
        self.laser.sig_speed_changed.connect(beam.set_speed)
        self.laser.sig_repeat_changed.connect(beam.set_repeat)
        self.laser.clear_button.clicked.connect(lambda: self._beam_changed(beam.clear))
        for canvas in (self.temperature_canvas, self.grain_canvas):
            canvas.brush_radius = 1.0
            canvas.sig_stroke_started.connect(self._on_stroke_started)
            canvas.sig_stroke_moved.connect(self._on_stroke_moved)
            canvas.sig_stroke_finished.connect(self._on_stroke_finished)
        self.source_box.sig_temperature_chosen.connect(lambda p: self.use_model("temperature", p))
        self.source_box.sig_microstructure_chosen.connect(lambda p: self.use_model("microstructure", p))
        self.source_box.open_button.clicked.connect(self._on_open_clicked)
        self.source_box.compare_check.toggled.connect(self._on_compare_toggled)
        self.display.sig_display_changed.connect(self._on_display_changed)
        self.screenshot_button.clicked.connect(self._on_screenshot_clicked)

    # -- life cycle ---------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._started:
            self._started = True
            # The shipped surrogates run the scene, as the smoke page plays its shipped model; the solver
            # is one choice away, and alongside with Compare.
            for kind, path in shipped_melt_models():
                if not self.sources[kind]:
                    self.use_model(kind, str(path))
            self.stepper.rate = self.transport.speed
            self.stepper.start()
            self.refresh_models()
        self.timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A simulation behind a page nobody sees would only burn a core.
        self.pause()
        self.timer.stop()
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Stop the stepper and background scans (the application is closing)."""
        self.timer.stop()
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            worker.wait(10_000)
        self.stepper.stop()

    # -- public -------------------------------------------------------------------------------------------
    def play(self) -> None:
        self.stepper.rate = self.transport.speed
        self.stepper.play()

    def pause(self) -> None:
        if self.stepper.running:
            self.stepper.pause()

    def reset(self) -> None:
        self._command(self.play_state.reset)

    def open_model(self, path: str | os.PathLike) -> bool:
        """Use the melt model at ``path`` for whatever it predicts; False, with a message, when unusable."""
        opened = self._open(path)
        if opened is None:
            return False
        kind, session = opened
        self.source_box.add_model(kind, Path(path))
        self._use_session(kind, str(path), session)
        self.sig_file_opened.emit(str(path))
        return True

    def use_model(self, kind: str, path: str) -> bool:
        """Drive ``kind`` ("temperature" or "microstructure") by the model at ``path`` ("": the solver)."""
        if not path:
            self._use_session(kind, "", None)
            return True
        opened = self._open(path)
        if opened is not None and opened[0] != kind:
            self.show_message(f"{Path(path).name} is a {opened[0]} model, not a {kind} model.")
            opened = None
        if opened is None:
            self.source_box.select(kind, self.sources[kind])
            return False
        self._use_session(kind, path, opened[1])
        return True

    def _open(self, path: str | os.PathLike):
        """``(kind, session)`` of a melt model this page can run on its grid, or None after saying why."""
        try:
            kind, session = self.opener.run(path, lambda: open_melt_model(path))  # off the GUI thread
        except ModelError as exc:
            self.show_message(str(exc))
            return None
        problem = session.info.check_grid(*GRID)
        if problem:
            self.show_message(f"{Path(path).name} cannot run on the {GRID[0]} × {GRID[1]} plate: {problem}")
            return None
        return kind, session

    def refresh_models(self) -> None:
        """Look for melt models under the runs folder (in the background)."""
        worker = JobWorker(lambda token: find_melt_models(token, self.runs), name="find-melt-models")
        worker.sig_event.connect(self._on_models_found)
        self._workers.append(worker)
        worker.sig_finished.connect(lambda _status: self._workers.remove(worker))
        worker.start()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()
        self.sig_status.emit(text)

    def hide_message(self) -> None:
        self.message.hide()

    def save_screenshot(self, path: str | os.PathLike) -> Path:
        """Write the temperature and IPF images of the current frame side by side to a PNG."""
        temp, grains = self._images(self.frame)
        gap = np.full((temp.shape[0], 4, 3), 255, np.uint8)
        out = save_png(path, np.concatenate([temp, gap, grains], axis=1))
        self.sig_status.emit(f"Screenshot saved to {out}")
        return out

    # -- internals ----------------------------------------------------------------------------------------
    def _command(self, command) -> None:
        self.stepper.call(command)
        if not self.stepper.is_alive():
            frame = command()  # not started yet: nothing else touches the simulation
            if isinstance(frame, MeltFrame):
                self._on_stepper_frame(frame, ack=False)

    def _use_session(self, kind: str, path: str, session) -> None:
        self.sources[kind] = path
        self.source_box.select(kind, path)
        state = self.play_state
        if kind == "temperature":
            self._command(lambda: state.set_temperature_session(session))
        else:
            self._command(lambda: state.set_microstructure_session(session))
        self._clear_errors()
        name = "solver" if not path else Path(path).name
        canvas = self.temperature_canvas if kind == "temperature" else self.grain_canvas
        canvas.set_title(f"{'Temperature' if kind == 'temperature' else 'Grains (IPF)'} — {name}")
        self.hide_message()
        self.sig_status.emit(f"Melt {kind}: {name}")

    def _beam_changed(self, action, *args) -> None:
        action(*args)
        self._dirty = True

    def _clear_errors(self) -> None:
        for values in self._errors.values():
            values.clear()
        self.t_curve.setData([], [])
        self.ipf_curve.setData([], [])

    def _show_compare(self, on: bool) -> None:
        for widget in (self.ref_temperature_canvas, self.ref_grain_canvas, self.error_plot):
            widget.setVisible(on)

    def _images(self, frame: MeltFrame) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB images (ny, nx, 3), y up, of the temperature and the grains as shown."""
        lo, hi = 300.0, self.display.t_max.value()
        table = (lut("inferno") * 255).astype(np.uint8)
        norm = np.clip((frame.temperature - lo) / (hi - lo), 0.0, 1.0)
        temp = table[(norm * (len(table) - 1)).astype(int)][..., :3]
        grains = (np.moveaxis(frame.ipf[_AXES[self.display.axis]], 0, -1) * 255).astype(np.uint8)
        return (np.ascontiguousarray(np.swapaxes(a, 0, 1)[::-1]) for a in (temp, grains))

    # -- frames -------------------------------------------------------------------------------------------
    def _on_stepper_frame(self, frame: MeltFrame, ack: bool = True) -> None:
        if ack:
            self.stepper.frame_received()
        if self.frame is not None and frame.index > self.frame.index:
            self._times = [*self._times[-59:], time.perf_counter()]
        if frame.error_temperature is not None:
            e = self._errors
            if e["frames"] and frame.index <= e["frames"][-1]:
                self._clear_errors()
            e["frames"].append(frame.index)
            e["temperature"].append(frame.error_temperature / 100.0)
            e["ipf"].append((frame.error_ipf or 0.0) * 100.0)
        self.frame = frame
        self._dirty = True

    def _on_timer_timeout(self) -> None:
        if self._dirty and self.frame is not None:
            self._dirty = False
            self._draw(self.frame)

    def _draw(self, frame: MeltFrame) -> None:
        hi = self.display.t_max.value()
        axis = _AXES[self.display.axis]
        liquidus = Material().liquidus
        pool = frame.temperature >= liquidus if self.display.pool_check.isChecked() else None
        path, on = self._beam_cells()
        overlay = beam_overlay(frame.temperature.shape, path, path[0], on, pool)
        self.temperature_canvas.set_colormap("inferno", (300.0, hi))
        self.temperature_canvas.set_field(frame.temperature)
        self.temperature_canvas.set_overlay(overlay)
        self.grain_canvas.set_rgb(np.moveaxis(frame.ipf[axis], 0, -1))
        self.grain_canvas.set_overlay(overlay)
        if frame.reference_temperature is not None and self.error_plot.isVisible():
            ref_pool = frame.reference_temperature >= liquidus if pool is not None else None
            ref_overlay = beam_overlay(frame.temperature.shape, path, path[0], on, ref_pool)
            self.ref_temperature_canvas.set_colormap("inferno", (300.0, hi))
            self.ref_temperature_canvas.set_field(frame.reference_temperature)
            self.ref_temperature_canvas.set_overlay(ref_overlay)
            self.ref_grain_canvas.set_rgb(np.moveaxis(frame.reference_ipf[axis], 0, -1))
            self.ref_grain_canvas.set_overlay(ref_overlay)
            e = self._errors
            self.t_curve.setData(e["frames"], e["temperature"])
            self.ipf_curve.setData(e["frames"], e["ipf"])
        self._update_readouts(frame)

    def _beam_cells(self) -> tuple[list[float], bool]:
        """The beam's position then the path ahead, in cells, and whether it is on (live, not per frame)."""
        beam, dx = self.play_state.beam, self.play_state.dx
        return [x / dx for x in beam.path()], beam.on

    def _update_readouts(self, frame: MeltFrame) -> None:
        t = self._times
        fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0
        s = frame.stats
        parts = [
            f"<b>{fps:4.1f}</b> fps",
            f"t = {frame.time * 1e3:.2f} ms (frame {frame.index})",
            f"laser {frame.power:.0f} W" if frame.power else "laser off",
            f"peak <b>{s.get('peak_temperature', 0):.0f}</b> K",
            f"pool {s.get('pool_width_um', 0):.0f} × {s.get('pool_depth_um', 0):.0f} µm",
            f"temperature {frame.ms_temperature:.1f} ms · grains {frame.ms_microstructure:.1f} ms",
        ]
        if frame.error_temperature is not None:
            parts.append(
                f"vs solver: T RMSE <b>{frame.error_temperature:.0f}</b> K, "
                f"IPF MSE <b>{frame.error_ipf:.4f}</b>"
            )
        self.readouts.setText(" · ".join(parts))

    # -- handlers -----------------------------------------------------------------------------------------
    def _on_stroke_started(self, x: float, y: float, button: int) -> None:
        beam = self.play_state.beam
        x_m = x * self.play_state.dx
        if self.laser.mode == "drag":
            beam.follow(x_m)
        else:
            beam.start_path(x_m)
            self.sig_status.emit("Drawing the laser path: release the button to finish")
        self._drawing = True
        self._dirty = True
        if not self.stepper.running:
            self.play()

    def _on_stroke_moved(self, x: float, y: float) -> None:
        if not self._drawing:
            return
        beam = self.play_state.beam
        x_m = x * self.play_state.dx
        if self.laser.mode == "drag":
            beam.follow(x_m)
        else:
            beam.add_point(x_m, min_step=0.5 * self.play_state.dx)
        self._dirty = True

    def _on_stroke_finished(self, x: float, y: float) -> None:
        if not self._drawing:
            return
        self._on_stroke_moved(x, y)
        self._drawing = False
        if self.laser.mode == "drag":
            self.play_state.beam.release()
        self._dirty = True

    def _on_stepper_error(self, message: str) -> None:
        self.show_message(f"Simulation stopped: {message}")

    def _on_compare_toggled(self, on: bool) -> None:
        self._show_compare(on)
        self._clear_errors()
        self._command(lambda: self.play_state.set_compare(on))

    def _on_display_changed(self) -> None:
        self._dirty = True

    def _on_models_found(self, event) -> None:
        if isinstance(event, list):
            for kind, path in event:
                self.source_box.add_model(kind, path)

    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a melt model", str(self.runs), MODEL_FILTER)
        if path:
            self.open_model(path)

    def _on_screenshot_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save screenshot", str(Path.home() / "melt.png"), "PNG image (*.png)"
        )
        if path and self.frame is not None:
            self.save_screenshot(path)
