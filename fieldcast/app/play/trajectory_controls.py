"""Side controls of the trajectory view: the file and model, the printer's parameters, the readouts."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.engine.systems.trajectory import Machine

__all__ = ["DRIVE_DEFAULTS", "MachineBox", "ReadoutBox", "SourceBox"]

SHAPERS = {"None": "none", "ZV": "zv", "MZV": "mzv"}
NO_MODEL = ""


def _spin(lo: float, hi: float, value: float, step: float, decimals: int, suffix: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)  # typing "1500" re-simulates once, not for 1, 15, 150 and 1500
    return box


class SourceBox(QGroupBox):
    """The G-code file, the trajectory model (the shipped one first), and whether the path is coloured by
    the predicted or the simulated error."""

    sig_model_chosen = Signal(str)
    """The user chose a model in the list (path, or "" for simulation only)."""

    def __init__(self, shipped: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Toolpath and model", parent)
        self.open_button = QPushButton("Open G-code…")
        self.file_label = QLabel("No file open: open or drop a G-code file")
        self.file_label.setWordWrap(True)
        self.file_label.setStyleSheet("color:#666;")
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.shipped = str(shipped) if shipped is not None else None
        if self.shipped is not None:
            self.model_combo.addItem(f"Shipped: {Path(self.shipped).stem}", self.shipped)
            self.model_combo.setItemData(0, self.shipped, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.addItem("None (simulation only)", NO_MODEL)
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.model_button = QPushButton("Open model…")
        self.show_predicted = QRadioButton("predicted")
        self.show_predicted.setToolTip("Colour the path by the error the model predicts")
        self.show_simulated = QRadioButton("simulated")
        self.show_simulated.setToolTip("Colour the path by the error the printer simulation gives")
        self.colour_group = QButtonGroup(self)
        for button in (self.show_predicted, self.show_simulated):
            self.colour_group.addButton(button)
        self.show_predicted.setChecked(True)
        self.show_predicted.setEnabled(False)
        models = QHBoxLayout()
        models.addWidget(self.model_combo, 1)
        models.addWidget(self.model_button)
        colour = QHBoxLayout()
        colour.addWidget(QLabel("Colour by error"))
        colour.addWidget(self.show_predicted)
        colour.addWidget(self.show_simulated)
        colour.addStretch(1)
        column = QVBoxLayout(self)
        column.addWidget(self.open_button)
        column.addWidget(self.file_label)
        column.addWidget(QLabel("Trajectory model"))
        column.addLayout(models)
        column.addLayout(colour)

    @property
    def model_path(self) -> str:
        return str(self.model_combo.currentData() or NO_MODEL)

    def set_models(self, paths: list[Path]) -> None:
        """Offer ``paths`` (found under the runs folder) after the ones already listed."""
        for path in paths:
            if self.model_combo.findData(str(path)) < 0:
                self._add_model(str(path))

    def select_model(self, path: str) -> None:
        """Show ``path`` (added when missing) as the current model, without emitting a choice."""
        index = self.model_combo.findData(path)
        if index < 0:
            index = self._add_model(path)
        self.model_combo.setCurrentIndex(index)
        had_model = self.show_predicted.isEnabled()
        self.show_predicted.setEnabled(path != NO_MODEL)
        if path == NO_MODEL:
            self.show_simulated.setChecked(True)
        elif not had_model:
            self.show_predicted.setChecked(True)  # a model was chosen: show what it predicts

    def _add_model(self, path: str) -> int:
        self.model_combo.addItem(f"{Path(path).parent.name}/{Path(path).name}", path)
        index = self.model_combo.count() - 1
        self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    def _on_model_combo_activated(self, index: int) -> None:
        self.sig_model_chosen.emit(str(self.model_combo.itemData(index) or NO_MODEL))


#: The drive of the printer the page starts with, on both axes: a desktop printer's GT2 belt on a 20-tooth
#: pulley at 1/16 microstepping (0.0125 mm a step), with some friction and play.
DRIVE_DEFAULTS = {"friction": 0.1, "backlash": 0.005, "step": 0.0125}


class MachineBox(QGroupBox):
    """The simulated printer: acceleration, junction deviation, input shaper, and its drive (friction,
    backlash and microstep of both axes). Its :meth:`machine` is the printer whose profile the model reads."""

    sig_machine_changed = Signal()
    """A machine parameter changed (the view re-simulates after a short pause)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Printer", parent)
        base = Machine()
        lim = base.limits
        self.accel_spin = _spin(50.0, 20000.0, lim.accel, 100.0, 0, " mm/s²")
        self.accel_spin.setToolTip("Acceleration limit; it also caps the M204 values of the file")
        self.jd_spin = _spin(0.001, 0.5, lim.junction_deviation, 0.005, 3, " mm")
        self.jd_spin.setToolTip("Junction deviation: how fast the head may take a corner")
        self.shaper_combo = QComboBox()
        self.shaper_combo.addItems(list(SHAPERS))
        self.shaper_combo.setToolTip("Input shaper applied to the commanded motion")
        natural = base.x.omega_n / (2 * math.pi)
        self.freq_spin = _spin(5.0, 200.0, round(natural, 1), 1.0, 1, " Hz")
        self.freq_spin.setToolTip(f"Shaper frequency (the X axis resonates near {natural:.1f} Hz)")
        self.freq_spin.setEnabled(False)
        self.friction_spin = _spin(0.0, 5.0, DRIVE_DEFAULTS["friction"], 0.05, 2, " N")
        self.friction_spin.setToolTip("Coulomb friction of each axis")
        self.backlash_spin = _spin(0.0, 0.2, DRIVE_DEFAULTS["backlash"], 0.001, 3, " mm")
        self.backlash_spin.setToolTip("Play between motor and belt of each axis")
        self.step_spin = _spin(0.0, 0.1, DRIVE_DEFAULTS["step"], 0.00625, 5, " mm")
        self.step_spin.setToolTip("One microstep of each axis (0: no quantisation)")
        form = QFormLayout(self)
        form.addRow("Acceleration", self.accel_spin)
        form.addRow("Junction dev.", self.jd_spin)
        form.addRow("Input shaper", self.shaper_combo)
        form.addRow("Shaper freq.", self.freq_spin)
        form.addRow("Friction", self.friction_spin)
        form.addRow("Backlash", self.backlash_spin)
        form.addRow("Microstep", self.step_spin)
        for spin in (
            self.accel_spin,
            self.jd_spin,
            self.freq_spin,
            self.friction_spin,
            self.backlash_spin,
            self.step_spin,
        ):
            spin.valueChanged.connect(self._on_value_changed)
        self.shaper_combo.currentIndexChanged.connect(self._on_shaper_changed)

    def machine(self) -> Machine:
        """The reference printer with this box's planner settings and drive."""
        base = Machine()
        limits = replace(
            base.limits,
            accel=self.accel_spin.value(),
            junction_deviation=self.jd_spin.value(),
            shaper=SHAPERS[self.shaper_combo.currentText()],
            shaper_freq=self.freq_spin.value(),
        )
        drive = {
            "friction": self.friction_spin.value(),
            "backlash": self.backlash_spin.value(),
            "step": self.step_spin.value(),
        }
        return replace(base, limits=limits, x=replace(base.x, **drive), y=replace(base.y, **drive))

    def _on_value_changed(self, _value: float) -> None:
        self.sig_machine_changed.emit()

    def _on_shaper_changed(self, _index: int) -> None:
        self.freq_spin.setEnabled(self.shaper_combo.currentText() != "None")
        self.sig_machine_changed.emit()


class ReadoutBox(QGroupBox):
    """Error statistics of the shown result: the simulated and predicted error, R² per axis and MAE of the
    model and of the printer's physics filter against the simulation, and the model's speed."""

    ROWS = (
        ("rms_sim", "RMS simulated"),
        ("max_sim", "Max simulated"),
        ("rms_pred", "RMS predicted"),
        ("max_pred", "Max predicted"),
        ("ms", "Model per sample"),
    )
    #: (row title, key of the model's figure, key of the physics filter's figure, formatted as µm)
    SCORES = (
        ("R² x", "r2_x", "phys_r2_x", False),
        ("R² y", "r2_y", "phys_r2_y", False),
        ("MAE", "mae", "phys_mae", True),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Readouts", parent)
        form = QFormLayout()
        self.labels: dict[str, QLabel] = {}
        for key, title in self.ROWS:
            form.addRow(title, self._label(key))
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        for col, title in enumerate(("vs simulation", "model", "physics filter")):
            header = QLabel(title)
            header.setStyleSheet("color:#666;")
            grid.addWidget(header, 0, col)
        grid.itemAtPosition(0, 2).widget().setToolTip(
            "The printer's own dynamics run from its profile: the baseline the model must beat"
        )
        for row, (title, model_key, phys_key, _) in enumerate(self.SCORES, start=1):
            grid.addWidget(QLabel(title), row, 0)
            grid.addWidget(self._label(model_key), row, 1)
            grid.addWidget(self._label(phys_key), row, 2)
        column = QVBoxLayout(self)
        column.addLayout(form)
        column.addLayout(grid)

    def _label(self, key: str) -> QLabel:
        label = QLabel("–")
        label.setObjectName(f"readout_{key}")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.labels[key] = label
        return label

    def show_values(self, values: dict[str, float]) -> None:
        """Fill the rows from :func:`fieldcast.app.play.trajectory_job.readouts`; missing ones show –."""

        def um(key: str) -> str:
            return f"{values[key]:.1f} µm" if key in values else "–"

        for key in ("rms_sim", "max_sim", "rms_pred", "max_pred"):
            self.labels[key].setText(um(key))
        for _, model_key, phys_key, microns in self.SCORES:
            for key in (model_key, phys_key):
                value = values.get(key)
                if value is None or math.isnan(value):
                    text = "–"
                else:
                    text = f"{value:.2f} µm" if microns else f"{value:.3f}"
                self.labels[key].setText(text)
        ms = values.get("ms_mean")
        self.labels["ms"].setText("–" if ms is None else f"{ms:.3f} ms (p99 {values.get('ms_p99', ms):.3f})")

    def text(self, key: str) -> str:
        return self.labels[key].text()
