"""The Train panel: pick a dataset and a recipe, start training in the background and watch it live.

Every recipe of every task trains the same way; the list also offers the default recipe of the chosen
dataset, picked by itself for a dataset of a system Fieldcast does not ship.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.panel import Panel
from fieldcast.app.paths import app_paths
from fieldcast.app.runs.run_watcher import read_records
from fieldcast.app.train.controller import DatasetFacts, LoadedRecipe, TrainController, strict_errors
from fieldcast.app.train.generative_view import GenerativeRunView
from fieldcast.app.train.live_plots import Eta, LivePlots, format_duration
from fieldcast.app.train.recipe_form import RecipeForm, get_key
from fieldcast.app.train.recipe_list import DEFAULT_LABEL, fill_recipe_combo
from fieldcast.app.train.recipes import DEFAULT_ENTRY, run_task, shipped_recipes
from fieldcast.app.train.sample_history import SampleHistory
from fieldcast.app.train.texts import (
    NO_SAMPLES,
    data_event_text,
    dataset_text,
    recipe_text,
    samples_caption,
)
from fieldcast.widgets.sample_strip import SampleStrip

__all__ = ["DEFAULT_LABEL", "TrainPanel", "shipped_recipes"]

DATASET_FILTER = "Datasets (*.h5 *.hdf5 *.hdf)"

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
        self.facts: DatasetFacts | None = None  # of the chosen dataset, for the recipe in the form
        self.eta = Eta()
        self.error_dialog: QMessageBox | None = None
        self._shown_at = 0.0
        self._samples_seen = False
        self._auto_default_for: Path | None = None  # the dataset the default recipe was picked for
        self._check_timer = QTimer(self, singleShot=True, interval=250)
        self._check_timer.timeout.connect(self._on_check_timer_timeout)
        self._facts_timer = QTimer(self, singleShot=True, interval=150)
        self._facts_timer.timeout.connect(self._on_facts_timer_timeout)
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
        self.dataset_note = QLabel(objectName="dataset_note", wordWrap=True)
        self.dataset_note.setTextFormat(Qt.TextFormat.RichText)
        self.recipe_combo = QComboBox(objectName="recipe_combo")
        self.recipe_combo.setMaxVisibleItems(24)  # every system's heading at once
        fill_recipe_combo(self.recipe_combo)
        self.open_recipe_button = QPushButton("Open…", objectName="open_recipe")
        self.form = RecipeForm()
        self.recipe_status = QLabel(objectName="recipe_status", wordWrap=True)

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
        self.data_label = QLabel(objectName="data_label", wordWrap=True)
        self.data_label.setTextFormat(Qt.TextFormat.RichText)
        self.data_label.hide()
        self.eta_label = QLabel(objectName="eta_label")

        data_box = QGroupBox("Dataset")
        col = QVBoxLayout(data_box)
        row = QHBoxLayout()
        row.addWidget(self.dataset_combo, 1)
        row.addWidget(self.browse_button)
        col.addLayout(row)
        col.addWidget(self.dataset_note)
        recipe_box = QGroupBox("Recipe")
        col = QVBoxLayout(recipe_box)
        row = QHBoxLayout()
        row.addWidget(self.recipe_combo, 1)
        row.addWidget(self.open_recipe_button)
        col.addLayout(row)
        col.addWidget(self.recipe_status)
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
        grid.addWidget(self.data_label, 4, 0, 1, 4)
        grid.addWidget(self.eta_label, 5, 0, 1, 4)

        side = QWidget()
        side_box = QVBoxLayout(side)
        for box in (data_box, run_box, recipe_box):
            side_box.addWidget(box)
        side_box.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(side)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # As wide as the widest recipe form (every task's rows) beside a vertical scroll bar: never clipped.
        width = side.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(max(420, width + 2 * scroll.frameWidth() + 4))
        scroll.setMaximumWidth(scroll.minimumWidth() + 60)

        self.plots = LivePlots()
        self.samples = SampleStrip()
        self.history = SampleHistory()
        self.sample_tabs = QTabWidget(objectName="sample_tabs")
        self.sample_tabs.addTab(self.samples, "Newest samples")
        self.sample_tabs.addTab(self.history, "Every validation")
        # Generated maps and loss by timestep: shown for runs whose task writes them.
        self.generative = GenerativeRunView()
        self.sample_tabs.addTab(self.generative, "Generated maps")
        self.sample_tabs.setTabVisible(self.sample_tabs.indexOf(self.generative), False)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(self.sample_tabs)
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
        self.form.sig_changed.connect(self._on_form_changed)
        self.form.sig_validity_changed.connect(lambda _valid: self._update_buttons())
        self.start_button.clicked.connect(self._on_start_clicked)
        self.pause_button.clicked.connect(self.controller.pause)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.stop_button.clicked.connect(self._on_stop_clicked)
        self.lr_button.clicked.connect(self._on_lr_clicked)
        self.lr_edit.returnPressed.connect(self._on_lr_clicked)
        self.generative.sig_available.connect(
            lambda on: self.sample_tabs.setTabVisible(self.sample_tabs.indexOf(self.generative), on)
        )
        c = self.controller
        c.sig_state_changed.connect(self._on_controller_state_changed)
        c.sig_event.connect(self._on_training_event)
        c.sig_failed.connect(self._on_training_failed)
        c.sig_recipe_loaded.connect(self._on_recipe_loaded)
        c.sig_recipe_failed.connect(self._on_recipe_failed)
        c.sig_dataset_facts.connect(self._on_dataset_facts)

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
        self._start_resume(Path(run_dir))
        self.sig_show_me.emit()

    def dataset_path(self) -> Path | None:
        text = self.dataset_combo.currentText().strip()
        return Path(text) if text and Path(text).is_file() else None

    def choose_default_recipe(self) -> None:
        """Select "Default for this dataset" and build it for the chosen dataset."""
        self.recipe_combo.setCurrentIndex(self.recipe_combo.findData(DEFAULT_ENTRY))
        self._load_default_recipe()

    def shutdown(self) -> None:
        self.controller.shutdown()
        self.plots.stop()

    # Helpers ------------------------------------------------------------------------------------------
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

    def _default_selected(self) -> bool:
        return self.recipe_combo.currentData() == DEFAULT_ENTRY

    def _load_recipe(self, path: Path) -> None:
        self.recipe = None
        self.recipe_status.setText(f"Reading {path.name}…")
        self.controller.load_recipe(path)
        self._update_buttons()

    def _load_default_recipe(self) -> None:
        self.recipe = None
        dataset = self.dataset_path()
        if dataset is None:
            self.recipe_status.setText("Choose a dataset: its default recipe is built from its own fields.")
        else:
            self.recipe_status.setText(f"Building the default recipe for {dataset.name}…")
            self.controller.load_default_recipe(dataset)
        self._update_buttons()

    def _split_setting(self) -> Any:
        """The ``data.split`` the recipe in the form asks for ("auto" before a recipe is chosen)."""
        if self.recipe is None:
            return "auto"
        stages = self.form.stages()
        return get_key(stages[-1], "data.split", "auto") if stages else "auto"

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
        ready = self.recipe is not None and self.form.is_valid() and self.dataset_path() is not None
        self.start_button.setEnabled(state == "idle" and ready)
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(
            state == "paused" or (state == "idle" and self.controller.resumable_run is not None)
        )
        self.stop_button.setEnabled(state in ("running", "paused"))
        self.lr_button.setEnabled(state in ("running", "paused"))
        why = []
        if self.dataset_path() is None:
            why.append("choose a dataset file")
        if self.recipe is None:
            why.append("choose a recipe")
        elif not self.form.is_valid():
            why.append("fix the fields marked in red")
        self.start_button.setToolTip("Start training" if not why else "To start: " + ", ".join(why))

    def _start_resume(self, run_dir: Path) -> None:
        self.plots.clear(task=run_task(run_dir))
        self.samples.clear()
        self._samples_seen = False
        self.history.set_run(run_dir)
        self.generative.set_run(run_dir)
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
        self.facts = None
        self.dataset_note.setText("")
        self._facts_timer.start()  # the text may still be being typed
        self._update_buttons()

    def _on_facts_timer_timeout(self) -> None:
        path = self.dataset_path()
        if path is not None:
            self.controller.describe_dataset(path, self._split_setting())

    def _on_dataset_facts(self, facts: DatasetFacts) -> None:
        if facts.path != self.dataset_path():
            return  # the user has chosen another file since
        self.facts = facts
        self.dataset_note.setText(dataset_text(facts))
        if not training_available():
            return  # Fieldcast Player: no recipe is built or read
        if self._default_selected():
            if self.recipe is None or not self.recipe.is_default or self.recipe.dataset != facts.path:
                self._load_default_recipe()
        elif facts.system and not facts.built_in and self._auto_default_for != facts.path:
            self._auto_default_for = facts.path
            self.choose_default_recipe()
        elif self.recipe is not None:
            self.recipe_status.setText(recipe_text(self.recipe, facts))

    def _on_recipe_activated(self, index: int) -> None:
        data = self.recipe_combo.itemData(index)
        if data == DEFAULT_ENTRY:
            self._load_default_recipe()
        elif data:
            self._load_recipe(Path(data))

    def _on_open_recipe_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open recipe", str(Path.home()), self.file_filter)
        if path:
            self.open_path(Path(path))

    def _on_recipe_loaded(self, loaded: LoadedRecipe) -> None:
        self.recipe = loaded
        self.form.set_stages(loaded.stages)
        self.recipe_status.setText(recipe_text(loaded, self.facts))
        self._facts_timer.start()  # the recipe's split may cut the data differently
        self._update_buttons()

    def _on_recipe_failed(self, reason: str) -> None:
        self.recipe = None
        self.recipe_status.setText(f"<span style='color:#c0392b'>Cannot use this recipe: {reason}</span>")
        self._update_buttons()

    def _on_form_changed(self) -> None:
        self._check_timer.start()
        self._facts_timer.start()

    def _on_check_timer_timeout(self) -> None:
        self.form.set_external_errors(strict_errors(self.form.stages()))

    def _on_start_clicked(self) -> None:
        errors = strict_errors(self.form.stages())
        if errors:
            self.form.set_external_errors(errors)
            return
        self.plots.clear(task=self.form.task())
        self.samples.clear()
        self._samples_seen = False
        self.data_label.hide()
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
        elif kind == "DataEvent":
            self.data_label.setText(data_event_text(event))
            self.data_label.show()
        elif kind == "StageEvent" and event.status == "start":
            self.eta.reset()
            self._samples_seen = False
            self.stage_label.setText(f"Stage {event.index + 1}/{event.total}: {event.name} → {event.run_dir}")
            self.history.set_run(event.run_dir)
            self.generative.set_run(event.run_dir)
            if event.run_dir is not None and event.index == event.total - 1:
                self.sig_run_started.emit(str(event.run_dir))
        elif kind == "StageEvent" and event.status == "reused":
            self.stage_label.setText(
                f"Stage {event.index + 1}/{event.total}: {event.name} reused from {event.run_dir}"
            )
        elif kind == "SamplesEvent":
            self._samples_seen = True
            caption = samples_caption(event)
            self.samples.set_samples(event.truth, event.prediction, event.channel_names, caption)
            if event.path is not None:
                self.history.refresh_soon()
        elif kind == "ValidationEvent" and not self._samples_seen:
            self.samples.clear(NO_SAMPLES)  # samples come before their validation: this task draws none
        if kind == "ValidationEvent":
            self.generative.refresh_soon()  # the task's records are written before its validation event
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
