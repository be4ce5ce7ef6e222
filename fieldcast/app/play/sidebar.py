"""The Play panel's side controls: transport (play, step, reset, clear, speed, scene, grid), display
(channel, colour map, value range) and output (compare, record, screenshot)."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.play.channels import CHANNELS
from fieldcast.app.play.scenes import DEFAULT_SCENE, scene_names
from fieldcast.widgets.field_colors import COLORMAPS

__all__ = ["connect_transport", "DisplayBox", "OutputBox", "TransportBox", "message_label", "sidebar_scroll"]

#: speed menu text -> target steps per second (0: as fast as the backend can)
SPEEDS = {"¼× (15/s)": 15.0, "½× (30/s)": 30.0, "1× (60/s)": 60.0, "2× (120/s)": 120.0, "Max": 0.0}
GRIDS = (64, 96, 128, 192, 256)


class TransportBox(QGroupBox):
    """Play/pause, single step, reset and simulation speed; with ``scene_controls`` also clear, the
    starting scene and the grid resolution (the smoke page), else only the first four (the melt page).

    Parameters
    ----------
    scene_controls : show Clear, Scene and Grid.
    reset_tip : what Reset does, for its tooltip.
    """

    sig_speed_changed = Signal(float)
    """Target steps per second changed (0 for as fast as possible)."""

    def __init__(
        self,
        scene_controls: bool = True,
        reset_tip: str = "Back to the start of the scene",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Simulation", parent)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setShortcut("Space")
        self.play_button.setToolTip("Play or pause (Space)")
        self.step_button = QPushButton("Step")
        self.step_button.setShortcut("S")
        self.step_button.setToolTip("Advance one frame (S)")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setShortcut("R")
        self.reset_button.setToolTip(f"{reset_tip} (R)")
        buttons = QGridLayout()
        buttons.addWidget(self.play_button, 0, 0)
        buttons.addWidget(self.step_button, 0, 1)
        buttons.addWidget(self.reset_button, 1, 0, 1, 1 if scene_controls else 2)
        self.speed_combo = QComboBox()
        self.speed_combo.addItems(list(SPEEDS))
        self.speed_combo.setCurrentText("1× (60/s)")
        self.speed_combo.currentTextChanged.connect(lambda t: self.sig_speed_changed.emit(SPEEDS[t]))
        form = QFormLayout()
        form.addRow("Speed", self.speed_combo)
        if scene_controls:
            self.clear_button = QPushButton("Clear")
            self.clear_button.setToolTip("Remove all smoke, flow, emitters and colliders")
            buttons.addWidget(self.clear_button, 1, 1)
            self.scene_combo = QComboBox()
            self.scene_combo.addItems(scene_names())
            self.scene_combo.setCurrentText(DEFAULT_SCENE)
            self.grid_combo = QComboBox()
            for n in GRIDS:
                self.grid_combo.addItem(f"{n} × {n}", n)
            self.grid_combo.setCurrentIndex(GRIDS.index(128))
            form.addRow("Scene", self.scene_combo)
            form.addRow("Grid", self.grid_combo)
        box = QVBoxLayout(self)
        box.addLayout(buttons)
        box.addLayout(form)

    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_combo.currentText()]

    def set_playing(self, playing: bool) -> None:
        """Show the play button's state without emitting a click."""
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.blockSignals(False)


class DisplayBox(QGroupBox):
    """Channel shown, its colour map and its value range (automatic or fixed).

    Parameters
    ----------
    channels : ``{channel: (label, colour map)}`` offered, in order; default the smoke page's channels.
    """

    sig_display_changed = Signal()
    """Channel, colour map or range changed."""

    def __init__(
        self, channels: Mapping[str, tuple[str, str]] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__("Display", parent)
        self.channel_combo = QComboBox()
        self.channel_combo.setMinimumContentsLength(14)
        self.channel_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self._colormaps: dict[str, str] = {}
        self._fill_channels(channels or {n: (n, c.colormap) for n, c in CHANNELS.items()})
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(list(COLORMAPS))
        self.cmap_combo.setCurrentText("inferno")
        self.auto_check = QCheckBox("Auto range")
        self.auto_check.setChecked(True)
        self.low_spin, self.high_spin = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, value in ((self.low_spin, 0.0), (self.high_spin, 1.0)):
            spin.setRange(-1e6, 1e6)
            spin.setDecimals(3)
            spin.setSingleStep(0.05)
            spin.setValue(value)
            spin.setEnabled(False)
            spin.valueChanged.connect(self.sig_display_changed)
        range_row = QHBoxLayout()
        range_row.addWidget(self.low_spin)
        range_row.addWidget(self.high_spin)
        form = QFormLayout(self)
        form.addRow("Channel", self.channel_combo)
        form.addRow("Colours", self.cmap_combo)
        form.addRow(self.auto_check)
        form.addRow("Range", range_row)
        self.channel_combo.currentIndexChanged.connect(self._on_channel_changed)
        self.cmap_combo.currentTextChanged.connect(self.sig_display_changed)
        self.auto_check.toggled.connect(self._on_auto_toggled)

    def _fill_channels(self, channels: Mapping[str, tuple[str, str]]) -> None:
        self.channel_combo.clear()
        self._colormaps = {}
        for name, (label, cmap) in channels.items():
            self.channel_combo.addItem(label, name)
            self._colormaps[name] = cmap if cmap in COLORMAPS else "viridis"

    def set_channels(self, channels: Mapping[str, tuple[str, str]]) -> None:
        """Offer ``{channel: (label, colour map)}`` instead, showing the first with its colour map."""
        self.channel_combo.blockSignals(True)
        self._fill_channels(channels)
        self.channel_combo.setCurrentIndex(0)
        self.channel_combo.blockSignals(False)
        self._on_channel_changed()

    def set_channel(self, name: str) -> None:
        """Show channel ``name`` (one of those offered)."""
        self.channel_combo.setCurrentIndex(self.channel_combo.findData(name))

    @property
    def channel(self) -> str:
        return self.channel_combo.currentData() or ""

    @property
    def cmap(self) -> str:
        return self.cmap_combo.currentText()

    def show_range(self, low: float, high: float) -> None:
        """Display the automatic range in the (disabled) spin boxes."""
        for spin, value in ((self.low_spin, low), (self.high_spin, high)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    @property
    def fixed_range(self) -> tuple[float, float] | None:
        """The user's range, or None for automatic."""
        if self.auto_check.isChecked():
            return None
        return self.low_spin.value(), self.high_spin.value()

    def _on_channel_changed(self, _index: int = 0) -> None:
        cmap = self._colormaps.get(self.channel)
        if cmap:
            self.cmap_combo.setCurrentText(cmap)
        self.auto_check.setChecked(True)
        self.sig_display_changed.emit()

    def _on_auto_toggled(self, auto: bool) -> None:
        self.low_spin.setEnabled(not auto)
        self.high_spin.setEnabled(not auto)
        self.sig_display_changed.emit()


class OutputBox(QGroupBox):
    """Solver comparison toggle, recording and screenshots."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Compare and record", parent)
        self.compare_check = QCheckBox("Compare with solver")
        self.compare_check.setToolTip(
            "Run the reference solver from the same state and controls beside the model, with the error"
        )
        self.bounds_check = QCheckBox("Safety bounds")
        self.bounds_check.setChecked(True)
        self.bounds_check.setToolTip(
            "Hold the model to what advection allows (no smoke from nothing, no more smoke than was there "
            "plus what emitters add, speed at most 4 cells/frame). The readout shows the share of cells "
            "they changed in the last step; off, the model runs alone."
        )
        self.record_button = QPushButton("Record…")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Record the canvas to a GIF or MP4 file; click again to stop")
        self.screenshot_button = QPushButton("Screenshot…")
        row = QHBoxLayout()
        row.addWidget(self.record_button)
        row.addWidget(self.screenshot_button)
        box = QVBoxLayout(self)
        box.addWidget(self.compare_check)
        box.addWidget(self.bounds_check)
        box.addLayout(row)


def connect_transport(transport: TransportBox, stepper, *, play, pause, reset) -> None:
    """Wire a page's transport box to its stepper: play/pause, one step, reset and speed, and the
    stepper's running state back to the play button. Every Play page steps through this same wiring."""
    stepper.sig_running.connect(transport.set_playing)
    transport.play_button.toggled.connect(lambda on: play() if on else pause())
    transport.step_button.clicked.connect(stepper.step_once)
    transport.reset_button.clicked.connect(reset)
    transport.sig_speed_changed.connect(lambda rate: setattr(stepper, "rate", rate))


def sidebar_scroll(side: QWidget, width: int = 310) -> QScrollArea:
    """The fixed-width, vertically scrolling column that holds a Play page's controls."""
    scroll = QScrollArea()
    scroll.setWidget(side)
    scroll.setWidgetResizable(True)
    scroll.setFixedWidth(width)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    return scroll


def message_label(object_name: str) -> QLabel:
    """The inline problem message above a Play page's views (hidden until there is something to say)."""
    label = QLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setStyleSheet("background:#5a2327; color:#ffe9e9; padding:6px; border-radius:3px;")
    label.hide()
    return label
