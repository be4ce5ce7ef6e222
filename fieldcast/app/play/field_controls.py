"""The generic field page's side controls: where a rollout starts and the control channels' paint tools,
and the painter that applies canvas strokes to the control channels."""

from __future__ import annotations

import math
from collections.abc import Callable
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
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.engine.field_session import ControlPaint, FieldPlay

__all__ = ["ControlPainter", "PaintBox", "StartBox"]

ZEROS, DATASET = "zeros", "dataset"


class StartBox(QGroupBox):
    """Start from a dataset frame (file, trajectory, frame) or from zeros."""

    sig_start_changed = Signal()
    """The source, the trajectory or the frame changed: the rollout should restart from it."""
    sig_open_clicked = Signal()
    """The user asked to choose a dataset file."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Start from", parent)
        self.path: Path | None = None
        self.source_combo = QComboBox()
        self.source_combo.addItem("Zeros", ZEROS)
        self.file_label = QLabel("no dataset")
        self.file_label.setWordWrap(True)
        self.file_label.setStyleSheet("color:#777;")
        self.open_button = QPushButton("Open dataset…")
        self.open_button.setToolTip("A dataset with the model's channels (.h5); you can also drop one here")
        self.trajectory_spin = QSpinBox()
        self.frame_spin = QSpinBox()
        for spin in (self.trajectory_spin, self.frame_spin):
            spin.setKeyboardTracking(False)
            spin.setEnabled(False)
        form = QFormLayout()
        form.addRow("Start", self.source_combo)
        form.addRow("Trajectory", self.trajectory_spin)
        form.addRow("Frame", self.frame_spin)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.file_label)
        box.addWidget(self.open_button)
        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self.trajectory_spin.valueChanged.connect(self.sig_start_changed)
        self.frame_spin.valueChanged.connect(self.sig_start_changed)
        self.open_button.clicked.connect(self.sig_open_clicked)

    @property
    def use_dataset(self) -> bool:
        return self.source_combo.currentData() == DATASET

    @property
    def trajectory(self) -> int:
        return self.trajectory_spin.value()

    @property
    def frame(self) -> int:
        return self.frame_spin.value()

    def set_dataset(self, path: Path | None, trajectories: int = 0, frames: int = 0) -> None:
        """Offer frames of ``path`` (None: zeros only) and select its first frame, without signalling."""
        self.path = path
        for widget in (self.source_combo, self.trajectory_spin, self.frame_spin):
            widget.blockSignals(True)
        if self.source_combo.findData(DATASET) >= 0:
            self.source_combo.removeItem(self.source_combo.findData(DATASET))
        if path is not None:
            self.source_combo.insertItem(0, "Dataset frame", DATASET)
            self.file_label.setText(f"{path.name}: {trajectories} trajectories × {frames} frames")
            self.file_label.setToolTip(str(path))
        else:
            self.file_label.setText("no dataset")
            self.file_label.setToolTip("")
        self.source_combo.setCurrentIndex(0)
        self.trajectory_spin.setRange(0, max(trajectories - 1, 0))
        self.frame_spin.setRange(0, max(frames - 1, 0))
        self.trajectory_spin.setValue(0)
        self.frame_spin.setValue(0)
        for widget in (self.source_combo, self.trajectory_spin, self.frame_spin):
            widget.blockSignals(False)
        self._enable_spins()

    def _enable_spins(self) -> None:
        for spin in (self.trajectory_spin, self.frame_spin):
            spin.setEnabled(self.use_dataset)

    def _on_source_changed(self) -> None:
        self._enable_spins()
        self.sig_start_changed.emit()


class PaintBox(QGroupBox):
    """Which control channel the brush paints, paint or erase, the brush value and its radius.

    Each control channel keeps its own brush value, so switching between a mask (0 to 1) and, say, a power
    map keeps a sensible value for each.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Paint controls", parent)
        self._values: dict[str, float] = {}
        self._units: dict[str, str] = {}
        self.control_combo = QComboBox()
        self.paint_button = QToolButton()
        self.paint_button.setText("Paint")
        self.paint_button.setToolTip("Paint the value into the control channel (P)")
        self.paint_button.setShortcut("P")
        self.erase_button = QToolButton()
        self.erase_button.setText("Erase")
        self.erase_button.setToolTip("Set the control channel back to 0 (X); the right button always erases")
        self.erase_button.setShortcut("X")
        self._group = QButtonGroup(self)
        tools = QHBoxLayout()
        tools.setSpacing(2)
        for button in (self.paint_button, self.erase_button):
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self._group.addButton(button)
            tools.addWidget(button)
        tools.addStretch(1)
        self.paint_button.setChecked(True)
        self.value_spin = QDoubleSpinBox()
        self.value_spin.setRange(-1e9, 1e9)
        self.value_spin.setDecimals(3)
        self.value_spin.setSingleStep(0.1)
        self.value_spin.setValue(1.0)
        self.value_spin.setToolTip("The value the brush paints, in the channel's units")
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 64)
        self.brush_spin.setValue(3)
        self.brush_spin.setSuffix(" cells")
        self.brush_spin.setToolTip("Brush radius")
        self.show_check = QCheckBox("Show controls on the field")
        self.show_check.setChecked(True)
        form = QFormLayout()
        form.addRow("Channel", self.control_combo)
        form.addRow("Tool", tools)
        form.addRow("Value", self.value_spin)
        form.addRow("Brush", self.brush_spin)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.show_check)
        self.control_combo.currentIndexChanged.connect(self._on_control_changed)
        self.value_spin.valueChanged.connect(self._on_value_changed)

    def set_controls(self, names: list[str], units: dict[str, str]) -> None:
        """Offer ``names`` (hidden when there are none), each with a brush value of 1."""
        self._values = {n: 1.0 for n in names}
        self._units = dict(units)
        self.control_combo.blockSignals(True)
        self.control_combo.clear()
        self.control_combo.addItems(names)
        self.control_combo.blockSignals(False)
        self.paint_button.setChecked(True)
        self.setVisible(bool(names))
        self._on_control_changed()

    @property
    def control(self) -> str:
        return self.control_combo.currentText()

    @property
    def erasing(self) -> bool:
        return self.erase_button.isChecked()

    @property
    def value(self) -> float:
        return self.value_spin.value()

    @property
    def radius(self) -> float:
        return float(self.brush_spin.value())

    def _on_control_changed(self) -> None:
        name = self.control
        self.value_spin.blockSignals(True)
        self.value_spin.setValue(self._values.get(name, 1.0))
        unit = self._units.get(name, "")
        self.value_spin.setSuffix(f" {unit}" if unit and unit != "1" else "")
        self.value_spin.blockSignals(False)

    def _on_value_changed(self, value: float) -> None:
        if self.control:
            self._values[self.control] = value


class ControlPainter:
    """Turns the canvas's strokes into edits of the current model's control channels, with the paint box's
    channel, tool, value and brush (the right mouse button always erases).

    Parameters
    ----------
    box : the paint box whose settings apply.
    play : returns the :class:`~fieldcast.engine.field_session.FieldPlay` being stepped, or None.
    """

    def __init__(self, box: PaintBox, play: Callable[[], FieldPlay | None]) -> None:
        self.box = box
        self.play = play
        self._last: tuple[float, float] | None = None
        self._erase = False

    def _paint_at(self, controls: ControlPaint, x: float, y: float) -> None:
        box = self.box
        if self._erase:
            controls.erase(x, y, box.radius, [box.control])
        else:
            controls.paint(box.control, x, y, box.radius, box.value)

    def start(self, x: float, y: float, button: int) -> None:
        """A stroke begins at (x, y) cells; ``button`` is the Qt mouse button."""
        play = self.play()
        if play is None or not play.controls.names:
            return
        self._erase = self.box.erasing or button == Qt.MouseButton.RightButton.value
        self._last = (x, y)
        self._paint_at(play.controls, x, y)

    def move(self, x: float, y: float) -> None:
        play = self.play()
        if self._last is None or play is None:
            return
        x0, y0 = self._last
        # Fill the gap between two mouse events so a fast stroke leaves no holes.
        steps = max(1, int(math.hypot(x - x0, y - y0) / max(self.box.radius * 0.5, 0.5)))
        for k in range(1, steps + 1):
            self._paint_at(play.controls, x0 + k / steps * (x - x0), y0 + k / steps * (y - y0))
        self._last = (x, y)

    def finish(self, x: float, y: float) -> None:
        self.move(x, y)
        self._last = None
