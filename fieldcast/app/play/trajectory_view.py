"""The Play panel's trajectory view: open a G-code file, see where the printer will deviate from it.

The file is simulated on the printer set in the side controls (off the GUI thread, in a
:class:`~fieldcast.app.workers.JobWorker`); a trajectory model (``fieldcast-sequence-onnx/1``, run by the
engine's :class:`~fieldcast.engine.sequence_runtime.SequenceSession`) predicts the same error from the
reference motion and the printer's profile. The model that ships with Fieldcast is the default, so a file
opened or dropped here is coloured by its predicted error at once (by the simulated error without a model,
or on request); the readouts put its R² per axis and MAE against the simulation beside those of the
printer's physics filter. The error components run against time below, and a scrubber moves a marker
along both.

Changing a printer parameter re-simulates after a short pause; results of superseded jobs are dropped by
their ticket. While a file is read, simulated and predicted, a progress bar counts its moves and a Cancel
button stops the job (what was on screen before it stays, with a message). Nothing here imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from fieldcast.app.paths import app_paths
from fieldcast.app.play.job_progress import JobProgressBox
from fieldcast.app.play.model_opening import ModelOpener
from fieldcast.app.play.sidebar import message_label, sidebar_scroll
from fieldcast.app.play.trajectory_controls import NO_MODEL, MachineBox, ReadoutBox, SourceBox
from fieldcast.app.play.trajectory_job import (
    TrajectoryFailed,
    TrajectoryResult,
    find_sequence_models,
    readouts,
    shipped_model_path,
    trajectory_job,
)
from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import Progress
from fieldcast.engine.runtime import ModelError
from fieldcast.engine.sequence_runtime import SequenceSession
from fieldcast.widgets.loss_plot import PALETTE
from fieldcast.widgets.toolpath_plot import ALL_LAYERS, ToolpathPlot

__all__ = ["TrajectoryView"]

_DEBOUNCE_MS = 350
GCODE_FILTER = "G-code (*.gcode *.gco *.g)"
MODEL_FILTER = "Trajectory models (*.onnx)"


class TrajectoryView(QWidget):
    """Toolpath plot, error-against-time plot, printer controls and readouts for one G-code file.

    Parameters
    ----------
    runs : folder searched (recursively) for trajectory models to offer; default the app's runs folder.
    parent : the Qt parent.
    """

    sig_status = Signal(str)
    """A short message for the status bar."""
    sig_file_opened = Signal(str)
    """A G-code file simulated successfully (path); the window may add it to the recent files."""
    sig_result_shown = Signal(object)
    """A new simulation/prediction is on screen; payload: the readouts dict (µm, R², ms)."""

    def __init__(self, runs: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.opener = ModelOpener(self)
        self.runs = runs if runs is not None else app_paths().runs
        self.path: Path | None = None
        self.session: SequenceSession | None = None
        #: the model the next job predicts with (opened by the job when :attr:`session` is not it yet)
        self.model_path: Path | None = shipped_model_path()
        self.result: TrajectoryResult | None = None
        self._ticket = 0
        self._workers: list[JobWorker] = []
        self._job: JobWorker | None = None  # the trajectory job whose progress is shown
        self._announced: Path | None = None
        self.source = SourceBox(self.model_path)
        self.machine_box = MachineBox()
        self.readout_box = ReadoutBox()
        self.toolpath = ToolpathPlot()
        self.errors = self._make_error_plot()
        self.message = message_label("trajectory_message")
        self.progress = JobProgressBox({"predict": "samples"})
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_debounce_timeout)
        self._layout_widgets()
        self._connect()
        self.source.select_model(str(self.model_path) if self.model_path else NO_MODEL)
        self.refresh_models()

    # -- assembly -----------------------------------------------------------------------------------------
    def _make_error_plot(self) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w")
        item = plot.getPlotItem()
        item.setLabel("bottom", "time", units="s")
        item.setLabel("left", "error (µm)")
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        item.addLegend(offset=(8, 4), colCount=4, labelTextColor="#333", brush=pg.mkBrush(255, 255, 255, 210))
        self.curves = {}
        for key, label, colour, style in (
            ("sim_x", "error_x simulated", PALETTE[0], Qt.PenStyle.SolidLine),
            ("sim_y", "error_y simulated", PALETTE[1], Qt.PenStyle.SolidLine),
            ("pred_x", "error_x predicted", PALETTE[2], Qt.PenStyle.DashLine),
            ("pred_y", "error_y predicted", PALETTE[3], Qt.PenStyle.DashLine),
        ):
            self.curves[key] = plot.plot([], [], pen=pg.mkPen(colour, width=1, style=style), name=label)
        self.time_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#444", width=1, style=Qt.PenStyle.DotLine))
        item.addItem(self.time_line, ignoreBounds=True)
        return plot

    def _layout_widgets(self) -> None:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 4, 0)
        for box in (self.source, self.machine_box, self.readout_box):
            column.addWidget(box)
        column.addWidget(self.progress)
        column.addStretch(1)
        scroll = sidebar_scroll(side)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.toolpath)
        self.splitter.addWidget(self.errors)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        view = QVBoxLayout()
        view.addWidget(self.message)
        view.addWidget(self.splitter, 1)
        row = QHBoxLayout(self)
        row.addWidget(scroll)
        row.addLayout(view, 1)

    def _connect(self) -> None:
        self.source.open_button.clicked.connect(self._on_open_clicked)
        self.source.model_button.clicked.connect(self._on_model_button_clicked)
        self.source.sig_model_chosen.connect(self._on_model_chosen)
        self.source.show_simulated.toggled.connect(self._on_show_simulated_toggled)
        self.machine_box.sig_machine_changed.connect(self._on_machine_changed)
        self.toolpath.sig_position_changed.connect(self._on_position_changed)
        self.toolpath.sig_layer_changed.connect(self._on_layer_changed)
        self.progress.sig_cancel_requested.connect(self._on_cancel_requested)

    # -- public -------------------------------------------------------------------------------------------
    def open_gcode(self, path: str | os.PathLike) -> None:
        """Simulate ``path`` in the background; problems appear inline (never raised)."""
        self.path = Path(path)
        self.result = None
        self.source.file_label.setText(self.path.name)
        self.source.file_label.setToolTip(str(self.path))
        self._start_job(reuse=False)

    def open_model(self, path: str | os.PathLike) -> bool:
        """Predict with the model at ``path`` (``""``: none); False, with a message, when it is unusable."""
        if not str(path):
            self.session = self.model_path = None
            self.source.select_model(NO_MODEL)
            self._start_job(reuse=True)
            return True
        try:
            session = self.opener.run(path, lambda: SequenceSession(path))  # off the GUI thread
        except ModelError as exc:
            self.show_message(str(exc))
            self.source.select_model(str(self.model_path) if self.model_path else NO_MODEL)
            return False
        self.session, self.model_path = session, Path(path)
        self.source.select_model(str(path))
        self.sig_status.emit(f"Trajectory model {Path(path).name} on {session.providers[0]}")
        self._start_job(reuse=True)
        return True

    def refresh_models(self) -> None:
        """Look for trajectory models under the runs folder (in the background)."""
        worker = JobWorker(
            lambda token: find_sequence_models(token, self.runs), name="find-trajectory-models"
        )
        worker.sig_event.connect(self._on_models_found)
        self._track(worker)

    def show_message(self, text: str) -> None:
        """An inline message above the plots, also sent to the status bar."""
        self.message.setText(text)
        self.message.show()
        self.sig_status.emit(text)

    def hide_message(self) -> None:
        self.message.hide()

    def is_busy(self) -> bool:
        return any(w.is_running() for w in self._workers)

    def shutdown(self) -> None:
        """Cancel background work and wait for it (the application is closing)."""
        self._debounce.stop()
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            worker.wait(10_000)

    # -- jobs ---------------------------------------------------------------------------------------------
    def _track(self, worker: JobWorker) -> None:
        self._workers.append(worker)
        worker.sig_finished.connect(self._on_worker_finished)
        worker.start()

    def _start_job(self, reuse: bool) -> None:
        """Run the file through the job; ``reuse`` keeps the simulation when the machine is unchanged."""
        if self.path is None:
            return
        self._ticket += 1
        for worker in self._workers:
            if worker.name == "trajectory":
                worker.cancel()
        machine = self.machine_box.machine()
        previous = self.result if self.result is not None and self.result.path == self.path else None
        toolpath = previous.toolpath if previous else None
        sim = previous.sim if previous and reuse and previous.machine == machine else None
        ticket, path = self._ticket, self.path
        model = self.model_path
        if self.session is not None and self.session.path == self.model_path:
            model = self.session  # already open
        worker = JobWorker(
            lambda token: trajectory_job(token, ticket, path, machine, model, toolpath, sim),
            name="trajectory",
        )
        worker.sig_event.connect(self._on_job_event)
        worker.sig_error.connect(self._on_job_error)
        self._job = worker
        self.progress.start(f"Opening {path.name}…" if toolpath is None else "Simulating…")
        self._track(worker)

    def cancel_job(self) -> None:
        """Stop the running trajectory job (the job ends at its next check; nothing of it is shown)."""
        self._debounce.stop()
        for worker in self._workers:
            if worker.name == "trajectory":
                worker.cancel()

    def _on_job_event(self, event: object) -> None:
        if isinstance(event, Progress):
            if self.sender() is self._job:  # superseded jobs may still report while they wind down
                self.progress.show_progress(event)
        elif isinstance(event, TrajectoryFailed) and event.ticket == self._ticket:
            self.result = None
            self._clear_plots()
            self.show_message(event.message)
        elif isinstance(event, TrajectoryResult) and event.ticket == self._ticket:
            self._show_result(event)

    def _on_job_error(self, message: str, _details: str) -> None:
        self.show_message(f"Trajectory simulation failed: {message}")

    def _on_worker_finished(self, status: str) -> None:
        worker = self.sender()
        self._workers = [w for w in self._workers if w.is_running() and w is not worker]
        if worker is not self._job:
            return
        self._job = None
        cancelled_by_user = self.progress.cancelling
        self.progress.finish()
        shown = self.result is not None and self.result.ticket == self._ticket  # it finished after all
        if status == "cancelled" and cancelled_by_user and not shown and self.path is not None:
            if self.result is not None:  # a re-simulation of the file on screen: keep the earlier one
                self.show_message(f"Cancelled: showing the earlier simulation of {self.path.name}")
            else:
                self._clear_plots()
                self.show_message(f"Cancelled: {self.path.name} was not simulated")

    def _on_cancel_requested(self) -> None:
        self.cancel_job()

    def _on_models_found(self, paths: object) -> None:
        self.source.set_models(list(paths))

    # -- showing ------------------------------------------------------------------------------------------
    def _clear_plots(self) -> None:
        self.toolpath.clear()
        for curve in self.curves.values():
            curve.setData([], [])
        self.readout_box.show_values({})

    def _show_result(self, result: TrajectoryResult) -> None:
        new_file = self.result is None or self.result.path != result.path
        self.result = result
        if result.session is not None and result.session.path == self.model_path:
            self.session = result.session  # opened by the job: kept for the next one
        self.hide_message()
        sim = result.sim
        self.toolpath.set_path(
            np.column_stack([sim["x_ref"], sim["y_ref"]]),
            sim["layer"],
            sim["time"],
            result.layer_heights(),
            printing=result.printing(),
        )
        self._colour_path()
        t = sim["time"]
        self.curves["sim_x"].setData(t, sim["error_x"])
        self.curves["sim_y"].setData(t, sim["error_y"])
        pred = result.predicted
        for k, key in enumerate(("pred_x", "pred_y")):
            if pred is None:
                self.curves[key].setData([], [])
            else:
                self.curves[key].setData(t, pred[:, k])
        self._fit_time_range()
        self._on_position_changed(self.toolpath.current_index)
        values = readouts(result)
        self.readout_box.show_values(values)
        if new_file or self._announced != result.path:
            self._announced = result.path
            self.sig_file_opened.emit(str(result.path))
        scores = ""
        if "r2_x" in values:
            scores = f", {result.model} R² {values['r2_x']:.3f} / {values['r2_y']:.3f} (x / y)"
        self.sig_status.emit(
            f"{result.path.name}: {result.toolpath.n_segments} moves, {t[-1]:.1f} s, "
            f"RMS error {values['rms_sim']:.1f} µm{scores}"
        )
        self.sig_result_shown.emit(values)

    def _colour_path(self) -> None:
        result = self.result
        if result is None:
            return
        predicted = result.predicted is not None and not self.source.show_simulated.isChecked()
        errors = result.predicted if predicted else result.simulated
        label = "|error| predicted (µm)" if predicted else "|error| simulated (µm)"
        self.toolpath.set_values(np.hypot(errors[:, 0], errors[:, 1]), label)

    def _fit_time_range(self) -> None:
        if self.result is None:
            return
        t, layer = self.result.sim["time"], self.result.sim["layer"]
        chosen = self.toolpath.current_layer
        members = np.flatnonzero(layer == chosen) if chosen != ALL_LAYERS else np.arange(t.size)
        if members.size:
            self.errors.getPlotItem().setXRange(t[members[0]], t[members[-1]], padding=0.02)
            self.errors.getPlotItem().enableAutoRange(axis="y")

    # -- handlers -----------------------------------------------------------------------------------------
    def _on_open_clicked(self, _checked: bool = False) -> None:
        start = str(self.path.parent) if self.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open G-code", start, GCODE_FILTER)
        if path:
            self.open_gcode(path)

    def _on_model_button_clicked(self, _checked: bool = False) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open trajectory model", str(self.runs), MODEL_FILTER)
        if path:
            self.open_model(path)

    def _on_model_chosen(self, path: str) -> None:
        self.open_model(path)

    def _on_show_simulated_toggled(self, _on: bool) -> None:
        self._colour_path()

    def _on_machine_changed(self) -> None:
        self._debounce.start()

    def _on_debounce_timeout(self) -> None:
        self._start_job(reuse=False)

    def _on_position_changed(self, index: int) -> None:
        if self.result is not None and 0 <= index < self.result.sim["time"].size:
            self.time_line.setPos(float(self.result.sim["time"][index]))

    def _on_layer_changed(self, _layer: int) -> None:
        self._fit_time_range()
