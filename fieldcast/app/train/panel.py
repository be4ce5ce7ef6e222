"""The Train panel: pick a dataset and a recipe, start training in the background and watch it live."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.panel import Panel
from fieldcast.app.paths import app_paths
from fieldcast.app.runs.run_watcher import read_records
from fieldcast.app.train.controller import LoadedRecipe, TrainController, strict_errors
from fieldcast.app.train.live_plots import Eta, LivePlots, format_duration
from fieldcast.app.train.recipe_form import RecipeForm
from fieldcast.app.train.recipes import melt_note, recipe_kind, recipe_system, shipped_recipes
from fieldcast.widgets.sample_strip import SampleStrip

__all__ = ["TrainPanel", "shipped_recipes"]

DATASET_FILTER = "Datasets (*.h5 *.hdf5 *.hdf)"

MELT_NO_SAMPLES = "The melt microstructure loop draws no samples; its validation figures are plotted above."

NO_TORCH_MESSAGE = (
    "Training needs PyTorch, which Fieldcast Player does not include; install Fieldcast Studio to train."
)


def training_available() -> bool:
    """True when PyTorch and the training package are installed (checked without importing them)."""
    return (
        importlib.util.find_spec("torch") is not None
        and importlib.util.find_spec("fieldcast.training") is not None
    )


class TrainPanel(Panel):
    """Dataset and recipe on the left, live plots and ground truth vs prediction on the right."""

    name = "train"
    title = "Train"
    file_suffixes = (".yaml", ".yml")
    file_filter = "Recipes (*.yaml *.yml)"

    sig_run_started = Signal(str)
    """A training run folder was created or resumed (its path)."""

    def __init__(
        self, runs_dir: Path | None = None, data_dir: Path | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        paths = app_paths() if runs_dir is None or data_dir is None else None
        self.runs_dir = Path(runs_dir) if runs_dir is not None else paths.runs
        self.data_dir = Path(data_dir) if data_dir is not None else paths.data
        self.controller = TrainController(self.runs_dir, self)
        self.recipe: LoadedRecipe | None = None
        self.eta = Eta()
        self.error_dialog: QMessageBox | None = None
        self._shown_at = 0.0
        self._check_timer = QTimer(self, singleShot=True, interval=250)
        self._check_timer.timeout.connect(self._on_check_timer_timeout)
        self._build()
        self._connect()
        self._refresh_datasets()
        self._on_controller_state_changed("idle")
        if not training_available():
            self._disable_training()

    # Assembly -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.dataset_combo = QComboBox(objectName="dataset_combo", editable=True)
        self.dataset_combo.lineEdit().setPlaceholderText("choose a dataset file")
        self.browse_button = QPushButton("Browse…", objectName="browse_dataset")
        self.recipe_combo = QComboBox(objectName="recipe_combo")
        self._fill_recipe_combo()
        self.open_recipe_button = QPushButton("Open…", objectName="open_recipe")
        self.form = RecipeForm()
        self.recipe_status = QLabel(objectName="recipe_status", wordWrap=True)
        self.form_note = QLabel(objectName="form_note", wordWrap=True)
        self.form_note.setStyleSheet("color: #555;")
        self.form_note.hide()

        self.start_button = QPushButton("Start", objectName="start_button")
        self.pause_button = QPushButton("Pause", objectName="pause_button")
        self.resume_button = QPushButton("Resume", objectName="resume_button")
        self.stop_button = QPushButton("Stop", objectName="stop_button")
        self.stop_button.setToolTip(
            "Stop after the current batch; a checkpoint is saved so the run can resume"
        )
        self.lr_edit = QLineEdit(objectName="lr_edit", placeholderText="e.g. 3e-4")
        self.lr_button = QPushButton("Set learning rate", objectName="lr_button")
        self.progress = QProgressBar(objectName="train_progress")
        self.stage_label = QLabel("Nothing is training.", objectName="stage_label", wordWrap=True)
        self.eta_label = QLabel(objectName="eta_label")

        data_box = QGroupBox("Dataset")
        row = QHBoxLayout(data_box)
        row.addWidget(self.dataset_combo, 1)
        row.addWidget(self.browse_button)
        recipe_box = QGroupBox("Recipe")
        col = QVBoxLayout(recipe_box)
        row = QHBoxLayout()
        row.addWidget(self.recipe_combo, 1)
        row.addWidget(self.open_recipe_button)
        col.addLayout(row)
        col.addWidget(self.recipe_status)
        col.addWidget(self.form_note)
        col.addWidget(self.form)
        run_box = QGroupBox("Run")
        grid = QGridLayout(run_box)
        for i, button in enumerate(
            (self.start_button, self.pause_button, self.resume_button, self.stop_button)
        ):
            grid.addWidget(button, 0, i)
        grid.addWidget(self.lr_edit, 1, 0, 1, 2)
        grid.addWidget(self.lr_button, 1, 2, 1, 2)
        grid.addWidget(self.progress, 2, 0, 1, 4)
        grid.addWidget(self.stage_label, 3, 0, 1, 4)
        grid.addWidget(self.eta_label, 4, 0, 1, 4)

        side = QWidget()
        side_box = QVBoxLayout(side)
        for box in (data_box, run_box, recipe_box):
            side_box.addWidget(box)
        side_box.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(side)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(380)
        scroll.setMaximumWidth(460)

        self.plots = LivePlots()
        self.samples = SampleStrip()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(self.samples)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        box = QHBoxLayout(self)
        box.addWidget(scroll)
        box.addWidget(right, 1)

    def _connect(self) -> None:
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.dataset_combo.currentTextChanged.connect(self._on_dataset_changed)
        self.recipe_combo.activated.connect(self._on_recipe_activated)
        self.open_recipe_button.clicked.connect(self._on_open_recipe_clicked)
        self.form.sig_changed.connect(self._check_timer.start)
        self.form.sig_validity_changed.connect(lambda _valid: self._update_buttons())
        self.start_button.clicked.connect(self._on_start_clicked)
        self.pause_button.clicked.connect(self.controller.pause)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.stop_button.clicked.connect(self._on_stop_clicked)
        self.lr_button.clicked.connect(self._on_lr_clicked)
        self.lr_edit.returnPressed.connect(self._on_lr_clicked)
        c = self.controller
        c.sig_state_changed.connect(self._on_controller_state_changed)
        c.sig_event.connect(self._on_training_event)
        c.sig_failed.connect(self._on_training_failed)
        c.sig_recipe_loaded.connect(self._on_recipe_loaded)
        c.sig_recipe_failed.connect(self._on_recipe_failed)

    # Public API ---------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Open a recipe file (routed here by the window)."""
        path = Path(path)
        if not path.is_file():
            self.sig_status.emit(f"{path}: file not found")
            return
        if self.recipe_combo.findData(str(path)) < 0:
            self.recipe_combo.addItem(path.stem, str(path))
        self.recipe_combo.setCurrentIndex(self.recipe_combo.findData(str(path)))
        self._load_recipe(path)
        self.sig_file_opened.emit(str(path))
        self.sig_show_me.emit()

    def set_dataset(self, path: Path) -> None:
        """Train on dataset ``path`` (the Data panel hands its datasets over here)."""
        text = str(path)
        if self.dataset_combo.findText(text) < 0:
            self.dataset_combo.addItem(text)
        self.dataset_combo.setCurrentText(text)

    def resume_run(self, run_dir: Path) -> None:
        """Continue the run folder ``run_dir`` from its last checkpoint (asked from the Runs panel)."""
        if self.controller.state != "idle":
            self.sig_status.emit("A training is already running; stop it before resuming another run.")
            return
        if recipe_kind(Path(run_dir) / "config.yaml") == "melt":
            self.sig_status.emit("Melt microstructure runs cannot be resumed; start a new run of the recipe.")
            return
        self._start_resume(Path(run_dir))
        self.sig_show_me.emit()

    def dataset_path(self) -> Path | None:
        text = self.dataset_combo.currentText().strip()
        return Path(text) if text and Path(text).is_file() else None

    def shutdown(self) -> None:
        self.controller.shutdown()
        self.plots.stop()

    # Helpers ------------------------------------------------------------------------------------------
    def _fill_recipe_combo(self) -> None:
        """The shipped recipes under a heading per system (headings cannot be chosen)."""
        combo, bold = self.recipe_combo, QFont()
        bold.setBold(True)
        heading_of = None
        for path in shipped_recipes():
            system = recipe_system(path)
            if system != heading_of:
                heading_of = system
                combo.addItem(system or "other")
                heading = combo.model().item(combo.count() - 1)
                heading.setEnabled(False)
                heading.setFont(bold)
            combo.addItem(path.stem, str(path))
            combo.setItemData(combo.count() - 1, f"{system} · {path}", Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(-1)
        combo.setPlaceholderText("choose a recipe")

    def _refresh_datasets(self) -> None:
        files = (
            sorted(p for ext in ("*.h5", "*.hdf5") for p in self.data_dir.glob(ext))
            if self.data_dir.is_dir()
            else []
        )
        for path in files:
            if self.dataset_combo.findText(str(path)) < 0:
                self.dataset_combo.addItem(str(path))
        self.dataset_combo.setCurrentIndex(-1)

    def _load_recipe(self, path: Path) -> None:
        self.recipe = None
        self.recipe_status.setText(f"Reading {path.name}…")
        self.controller.load_recipe(path)
        self._update_buttons()

    def _disable_training(self) -> None:
        """Fieldcast Player has no PyTorch: say so once, instead of failing on every recipe."""
        self.recipe_status.setText(NO_TORCH_MESSAGE)
        for widget in (self.recipe_combo, self.start_button, self.resume_button):
            widget.setEnabled(False)
        self.start_button.setToolTip(NO_TORCH_MESSAGE)

    def _update_buttons(self) -> None:
        if not training_available():
            return
        state = self.controller.state
        melt = self.recipe is not None and self.recipe.kind == "melt"
        ready = self.recipe is not None and (melt or self.form.is_valid()) and self.dataset_path() is not None
        self.start_button.setEnabled(state == "idle" and ready)
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(
            state == "paused" or (state == "idle" and self.controller.resumable_run is not None)
        )
        self.stop_button.setEnabled(state in ("running", "paused"))
        self.lr_button.setEnabled(state in ("running", "paused") and self.controller.job_kind == "rollout")
        why = []
        if self.dataset_path() is None:
            why.append("choose a dataset file")
        if self.recipe is None:
            why.append("choose a recipe")
        elif not melt and not self.form.is_valid():
            why.append("fix the fields marked in red")
        self.start_button.setToolTip("Start training" if not why else "To start: " + ", ".join(why))

    def _start_resume(self, run_dir: Path) -> None:
        self.plots.clear()
        metrics = run_dir / "metrics.jsonl"
        if metrics.is_file():
            for record in read_records(metrics):
                self.plots.on_record(record)
        self.eta.reset()
        self.controller.resume_run(run_dir)
        self.sig_run_started.emit(str(run_dir))

    # Slots --------------------------------------------------------------------------------------------
    def _on_browse_clicked(self) -> None:
        start = str(self.data_dir)
        path, _ = QFileDialog.getOpenFileName(self, "Dataset to train on", start, DATASET_FILTER)
        if path:
            self.set_dataset(Path(path))

    def _on_dataset_changed(self, _text: str) -> None:
        self._update_buttons()

    def _on_recipe_activated(self, index: int) -> None:
        self._load_recipe(Path(self.recipe_combo.itemData(index)))

    def _on_open_recipe_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open recipe", str(Path.home()), self.file_filter)
        if path:
            self.open_path(Path(path))

    def _on_recipe_loaded(self, loaded: LoadedRecipe) -> None:
        self.recipe = loaded
        melt = loaded.kind == "melt"
        self.form.setVisible(not melt)
        self.form_note.setVisible(melt)
        if melt:
            self.form_note.setText(melt_note(loaded.stages[0], loaded.path))
            self.recipe_status.setText(f"melt microstructure: {loaded.stages[0]['name']}")
        else:
            self.form.set_stages(loaded.stages)
            names = " → ".join(s["name"] for s in loaded.stages)
            self.recipe_status.setText(f"{len(loaded.stages)} stage(s): {names}")
        self._update_buttons()

    def _on_recipe_failed(self, reason: str) -> None:
        self.recipe = None
        self.form_note.hide()
        self.form.show()
        self.recipe_status.setText(f"<span style='color:#c0392b'>Cannot use this recipe: {reason}</span>")
        self._update_buttons()

    def _on_check_timer_timeout(self) -> None:
        self.form.set_external_errors(strict_errors(self.form.stages()))

    def _on_start_clicked(self) -> None:
        if self.recipe is not None and self.recipe.kind == "melt":
            self.plots.clear(kind="melt")
            self.samples.clear(MELT_NO_SAMPLES)
            self.eta.reset()
            self.controller.start_melt(self.recipe.path, self.dataset_path())
            return
        errors = strict_errors(self.form.stages())
        if errors:
            self.form.set_external_errors(errors)
            return
        self.plots.clear()
        self.samples.clear()
        self.eta.reset()
        self.controller.start(self.form.stages(), self.dataset_path())

    def _on_resume_clicked(self) -> None:
        if self.controller.state == "paused":
            self.controller.resume()
        elif self.controller.resumable_run is not None:
            self._start_resume(Path(self.controller.resumable_run))

    def _on_stop_clicked(self) -> None:
        self.controller.stop()
        self.stage_label.setText("Stopping after the current batch…")

    def _on_lr_clicked(self) -> None:
        try:
            lr = float(self.lr_edit.text())
            self.controller.set_lr(lr)
        except (ValueError, RuntimeError) as exc:
            self.lr_edit.setStyleSheet("border: 1px solid #c0392b;")
            self.lr_edit.setToolTip(str(exc) if "float" not in str(exc) else "type a positive number")
            return
        self.lr_edit.setStyleSheet("")
        self.lr_edit.setToolTip("")
        self.plots.mark_lr_change(lr)
        self.sig_status.emit(f"Learning rate set to {lr:g}; the trainer applies it at its next step.")

    def _on_controller_state_changed(self, state: str) -> None:
        self._update_buttons()
        if state == "idle":
            self.eta_label.setText("")
        elif state == "paused":
            self.stage_label.setText(self.stage_label.text().split(" (paused)")[0] + " (paused)")

    def _on_training_event(self, event: Any) -> None:
        self.plots.on_event(event)
        kind = type(event).__name__
        if kind == "Progress":
            self._show_progress(event.done, event.total)
        elif kind == "StageEvent" and event.status == "start":
            self.eta.reset()
            self.stage_label.setText(f"Stage {event.index + 1}/{event.total}: {event.name} → {event.run_dir}")
            if event.run_dir is not None and event.index == event.total - 1:
                self.sig_run_started.emit(str(event.run_dir))
        elif kind == "StageEvent" and event.status == "reused":
            self.stage_label.setText(
                f"Stage {event.index + 1}/{event.total}: {event.name} reused from {event.run_dir}"
            )
        elif kind == "SamplesEvent":
            caption = f"Validation rollout after {event.horizon} frames, epoch {event.epoch + 1}"
            self.samples.set_samples(event.truth, event.prediction, event.channel_names, caption)
        elif kind == "FinishedEvent":
            self.stage_label.setText(
                f"Finished: {event.status} at step {event.step}. {event.message}".strip()
            )
            self.sig_status.emit(f"Training {event.status} at step {event.step}")

    def _show_progress(self, done: int, total: int | None) -> None:
        self.eta.update(done)
        now = time.monotonic()
        if now - self._shown_at < 0.2 and done != total:
            return  # text and bar repaint at most 5 times a second
        self._shown_at = now
        if total:
            self.progress.setMaximum(total)
            self.progress.setValue(done)
            self.progress.setFormat(f"step {done}/{total}")
        remaining = self.eta.remaining(done, total)
        self.eta_label.setText(
            "" if remaining is None else f"ETA for this stage: {format_duration(remaining)}"
        )

    def _on_training_failed(self, what: str, kept: str, details: str) -> None:
        dialog = QMessageBox(QMessageBox.Icon.Warning, "Training stopped", what, parent=self)
        dialog.setObjectName("training_error")
        dialog.setInformativeText(kept)
        if details:
            dialog.setDetailedText(details)
        self.error_dialog = dialog
        dialog.open()
        self.sig_status.emit(what)
