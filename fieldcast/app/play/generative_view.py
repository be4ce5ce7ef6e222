"""The Play panel's page for generative models: pick or draw a condition, watch it being denoised, compare.

A radio model maps a city layout and a transmitter to received power (dB); an infrared model maps a laser
path over a plate to the camera's frame. Draw the condition (paint or erase buildings and click the
transmitter in; or draw the laser's path with its power and speed), take one from a dataset file, or let the
data generator draw a random one. *Generate* runs the sampler in a background job
(:mod:`fieldcast.app.play.generative_job`): the denoising shows step by step (the model's estimate of the
clean map, for every sample), then the samples, their mean, their per-pixel spread (the model's
uncertainty), the reference generator's answer and the mean's error against it, with NMSE and SSIM.
Nothing here imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from fieldcast.app.paths import app_paths
from fieldcast.app.play.generative_condition import (
    SOURCES,
    ConditionError,
    DatasetConditions,
    DrawnCondition,
)
from fieldcast.app.play.generative_controls import ConditionBox, DrawBox, ModelBox, SamplingBox
from fieldcast.app.play.generative_job import (
    ConditionReady,
    DenoiseStep,
    GenerationRequest,
    GenerationResult,
    RandomCondition,
    generation_job,
    random_condition_job,
)
from fieldcast.app.play.generative_maps import condition_picture
from fieldcast.app.play.generative_models import (
    default_generative_model,
    models_of_source,
    no_model_text,
)
from fieldcast.app.play.generative_results import GenerationPictures
from fieldcast.app.play.job_progress import JobProgressBox
from fieldcast.app.play.model_opening import ModelOpener
from fieldcast.app.play.sidebar import message_label, sidebar_scroll
from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import Progress

__all__ = ["GenerativeView", "default_generative_model"]  # the latter re-exported for the panel and tests

log = logging.getLogger("fieldcast.app.play")

_DISPLAY_MS = 33
MODEL_FILTER = "Generative models (*.onnx)"
DATASET_FILTER = "Datasets (*.h5 *.hdf5)"


class GenerativeView(QWidget):
    """The generative page. ``model`` is opened when the page is first shown (default: the shipped one)."""

    sig_status = Signal(str)
    """A short message for the status bar."""
    sig_file_opened = Signal(str)
    """A model file opened successfully (path), for the recent files."""

    def __init__(
        self, model: Path | None = None, runs: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.runs = runs  # exported models of this folder's runs are offered (None: the app's runs folder)
        self.opened: list[Path] = []  # files opened by hand, offered again
        self.session: Any = None  # fieldcast.engine.generative.GenerativeSession
        self.model_path: Path | None = None
        self.drawings = {source: DrawnCondition(source) for source in SOURCES}
        self.dataset: DatasetConditions | None = None
        self.fixed: tuple[dict[str, np.ndarray], np.ndarray | None, str] | None = None  # dataset/random
        self.reference: np.ndarray | None = None
        self.result: GenerationResult | None = None
        self.worker: JobWorker | None = None
        self._job = "generate"  # what the worker runs: "generate" or "condition" (a random condition)
        self._active = False  # a job started and its finish not yet handled
        self.last_status = ""
        self.worker_label = ""  # where the running generation's reference comes from
        self._step: DenoiseStep | None = None
        self._dirty = False
        self._initial_model = model
        self._started = False
        self.opener = ModelOpener(self)
        self._build()
        self._connect()
        self.timer = QTimer(self, interval=_DISPLAY_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self._on_source_changed()

    # Assembly -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_box = ModelBox()
        self.condition_box = ConditionBox()
        self.draw_box = DrawBox()
        self.sampling = SamplingBox()
        self.progress = JobProgressBox({"denoise": "steps"})
        self.progress.cancel_button.setToolTip("Stop generating; nothing of this generation is kept")
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 4, 0)
        for box in (self.model_box, self.condition_box, self.draw_box, self.sampling):
            column.addWidget(box)
        column.addWidget(self.progress)
        column.addStretch(1)

        self.pictures = GenerationPictures()
        p = self.pictures
        # The pictures by name, for the handlers below (and for tests and screenshots).
        self.condition_view, self.denoise_view, self.reference_view = (
            p.condition_view,
            p.denoise_view,
            p.reference_view,
        )
        self.mean_view, self.spread_view, self.error_view = p.mean_view, p.spread_view, p.error_view
        self.sample_views, self.readouts = p.sample_views, p.readouts
        self.message = message_label("generative_message")
        # The maps have fixed sizes: in a small window they scroll instead of setting its minimum size.
        scroll = QScrollArea(widgetResizable=True, objectName="generative_pictures_scroll")
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.pictures)
        view = QVBoxLayout()
        view.addWidget(self.message)
        view.addWidget(scroll, 1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(sidebar_scroll(side))
        row.addLayout(view, 1)
        row.addStretch(0)

    def _connect(self) -> None:
        self.model_box.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self.model_box.open_button.clicked.connect(self._on_open_model_clicked)
        self.model_box.sig_model_chosen.connect(lambda path: self.open_model(Path(path)))
        self.condition_box.sig_mode_changed.connect(self._on_mode_changed)
        self.condition_box.open_button.clicked.connect(self._on_open_dataset_clicked)
        self.condition_box.sample_spin.valueChanged.connect(self._on_sample_changed)
        self.condition_box.random_button.clicked.connect(self._on_random_clicked)
        self.draw_box.clear_button.clicked.connect(self._on_clear_clicked)
        self.sampling.generate_button.clicked.connect(self.generate)
        self.progress.sig_cancel_requested.connect(self.cancel)
        self.condition_view.sig_pressed.connect(self._on_condition_pressed)
        self.condition_view.sig_moved.connect(self._on_condition_moved)
        self.condition_view.sig_released.connect(self._on_condition_released)

    # Life cycle -----------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.timer.start()
        if not self._started:
            # The model loads when the page is first seen, not with the window.
            self._started = True
            if self.session is None:
                path = self._initial_model or default_generative_model(self.source)
                if path is None:
                    self.show_message(no_model_text(self.source))
                else:
                    self.open_model(path)
            self.refresh_models()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.timer.stop()
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Cancel a running generation and wait for it (the application is closing)."""
        self.timer.stop()
        if self.worker is not None and self.worker.is_running():
            self.worker.cancel()
            self.worker.wait(10_000)

    # Public ---------------------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        return self.model_box.source

    @property
    def steps_seen(self) -> int:
        """Denoising steps drawn by the running (or last) generation."""
        return self.pictures.steps_seen

    @property
    def units(self) -> str:
        """The target's units: the model's own where it names them (dB for radio; the infrared reading is a
        fraction of the sensor's full well)."""
        units = str(self.session.info.target_units) if self.session is not None else ""
        return units if units and units != "1" else SOURCES[self.source].units

    @property
    def drawing(self) -> DrawnCondition:
        return self.drawings[self.source]

    @property
    def busy(self) -> bool:
        # Until its finish has been handled here: the worker's thread ends before its queued events arrive.
        return self._active or (self.worker is not None and self.worker.is_running())

    def show_message(self, text: str) -> None:
        """A line above the pictures (empty hides it), also sent to the status bar."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        if text:
            self.sig_status.emit(text)

    def open_model(self, path: Path) -> bool:
        """Use the generative model ``path``; on failure say why (naming the file) and keep the one before."""
        from fieldcast.engine.generative import GenerativeSession

        path = Path(path)
        try:
            # In a worker with a time limit: the window keeps turning while ONNX Runtime builds a session.
            session = self.opener.run(path, lambda: GenerativeSession(path))
        except Exception as exc:  # ModelError, or ONNX Runtime refusing a file it was handed
            problem = getattr(exc, "problem", None) or str(exc)
            self.show_message(f"Cannot use {path}: {problem}" if str(path) not in problem else problem)
            if self._started:
                self.refresh_models()  # the list shows the model still in use
            return False
        self.session, self.model_path = session, path
        if path not in self.opened and path != default_generative_model(session.info.source or "radio"):
            self.opened.append(path)
        info = session.info
        if info.source in SOURCES and info.source != self.source:
            self.model_box.set_source(info.source)
        if info.grid[0] != self.drawing.size:
            self.drawings[self.source] = DrawnCondition(self.source, int(info.grid[0]))
        kind = "diffusion" if info.is_diffusion else "regression (one answer, no spread)"
        self.model_box.model_label.setText(f"{path.name} — {kind}")
        self.sampling.steps.setValue(int(info.default_steps))
        self.sampling.steps.setEnabled(info.is_diffusion)
        drawable = set(SOURCES[self.source].conditions)
        if info.source not in SOURCES or not set(info.condition_channels) <= drawable:
            # Still usable with conditions from a dataset that has the model's channels.
            self.show_message(
                f"{path.name} needs {', '.join(info.condition_channels)}: this page draws "
                f"{', '.join(sorted(drawable))}; take its conditions from a dataset"
            )
        else:
            self.show_message("")
        self._show_condition()
        self.refresh_models()
        self.sig_file_opened.emit(str(path))
        return True

    def refresh_models(self) -> None:
        """List the models of the current source to choose from."""
        runs = self.runs if self.runs is not None else app_paths().runs
        current = str(self.model_path) if self.model_path is not None else None
        self.model_box.set_models(models_of_source(self.source, runs, self.opened), current)

    def load_model(self, path: Path, provider: str = "") -> bool:
        return self.open_model(path)

    def open_dataset(self, path: Path) -> bool:
        """Take conditions from dataset ``path``; a file that is not one says why and changes nothing."""
        try:
            dataset = DatasetConditions(path)
        except ConditionError as exc:
            self.show_message(f"Cannot take conditions from this file: {exc}")
            return False
        if dataset.source and dataset.source not in SOURCES:
            dataset.close()
            self.show_message(f"{path}: unknown source {dataset.source!r}")
            return False
        if self.dataset is not None:
            self.dataset.close()
        self.dataset = dataset
        if dataset.source:
            self.model_box.set_source(dataset.source)
        self.condition_box.file_label.setText(f"{Path(path).name}: {len(dataset)} samples")
        spin = self.condition_box.sample_spin
        spin.blockSignals(True)
        spin.setRange(0, max(0, len(dataset) - 1))
        spin.setValue(0)
        spin.blockSignals(False)
        spin.setEnabled(True)
        self.condition_box.dataset_radio.setChecked(True)
        self.show_message("")
        return self._read_sample(0)

    def generate(self) -> bool:
        """Start generating from the current condition; False (with the reason shown) if it cannot."""
        if self.busy:
            return False
        if self.session is None:
            self.show_message(no_model_text(self.source))
            return False
        request = self._request()
        if request is None:
            return False
        session = self.session
        self.worker_label = request.reference_label
        self.result = None
        self._step = None
        self.pictures.steps_seen = 0
        self._job = "generate"
        self.worker = JobWorker(lambda token: generation_job(token, session, request), name="generate")
        self.worker.sig_event.connect(self._on_job_event)
        self.worker.sig_error.connect(self._on_job_error)
        self.worker.sig_finished.connect(self._on_job_finished)
        self.progress.start("Starting…")
        self._active = True
        self._set_busy(True)
        self.show_message("")
        self.worker.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    # Condition ------------------------------------------------------------------------------------------
    def _request(self) -> GenerationRequest | None:
        s = self.sampling
        common = {"n": s.samples.value(), "steps": s.steps.value(), "seed": s.seed.value()}
        if self.condition_box.mode == "dataset" or (self.fixed is not None and self.source == "ir"):
            if self.fixed is None:
                self.show_message("Open a dataset and pick a sample, or choose Draw it.")
                return None
            condition, reference, label = self.fixed
            return GenerationRequest(
                self.source, condition=condition, reference=reference, reference_label=label, **common
            )
        problem = self.drawing.problem()
        if problem:
            self.show_message(f"The condition is not ready: {problem}.")
            return None
        drawing = self.drawing
        copy = DrawnCondition(
            drawing.source,
            drawing.size,
            drawing.buildings.copy(),
            drawing.transmitter,
            list(drawing.path),
            self.draw_box.power.value(),
            self.draw_box.speed.value(),
        )
        label = "reference generator" if self.source == "radio" else "reference melt solver"
        return GenerationRequest(self.source, drawing=copy, reference_label=label, **common)

    def _read_sample(self, index: int) -> bool:
        assert self.dataset is not None
        try:
            condition, target = self.dataset.read(index)
        except ConditionError as exc:
            self.show_message(f"Cannot read this sample: {exc}")
            return False
        traj, frame = self.dataset.position(index)
        self.fixed = (condition, target, f"dataset, trajectory {traj} frame {frame}")
        self._show_condition()
        return True

    def _show_condition(self) -> None:
        """Draw the condition in use and forget results that belonged to another one."""
        layout = SOURCES[self.source]
        self.result = None
        self.pictures.clear_results()
        if self.condition_box.mode == "dataset" or (self.fixed is not None and self.source == "ir"):
            condition, reference, label = self.fixed if self.fixed else ({}, None, "")
            if condition:
                self.condition_view.show_rgb(condition_picture(self.source, condition))
                self.condition_view.set_title(f"Condition ({label})")
            else:
                self.condition_view.clear("Open a dataset, or press Random condition")
                self.condition_view.set_title("Condition")
            self.reference = reference
        else:
            drawing = self.drawing
            condition = drawing.radio_condition() if self.source == "radio" else self._ir_preview()
            self.condition_view.show_rgb(condition_picture(self.source, condition, drawing.path))
            self.condition_view.set_title("Condition (drawn; edit with the mouse)")
            self.reference = None
        self.pictures.show_reference(
            self.reference, layout.cmap, self.units, self.fixed[2] if self.fixed else ""
        )
        self._update_generate()

    def _ir_preview(self) -> dict[str, np.ndarray]:
        """The plate before the solver has run the drawn path: uniform material, the path drawn over it."""
        return {"material": np.zeros(self.drawing.shape, np.float32)}

    def _update_generate(self) -> None:
        self.sampling.generate_button.setEnabled(self.session is not None and not self.busy)
        tip = "Generate samples of this condition" if self.session else no_model_text(self.source)
        self.sampling.generate_button.setToolTip(tip)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.model_box, self.condition_box, self.draw_box, self.sampling):
            widget.setEnabled(not busy)
        self._update_generate()

    # Drawing --------------------------------------------------------------------------------------------
    def _on_condition_pressed(self, x: float, y: float, button: Any) -> None:
        if self.busy or self.condition_box.mode != "draw":
            return
        if self.fixed is not None and self.source == "ir":
            self.fixed = None  # drawing replaces a random scene
        erase = button == Qt.MouseButton.RightButton
        self.drawing.press(x, y, self.draw_box.tool, self.draw_box.brush.value(), erase)
        self._show_condition()

    def _on_condition_moved(self, x: float, y: float) -> None:
        if self.busy or self.condition_box.mode != "draw":
            return
        if self.drawing.drag(x, y, self.draw_box.tool, self.draw_box.brush.value()):
            self._show_condition()

    def _on_condition_released(self) -> None:
        self.drawing.release()

    # Slots ----------------------------------------------------------------------------------------------
    def _on_source_changed(self, *_args) -> None:
        source = self.source
        self.draw_box.set_source(source)
        self.pictures.tail = SOURCES[source].range_tail
        if self.dataset is not None and self.dataset.source not in ("", source):
            self.dataset.close()
            self.dataset = None
            self.condition_box.file_label.setText("No dataset")
            self.condition_box.sample_spin.setEnabled(False)
            self.condition_box.draw_radio.setChecked(True)
        self.fixed = None
        if self.session is not None and self.session.info.source not in ("", source):
            self.session, self.model_path = None, None
            self.model_box.model_label.setText("No model")
            if self._started:
                default = default_generative_model(source)
                if default is None or not self.open_model(default):
                    self.show_message(no_model_text(source))
        self._show_condition()
        if self._started:
            self.refresh_models()

    def _on_mode_changed(self, mode: str) -> None:
        self.draw_box.setEnabled(mode == "draw")
        if mode == "draw":
            self.fixed = None
        elif self.dataset is not None:
            self._read_sample(self.condition_box.sample_spin.value())
            return
        self._show_condition()

    def _on_open_model_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a generative model", "", MODEL_FILTER)
        if path:
            self.open_model(Path(path))

    def _on_open_dataset_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Take conditions from a dataset", "", DATASET_FILTER)
        if path:
            self.open_dataset(Path(path))

    def _on_sample_changed(self, index: int) -> None:
        if self.dataset is not None and not self.busy:
            self._read_sample(index)

    def _on_random_clicked(self) -> None:
        if self.busy:
            return
        source, seed, size = self.source, self.sampling.seed.value(), self.drawing.size
        self.worker = JobWorker(
            lambda token: random_condition_job(token, source, seed, size), name="condition"
        )
        self.worker.sig_event.connect(self._on_job_event)
        self.worker.sig_error.connect(self._on_job_error)
        self.worker.sig_finished.connect(self._on_job_finished)
        self._job = "condition"
        self.progress.start("Drawing a random condition…")
        self._active = True
        self._set_busy(True)
        self.worker.start()

    def _apply_random_condition(self, event: RandomCondition) -> None:
        condition, target = event.condition, event.target
        if self.source == "radio":
            # A city the user can go on editing: its buildings and its transmitter go into the drawing.
            drawing = self.drawing
            drawing.buildings = (np.asarray(condition["buildings"]) > 0.5).astype(np.float32)
            tx = np.unravel_index(int(np.argmax(condition["transmitter"])), drawing.shape)
            drawing.place_transmitter(tx[0] + 0.5, tx[1] + 0.5)
            self.fixed = None
        else:
            self.fixed = (condition, target, "random scene of the data generator")
        self.condition_box.draw_radio.setChecked(True)
        self._show_condition()

    def _on_clear_clicked(self) -> None:
        self.drawing.clear()
        self.fixed = None
        self._show_condition()

    # Job ------------------------------------------------------------------------------------------------
    def _on_job_event(self, event: Any) -> None:
        if isinstance(event, Progress):
            if not self.progress.cancelling:
                self.progress.show_progress(event)
        elif isinstance(event, ConditionReady):
            self._on_condition_ready(event)
        elif isinstance(event, DenoiseStep):
            self._step = event
            self._dirty = True
        elif isinstance(event, RandomCondition):
            self._apply_random_condition(event)
        elif isinstance(event, GenerationResult):
            self.result = event
            self.pictures.show_result(event, SOURCES[self.source].cmap, self.units)

    def _on_condition_ready(self, event: ConditionReady) -> None:
        layout = SOURCES[self.source]
        path = self.drawing.path if self.fixed is None and self.source == "ir" else None
        self.condition_view.show_rgb(condition_picture(self.source, event.condition, path))
        self.reference = event.reference
        if event.reference is not None:
            self.pictures.show_reference(event.reference, layout.cmap, self.units, self.worker_label)
        self.pictures.set_sample_count(self.sampling.samples.value())

    def _on_timer_timeout(self) -> None:
        if self._dirty and self._step is not None and self.result is None:
            self._dirty = False
            self.pictures.show_step(self._step, self.reference, SOURCES[self.source].cmap, self.units)

    def _on_job_error(self, message: str, _details: str) -> None:
        what = "Drawing a random condition" if self._job == "condition" else "Generation"
        self.show_message(f"{what} failed: {message}")

    def _on_job_finished(self, status: str) -> None:
        self._active = False
        self._step = None
        self.progress.finish()
        self._set_busy(False)
        self.draw_box.setEnabled(self.condition_box.mode == "draw")
        if self._job == "condition":
            self._job = "generate"
            self.last_status = {
                "done": "Random condition drawn",
                "cancelled": "Random condition cancelled",
            }.get(status, "Drawing a random condition failed")
        elif status == "cancelled":
            self.pictures.clear_results()
            self.last_status = "Generation cancelled"
        elif status == "done":
            self.last_status = "Generation finished"
        else:
            self.last_status = "Generation failed"
        self.sig_status.emit(self.last_status)
