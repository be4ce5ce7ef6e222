"""Preview of one dataset: its summary, splits and problems, and a frame browser over a field view.

Only the frame on screen is read (``FieldDataset.read_frame``: one chunk, well under a millisecond at
128² and a few at 512²), so reading it in the GUI thread keeps scrubbing and playing smooth without the
cost and races of a reader thread.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.data.loading import DatasetEntry
from fieldcast.engine.data import DatasetError, FieldDataset
from fieldcast.widgets.field_view import COLORMAPS, FieldView

__all__ = ["DatasetPreview"]

_PLAY_FPS = 12


def _summary_html(entry: DatasetEntry, ds: FieldDataset) -> str:
    nx, ny = ds.grid
    origin = "foreign Well file (generic system)" if ds.is_foreign else f"system <b>{ds.spec.name}</b>"
    lines = [
        f"<b>{html.escape(entry.path.name)}</b> — {origin}",
        f"{ds.n_trajectories} trajectories × {ds.n_frames} frames of {nx}×{ny} cells, "
        f"Δt = {ds.dt:g} {html.escape(ds.spec.time_units)}, {len(ds.channel_names)} channels",
    ]
    if entry.splits:
        unit = "traj" if ds.split_recipe.get("method") == "trajectory" else "segments"
        parts = [f"{name} {frames} frames ({n} {unit})" for name, (n, frames) in entry.splits.items()]
        stored = "stored" if ds.has_stored_splits else "default"
        lines.append(f"Splits ({stored}): " + " · ".join(parts))
    if ds.unmapped:
        lines.append("Not mapped: " + html.escape(", ".join(ds.unmapped)))
    return "<br>".join(lines)


class DatasetPreview(QWidget):
    """Browse the frames of one dataset: trajectory, frame, channel; colour map and range in the view."""

    sig_frame_shown = Signal(int, int, str)
    """A frame is on screen: (trajectory, frame, channel)."""
    sig_read_failed = Signal(str)
    """Reading a frame failed: the one-line error."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entry: DatasetEntry | None = None
        self._dataset: FieldDataset | None = None

        self.summary_label = QLabel()
        self.summary_label.setObjectName("summary_label")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems_label")
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.setStyleSheet("color: #b35c00;")

        self.trajectory_spin = QSpinBox()
        self.trajectory_spin.setToolTip("Trajectory")
        self.channel_combo = QComboBox()
        self.channel_combo.setToolTip("Channel")
        self.channel_combo.setMinimumContentsLength(10)
        self.play_button = QToolButton()
        self.play_button.setCheckable(True)
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play the frames of this trajectory")
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_slider.setToolTip("Frame")
        self.frame_spin = QSpinBox()
        self.frame_spin.setToolTip("Frame")
        self.time_label = QLabel()
        self.time_label.setMinimumWidth(90)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Trajectory"))
        controls.addWidget(self.trajectory_spin)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Channel"))
        controls.addWidget(self.channel_combo)
        controls.addSpacing(12)
        controls.addWidget(self.play_button)
        controls.addWidget(QLabel("Frame"))
        controls.addWidget(self.frame_slider, 1)
        controls.addWidget(self.frame_spin)
        controls.addWidget(self.time_label)

        self.view = FieldView()
        self.error_label = QLabel()
        self.error_label.setObjectName("read_error_label")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.hide()

        box = QVBoxLayout(self)
        box.addWidget(self.summary_label)
        box.addWidget(self.problems_label)
        box.addLayout(controls)
        box.addWidget(self.view, 1)
        box.addWidget(self.error_label)

        self._timer = QTimer(self)
        self._timer.setInterval(1000 // _PLAY_FPS)
        self._timer.timeout.connect(self._on_play_timer_timeout)
        self.trajectory_spin.valueChanged.connect(self._on_trajectory_changed)
        self.channel_combo.currentTextChanged.connect(self._on_channel_changed)
        self.frame_slider.valueChanged.connect(self._on_frame_slider_changed)
        self.frame_spin.valueChanged.connect(self._on_frame_spin_changed)
        self.play_button.toggled.connect(self._on_play_button_toggled)

    # Public API -----------------------------------------------------------------------------------------
    def set_entry(self, entry: DatasetEntry) -> None:
        """Preview a usable entry (``entry.dataset`` set); shows its first frame of its first channel."""
        self.stop()
        self._entry = entry
        self._dataset = ds = entry.dataset
        self.summary_label.setText(_summary_html(entry, ds))
        if entry.problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in entry.problems)
            self.problems_label.setText(f"<b>Validation problems</b><ul style='margin:0'>{items}</ul>")
        self.problems_label.setVisible(bool(entry.problems))
        for widget in (self.trajectory_spin, self.channel_combo, self.frame_slider, self.frame_spin):
            widget.blockSignals(True)
        self.trajectory_spin.setRange(0, ds.n_trajectories - 1)
        self.trajectory_spin.setValue(0)
        self.frame_slider.setRange(0, ds.n_frames - 1)
        self.frame_spin.setRange(0, ds.n_frames - 1)
        self.frame_slider.setValue(0)
        self.frame_spin.setValue(0)
        self.channel_combo.clear()
        self.channel_combo.addItems(ds.channel_names)
        for widget in (self.trajectory_spin, self.channel_combo, self.frame_slider, self.frame_spin):
            widget.blockSignals(False)
        self.play_button.setEnabled(ds.n_frames > 1)
        self._apply_channel_colormap()
        self.show_frame()

    def clear(self) -> None:
        self.stop()
        self._entry = self._dataset = None
        self.view.clear()

    def entry(self) -> DatasetEntry | None:
        return self._entry

    def position(self) -> tuple[int, int, str]:
        """(trajectory, frame, channel) on screen."""
        return self.trajectory_spin.value(), self.frame_spin.value(), self.channel_combo.currentText()

    def set_position(
        self, trajectory: int | None = None, frame: int | None = None, channel: str | None = None
    ):
        """Move to a trajectory / frame / channel (None keeps the current one)."""
        if trajectory is not None:
            self.trajectory_spin.setValue(trajectory)
        if channel is not None:
            self.channel_combo.setCurrentText(channel)
        if frame is not None:
            self.frame_spin.setValue(frame)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def stop(self) -> None:
        """Stop playing (keeps the frame on screen)."""
        self.play_button.setChecked(False)

    def show_frame(self) -> None:
        """Read and show the frame the controls point at."""
        ds = self._dataset
        if ds is None or not self.channel_combo.currentText():
            return
        traj, frame, channel = self.position()
        try:
            data = ds.read_frame(traj, frame, channel)
        except (DatasetError, OSError, KeyError, IndexError) as exc:
            self.stop()
            message = str(exc) if isinstance(exc, DatasetError) else f"{ds.path}: {exc}"
            self.error_label.setText(message)
            self.error_label.show()
            self.view.clear()
            self.sig_read_failed.emit(message)
            return
        self.error_label.hide()
        self.view.set_field(data, ds.channel_units().get(channel, ""), levels=self._channel_levels(channel))
        self.time_label.setText(f"t = {float(ds.times()[frame]):.4g} {ds.spec.time_units}")
        self.sig_frame_shown.emit(traj, frame, channel)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt override
        self.stop()  # no reading for a preview nobody sees
        super().hideEvent(event)

    # Internals ------------------------------------------------------------------------------------------
    def _channel_levels(self, channel: str) -> tuple[float, float] | None:
        stats = self._dataset.stats
        index = self._dataset.channel_names.index(channel)
        low, high = float(stats["min"][index]), float(stats["max"][index])
        return (low, high) if np.isfinite(low) and np.isfinite(high) else None

    def _apply_channel_colormap(self) -> None:
        channel = self.channel_combo.currentText()
        for spec_channel in self._dataset.spec.channels():
            if spec_channel.name == channel:
                name = self._dataset.spec.field(spec_channel.field).colormap
                self.view.set_colormap(name if name in COLORMAPS else "viridis")
                return

    # Handlers -------------------------------------------------------------------------------------------
    def _on_trajectory_changed(self, _value: int) -> None:
        self.show_frame()

    def _on_channel_changed(self, _name: str) -> None:
        if self._dataset is not None and _name:
            self._apply_channel_colormap()
            self.show_frame()

    def _on_frame_slider_changed(self, value: int) -> None:
        self.frame_spin.setValue(value)  # the spin box shows the frame

    def _on_frame_spin_changed(self, value: int) -> None:
        self.frame_slider.blockSignals(True)
        self.frame_slider.setValue(value)
        self.frame_slider.blockSignals(False)
        self.show_frame()

    def _on_play_button_toggled(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        if playing and self._dataset is not None:
            self._timer.start()
        else:
            self._timer.stop()

    def _on_play_timer_timeout(self) -> None:
        frame = self.frame_spin.value() + 1
        self.frame_spin.setValue(0 if frame > self.frame_spin.maximum() else frame)
