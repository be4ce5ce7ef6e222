"""The painting tools of the Play panel and the strip of buttons and sliders that picks them.

:class:`ToolBox` owns the choice (tool, brush size, force strength and decay); :class:`Painter` turns the
canvas's strokes into edits of a :class:`~fieldcast.app.play.controls.ControlState`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.play.controls import ControlState
from fieldcast.app.play.simulation import Simulation

__all__ = ["TOOLS", "Painter", "ToolBox"]

#: tool id -> (button text, tooltip)
TOOLS: dict[str, tuple[str, str]] = {
    "emitter": ("Emitter", "Paint smoke sources (E)"),
    "collider": ("Collider", "Paint solid obstacles (C)"),
    "erase": ("Eraser", "Erase emitters and colliders (X); the right mouse button always erases"),
    "velocity": ("Velocity", "Drag to push the flow along the mouse path (V)"),
}


class ToolBox(QGroupBox):
    """Tool buttons, brush size, and the strength and decay of velocity drags."""

    sig_tool_changed = Signal(str)
    """The current tool changed (tool id)."""
    sig_brush_changed = Signal(float)
    """The brush radius changed (cells)."""
    sig_force_changed = Signal(float, float)
    """Velocity-drag strength (cells/frame per cell dragged) and decay per step (0-1) changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Tools", parent)
        self.buttons: dict[str, QToolButton] = {}
        self._group = QButtonGroup(self)
        row = QHBoxLayout()
        row.setSpacing(2)
        for tool, (text, tip) in TOOLS.items():
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setShortcut(tip[-2])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self._group.addButton(button)
            self.buttons[tool] = button
            row.addWidget(button)
            button.toggled.connect(lambda on, t=tool: on and self.sig_tool_changed.emit(t))
        self.buttons["emitter"].setChecked(True)

        self.brush = QSpinBox()
        self.brush.setRange(1, 40)
        self.brush.setValue(5)
        self.brush.setSuffix(" cells")
        self.brush.setToolTip("Brush radius")
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.0, 2.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.15)
        self.strength.setToolTip("Velocity added per cell of mouse drag, cells/frame")
        self.decay = QDoubleSpinBox()
        self.decay.setRange(0.0, 0.99)
        self.decay.setSingleStep(0.05)
        self.decay.setValue(0.8)
        self.decay.setToolTip("Share of a drag's force kept at the next step (0: one step only)")
        self.brush.valueChanged.connect(lambda v: self.sig_brush_changed.emit(float(v)))
        self.strength.valueChanged.connect(self._on_force_changed)
        self.decay.valueChanged.connect(self._on_force_changed)

        form = QFormLayout()
        form.addRow("Brush", self.brush)
        form.addRow("Push strength", self.strength)
        form.addRow("Push decay", self.decay)
        box = QVBoxLayout(self)
        box.addLayout(row)
        box.addLayout(form)

    @property
    def tool(self) -> str:
        return next(t for t, b in self.buttons.items() if b.isChecked())

    def set_tool(self, tool: str) -> None:
        self.buttons[tool].setChecked(True)

    def _on_force_changed(self) -> None:
        self.sig_force_changed.emit(self.strength.value(), self.decay.value())


class Painter:
    """Applies canvas strokes to a simulation's controls with the tool box's current settings."""

    def __init__(self, tools: ToolBox, simulation: Simulation) -> None:
        self.tools = tools
        self.simulation = simulation
        self._last: tuple[float, float] | None = None
        self._kind = "emitter"

    @property
    def controls(self) -> ControlState:
        # Read each time: a new grid size gives the simulation a new control state.
        return self.simulation.controls

    def start(self, x: float, y: float, button: int) -> None:
        """A stroke begins at (x, y) cells; ``button`` is the Qt mouse button (right erases)."""
        tool = self.tools.tool
        self._kind = "erase" if button == Qt.MouseButton.RightButton.value else tool
        self._last = (x, y)
        if self._kind != "velocity":
            self.controls.paint(self._kind, x, y, self.tools.brush.value())

    def move(self, x: float, y: float) -> None:
        if self._last is None:
            return
        x0, y0 = self._last
        radius = float(self.tools.brush.value())
        if self._kind == "velocity":
            self.controls.force_decay = self.tools.decay.value()
            self.controls.push(x0, y0, x, y, radius, self.tools.strength.value())
        else:
            # Fill the gap between two mouse events so a fast stroke leaves no holes.
            steps = max(1, int(((x - x0) ** 2 + (y - y0) ** 2) ** 0.5 / max(radius * 0.5, 0.5)))
            for k in range(1, steps + 1):
                t = k / steps
                self.controls.paint(self._kind, x0 + t * (x - x0), y0 + t * (y - y0), radius)
        self._last = (x, y)

    def finish(self, x: float, y: float) -> None:
        self.move(x, y)
        self._last = None
