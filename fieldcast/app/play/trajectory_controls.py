"""Side controls of the trajectory view: the file and model, the printer's parameters, the readouts."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.engine.systems.trajectory import Machine

__all__ = ["MachineBox", "ReadoutBox", "SourceBox"]

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
    """The G-code file, the trajectory model, and whether the path shows simulated or predicted error."""

    sig_model_chosen = Signal(str)
    """The user chose a model in the list (path, or "" for simulation only)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Toolpath and model", parent)
        self.open_button = QPushButton("Open G-code…")
        self.file_label = QLabel("No file open")
        self.file_label.setWordWrap(True)
        self.file_label.setStyleSheet("color:#666;")
        self.model_combo = QComboBox()
        self.model_combo.addItem("None (simulation only)", NO_MODEL)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.model_button = QPushButton("Open model…")
        self.show_simulated = QCheckBox("Colour the path by simulated error")
        self.show_simulated.setToolTip(
            "With a model loaded the path shows the predicted error; tick to compare"
        )
        self.show_simulated.setEnabled(False)
        models = QHBoxLayout()
        models.addWidget(self.model_combo, 1)
        models.addWidget(self.model_button)
        column = QVBoxLayout(self)
        column.addWidget(self.open_button)
        column.addWidget(self.file_label)
        column.addWidget(QLabel("Trajectory model"))
        column.addLayout(models)
        column.addWidget(self.show_simulated)

    @property
    def model_path(self) -> str:
        return str(self.model_combo.currentData() or NO_MODEL)

    def set_models(self, paths: list[Path]) -> None:
        """Offer ``paths`` (found under the runs folder) besides the ones already listed."""
        for path in paths:
            if self.model_combo.findData(str(path)) < 0:
                self._add_model(str(path))

    def select_model(self, path: str) -> None:
        """Show ``path`` (added when missing) as the current model, without emitting a choice."""
        index = self.model_combo.findData(path)
        if index < 0:
            index = self._add_model(path)
        self.model_combo.setCurrentIndex(index)
        self.show_simulated.setEnabled(path != NO_MODEL)

    def _add_model(self, path: str) -> int:
        self.model_combo.addItem(f"{Path(path).parent.name}/{Path(path).name}", path)
        index = self.model_combo.count() - 1
        self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    def _on_model_combo_activated(self, index: int) -> None:
        self.sig_model_chosen.emit(str(self.model_combo.itemData(index) or NO_MODEL))


class MachineBox(QGroupBox):
    """Acceleration, junction deviation and input shaper of the simulated printer."""

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
        form = QFormLayout(self)
        form.addRow("Acceleration", self.accel_spin)
        form.addRow("Junction dev.", self.jd_spin)
        form.addRow("Input shaper", self.shaper_combo)
        form.addRow("Shaper freq.", self.freq_spin)
        for spin in (self.accel_spin, self.jd_spin, self.freq_spin):
            spin.valueChanged.connect(self._on_value_changed)
        self.shaper_combo.currentIndexChanged.connect(self._on_shaper_changed)

    def machine(self) -> Machine:
        """The reference printer with this box's planner settings."""
        base = Machine()
        limits = replace(
            base.limits,
            accel=self.accel_spin.value(),
            junction_deviation=self.jd_spin.value(),
            shaper=SHAPERS[self.shaper_combo.currentText()],
            shaper_freq=self.freq_spin.value(),
        )
        return replace(base, limits=limits)

    def _on_value_changed(self, _value: float) -> None:
        self.sig_machine_changed.emit()

    def _on_shaper_changed(self, _index: int) -> None:
        self.freq_spin.setEnabled(self.shaper_combo.currentText() != "None")
        self.sig_machine_changed.emit()


class ReadoutBox(QGroupBox):
    """Error statistics of the shown result, and the model's speed."""

    ROWS = (
        ("rms_sim", "RMS simulated"),
        ("max_sim", "Max simulated"),
        ("rms_pred", "RMS predicted"),
        ("max_pred", "Max predicted"),
        ("r2", "R² pred. vs sim."),
        ("ms", "Model per sample"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Readouts", parent)
        form = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        for key, title in self.ROWS:
            label = QLabel("–")
            label.setObjectName(f"readout_{key}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(title, label)
            self.labels[key] = label

    def show_values(self, values: dict[str, float]) -> None:
        """Fill the rows from :func:`fieldcast.app.play.trajectory_job.readouts`; missing ones show –."""

        def um(key: str) -> str:
            return f"{values[key]:.1f} µm" if key in values else "–"

        for key in ("rms_sim", "max_sim", "rms_pred", "max_pred"):
            self.labels[key].setText(um(key))
        r2 = values.get("r2")
        self.labels["r2"].setText("–" if r2 is None or math.isnan(r2) else f"{r2:.3f}")
        ms = values.get("ms_mean")
        self.labels["ms"].setText("–" if ms is None else f"{ms:.3f} ms (p99 {values.get('ms_p99', ms):.3f})")

    def text(self, key: str) -> str:
        return self.labels[key].text()
