"""Side controls of the Play panel's melt page: the laser, the model sources and the display (its transport
is the smoke page's :class:`~fieldcast.app.play.sidebar.TransportBox` without scenes)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["SOLVER_ENTRY", "LaserBox", "MeltDisplayBox", "MeltSourceBox"]

SOLVER_ENTRY = "Solver (reference)"


class LaserBox(QGroupBox):
    """How the mouse steers the beam (draw a path or drag the beam), its power and speed, repeat."""

    sig_power_changed = Signal(float)
    """Laser power, W."""
    sig_speed_changed = Signal(float)
    """Scan speed, m/s."""
    sig_repeat_changed = Signal(bool)
    """Run a drawn path back and forth."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Laser", parent)
        self.draw_radio = QRadioButton("Draw path")
        self.draw_radio.setToolTip("Drag along the plate to draw a scan path; the beam then runs it")
        self.drag_radio = QRadioButton("Drag beam")
        self.drag_radio.setToolTip("The beam is on while the mouse button is down and follows the mouse")
        self.draw_radio.setChecked(True)
        self._group = QButtonGroup(self)
        self._group.addButton(self.draw_radio)
        self._group.addButton(self.drag_radio)
        modes = QHBoxLayout()
        modes.addWidget(self.draw_radio)
        modes.addWidget(self.drag_radio)
        self.power = QDoubleSpinBox()
        self.power.setRange(20.0, 400.0)
        self.power.setSingleStep(10.0)
        self.power.setDecimals(0)
        self.power.setValue(180.0)
        self.power.setSuffix(" W")
        self.power.setToolTip("Beam power (35 % is absorbed); the training data spans 100-220 W")
        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.05, 2.0)
        self.speed.setSingleStep(0.05)
        self.speed.setDecimals(2)
        self.speed.setValue(0.45)
        self.speed.setSuffix(" m/s")
        self.speed.setToolTip("Scan speed; the training data spans 0.3-0.6 m/s")
        self.repeat = QCheckBox("Run the path back and forth")
        self.clear_button = QPushButton("Clear path")
        self.clear_button.setToolTip("Stop the beam and forget the drawn path")
        form = QFormLayout()
        form.addRow("Power", self.power)
        form.addRow("Speed", self.speed)
        box = QVBoxLayout(self)
        box.addLayout(modes)
        box.addLayout(form)
        box.addWidget(self.repeat)
        box.addWidget(self.clear_button)
        self.power.valueChanged.connect(self.sig_power_changed)
        self.speed.valueChanged.connect(self.sig_speed_changed)
        self.repeat.toggled.connect(self.sig_repeat_changed)

    @property
    def mode(self) -> str:
        """``"draw"`` or ``"drag"``."""
        return "draw" if self.draw_radio.isChecked() else "drag"


class MeltSourceBox(QGroupBox):
    """Where the temperature and the grains come from: the solver or a melt model, and the comparison."""

    sig_temperature_chosen = Signal(str)
    """A temperature source was chosen: a model path, or "" for the solver."""
    sig_microstructure_chosen = Signal(str)
    """A microstructure source was chosen: a model path, or "" for the grain automaton."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Models", parent)
        self.temperature_combo = QComboBox()
        self.temperature_combo.setObjectName("melt_temperature_source")
        self.microstructure_combo = QComboBox()
        self.microstructure_combo.setObjectName("melt_microstructure_source")
        for combo in (self.temperature_combo, self.microstructure_combo):
            combo.addItem(SOLVER_ENTRY, "")
            combo.setMinimumContentsLength(16)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.open_button = QPushButton("Open model…")
        self.compare_check = QCheckBox("Compare with the solver")
        self.compare_check.setToolTip("Run the reference solver alongside and show the error")
        form = QFormLayout()
        form.addRow("Temperature", self.temperature_combo)
        form.addRow("Grains", self.microstructure_combo)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.open_button)
        box.addWidget(self.compare_check)
        self.temperature_combo.activated.connect(
            lambda _: self.sig_temperature_chosen.emit(self.temperature_combo.currentData())
        )
        self.microstructure_combo.activated.connect(
            lambda _: self.sig_microstructure_chosen.emit(self.microstructure_combo.currentData())
        )

    def add_model(self, kind: str, path: Path) -> None:
        """Offer ``path`` as a ``"temperature"`` or ``"microstructure"`` source (once)."""
        combo = self.temperature_combo if kind == "temperature" else self.microstructure_combo
        if combo.findData(str(path)) < 0:
            combo.addItem(path.name, str(path))
            combo.setItemData(combo.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)

    def select(self, kind: str, path: str) -> None:
        """Show ``path`` ("" for the solver) as the active ``kind`` source without emitting."""
        combo = self.temperature_combo if kind == "temperature" else self.microstructure_combo
        index = combo.findData(path)
        combo.blockSignals(True)
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)


class MeltDisplayBox(QGroupBox):
    """Which sample direction the IPF colours show, and the temperature colour range."""

    sig_display_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        self.axis_combo = QComboBox()
        for axis, label in (("z", "Z (surface normal)"), ("x", "X (scan)"), ("y", "Y (out of section)")):
            self.axis_combo.addItem(label, axis)
        self.t_max = QDoubleSpinBox()
        self.t_max.setRange(500.0, 6000.0)
        self.t_max.setSingleStep(100.0)
        self.t_max.setDecimals(0)
        self.t_max.setValue(3000.0)
        self.t_max.setSuffix(" K")
        self.t_max.setToolTip("Top of the temperature colour scale (the bottom is the ambient 300 K)")
        self.pool_check = QCheckBox("Outline the melt pool")
        self.pool_check.setChecked(True)
        form = QFormLayout(self)
        form.addRow("IPF key", self.axis_combo)
        form.addRow("T max", self.t_max)
        form.addRow(self.pool_check)
        self.axis_combo.currentIndexChanged.connect(lambda _: self.sig_display_changed.emit())
        self.t_max.valueChanged.connect(lambda _: self.sig_display_changed.emit())
        self.pool_check.toggled.connect(lambda _: self.sig_display_changed.emit())

    @property
    def axis(self) -> str:
        return self.axis_combo.currentData()
