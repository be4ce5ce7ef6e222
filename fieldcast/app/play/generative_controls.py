"""Side controls of the generative Play page: model, condition (draw or dataset), drawing tools, sampling.

Plain widget boxes with named children; the page (:mod:`fieldcast.app.play.generative_view`) wires them.
"""

from __future__ import annotations

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
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.play.generative_condition import SOURCES

__all__ = ["ConditionBox", "DrawBox", "ModelBox", "SamplingBox", "TOOLS"]

#: radio drawing tools: label -> what a press does
TOOLS = {"Building": "paint", "Erase": "erase", "Transmitter": "transmitter"}


class ModelBox(QGroupBox):
    """The source, the models of that source to choose from (shipped, exported from runs, opened), the
    model in use, and a button to open another file."""

    sig_model_chosen = Signal(str)
    """The user chose a model of the list (its path)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.source_combo = QComboBox(objectName="generative_source")
        for key, layout in SOURCES.items():
            self.source_combo.addItem(layout.label, key)
        self.model_combo = QComboBox(objectName="generative_models")
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_label = QLabel("No model", objectName="generative_model_label", wordWrap=True)
        self.open_button = QPushButton("Open model…", objectName="generative_open_model")
        form = QFormLayout(self)
        form.addRow("Source", self.source_combo)
        form.addRow("Model", self.model_combo)
        form.addRow("In use", self.model_label)
        form.addRow(self.open_button)
        self.model_combo.activated.connect(self._on_model_activated)

    def set_models(self, models: list[tuple[str, str]], current: str | None) -> None:
        """Offer ``models`` (label, path), with ``current`` selected (a placeholder when it is None)."""
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        if current is None or current not in [path for _, path in models]:
            self.model_combo.addItem("— no model —" if not models else "— choose a model —", "")
        for label, path in models:
            self.model_combo.addItem(label, path)
            self.model_combo.setItemData(self.model_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(current or "")))
        self.model_combo.blockSignals(False)

    def _on_model_activated(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if path:
            self.sig_model_chosen.emit(str(path))

    @property
    def source(self) -> str:
        return str(self.source_combo.currentData())

    def set_source(self, source: str) -> None:
        self.source_combo.setCurrentIndex(self.source_combo.findData(source))


class ConditionBox(QGroupBox):
    """Draw the condition, or take one from a dataset file (open a .h5, pick a sample), or a random one."""

    sig_mode_changed = Signal(str)
    """"draw" or "dataset"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Condition", parent)
        self.draw_radio = QRadioButton("Draw it", objectName="generative_mode_draw")
        self.dataset_radio = QRadioButton("From a dataset", objectName="generative_mode_dataset")
        self.draw_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.draw_radio)
        group.addButton(self.dataset_radio)
        self.open_button = QPushButton("Open dataset…", objectName="generative_open_dataset")
        self.file_label = QLabel("No dataset", objectName="generative_dataset_label", wordWrap=True)
        self.sample_spin = QSpinBox(objectName="generative_sample")
        self.sample_spin.setRange(0, 0)
        self.sample_spin.setEnabled(False)
        self.sample_spin.setToolTip("Sample of the dataset (trajectories × frames, in order)")
        self.random_button = QPushButton("Random condition", objectName="generative_random")
        self.random_button.setToolTip("Draw a condition (and its reference) as the data generator does")
        modes = QHBoxLayout()
        modes.addWidget(self.draw_radio)
        modes.addWidget(self.dataset_radio)
        form = QFormLayout()
        form.addRow("Sample", self.sample_spin)
        column = QVBoxLayout(self)
        column.addLayout(modes)
        column.addWidget(self.open_button)
        column.addWidget(self.file_label)
        column.addLayout(form)
        column.addWidget(self.random_button)
        self.draw_radio.toggled.connect(self._on_draw_toggled)

    @property
    def mode(self) -> str:
        return "draw" if self.draw_radio.isChecked() else "dataset"

    def _on_draw_toggled(self, on: bool) -> None:
        self.sig_mode_changed.emit("draw" if on else "dataset")


class DrawBox(QGroupBox):
    """Drawing tools: buildings, eraser and transmitter (radio); the laser's power and speed (infrared)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Draw", parent)
        self.tool_buttons: dict[str, QPushButton] = {}
        self.tools = QButtonGroup(self)
        tool_row = QHBoxLayout()
        for label in TOOLS:
            button = QPushButton(label, objectName=f"generative_tool_{TOOLS[label]}")
            button.setCheckable(True)
            self.tools.addButton(button)
            self.tool_buttons[TOOLS[label]] = button
            tool_row.addWidget(button)
        self.tool_buttons["paint"].setChecked(True)
        self.brush = QDoubleSpinBox(objectName="generative_brush")
        self.brush.setRange(0.5, 12.0)
        self.brush.setSingleStep(0.5)
        self.brush.setValue(2.5)
        self.brush.setSuffix(" cells")
        self.power = QDoubleSpinBox(objectName="generative_power")
        self.power.setRange(20.0, 400.0)
        self.power.setValue(150.0)
        self.power.setSuffix(" W")
        self.speed = QDoubleSpinBox(objectName="generative_speed")
        self.speed.setRange(50.0, 2000.0)
        self.speed.setSingleStep(50.0)
        self.speed.setValue(500.0)
        self.speed.setSuffix(" mm/s")
        self.clear_button = QPushButton("Clear", objectName="generative_clear")
        self.hint = QLabel(wordWrap=True)
        self.hint.setStyleSheet("color:#777;")
        self.radio_widgets = QWidget()
        radio = QFormLayout(self.radio_widgets)
        radio.setContentsMargins(0, 0, 0, 0)
        radio.addRow(tool_row)
        radio.addRow("Brush", self.brush)
        self.ir_widgets = QWidget()
        ir = QFormLayout(self.ir_widgets)
        ir.setContentsMargins(0, 0, 0, 0)
        ir.addRow("Laser power", self.power)
        ir.addRow("Scan speed", self.speed)
        column = QVBoxLayout(self)
        column.addWidget(self.radio_widgets)
        column.addWidget(self.ir_widgets)
        column.addWidget(self.clear_button)
        column.addWidget(self.hint)
        self.set_source("radio")

    @property
    def tool(self) -> str:
        return next(k for k, b in self.tool_buttons.items() if b.isChecked())

    def set_source(self, source: str) -> None:
        radio = source == "radio"
        self.radio_widgets.setVisible(radio)
        self.ir_widgets.setVisible(not radio)
        self.hint.setText(
            "Drag on the condition to paint buildings (right button erases); with Transmitter, click "
            "where it stands."
            if radio
            else "Press on the plate and drag to draw the laser's path; the reference melt solver runs it "
            "at this power and speed when you press Generate."
        )


class SamplingBox(QGroupBox):
    """Denoising steps, number of samples, seed and the Generate button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Generate", parent)
        self.steps = QSpinBox(objectName="generative_steps")
        self.steps.setRange(1, 1000)
        self.steps.setValue(20)
        self.steps.setToolTip("Denoising steps: more are slower and usually closer to the data")
        self.samples = QSpinBox(objectName="generative_samples")
        self.samples.setRange(1, 16)
        self.samples.setValue(4)
        self.samples.setToolTip("Samples of the same condition: their spread is the model's uncertainty")
        self.seed = QSpinBox(objectName="generative_seed")
        self.seed.setRange(0, 2_147_483_647)
        self.generate_button = QPushButton("Generate", objectName="generative_generate")
        self.generate_button.setDefault(True)
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Steps"), 0, 0)
        grid.addWidget(self.steps, 0, 1)
        grid.addWidget(QLabel("Samples"), 1, 0)
        grid.addWidget(self.samples, 1, 1)
        grid.addWidget(QLabel("Seed"), 2, 0)
        grid.addWidget(self.seed, 2, 1)
        grid.addWidget(self.generate_button, 3, 0, 1, 2)
