"""The solver comparison view: the reference solver's frame, the live error map and error over time.

The stepper runs the reference solver from the same state and controls as the model (see
:meth:`fieldcast.app.play.simulation.Simulation.set_compare`); this view only shows what the frames carry.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from fieldcast.app.play.channels import channel_data
from fieldcast.app.play.simulation import Frame
from fieldcast.widgets.field_canvas import FieldCanvas

__all__ = ["CompareView"]

_MAX_POINTS = 5000


class CompareView(QWidget):
    """Reference solver canvas, |model − solver| density map and a density-RMSE-over-time plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.solver_canvas = FieldCanvas("Reference solver")
        self.error_canvas = FieldCanvas("|model − solver| density")
        self.error_canvas.set_colormap("magma", (0.0, 0.5))
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(120)
        self.plot.setMaximumHeight(180)
        self.plot.setLabel("left", "density RMSE")
        self.plot.setLabel("bottom", "frame")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setDownsampling(mode="peak")
        self.plot.setClipToView(True)
        self.curve = self.plot.plot(pen=pg.mkPen("#f0a030", width=1))
        self.frames: list[int] = []
        self.errors: list[float] = []
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.solver_canvas, 3)
        box.addWidget(self.error_canvas, 3)
        box.addWidget(self.plot, 2)

    def clear(self) -> None:
        """Forget the error history (a restart or a new comparison)."""
        self.frames.clear()
        self.errors.clear()
        self.curve.setData([], [])

    def add_error(self, frame: Frame) -> None:
        """Record the error of ``frame`` (cheap; the plot is redrawn by :meth:`show_frame`)."""
        if frame.error is None:
            return
        if self.frames and frame.index <= self.frames[-1]:
            self.clear()  # the simulation restarted
        self.frames.append(frame.index)
        self.errors.append(frame.error)
        if len(self.frames) > _MAX_POINTS:
            del self.frames[: len(self.frames) - _MAX_POINTS]
            del self.errors[: len(self.errors) - _MAX_POINTS]

    def show_frame(self, frame: Frame, channel: str, cmap: str, clim: tuple[float, float]) -> None:
        """Draw the reference frame of ``frame`` as ``channel``, its error map and the error curve."""
        if frame.reference_density is None:
            return
        ref = channel_data(channel, frame.reference_density, frame.reference_velocity)
        self.solver_canvas.set_colormap(cmap, clim)
        self.solver_canvas.set_field(ref)
        self.solver_canvas.set_masks(frame.emitter, frame.collider)
        error = np.abs(frame.density - frame.reference_density)
        self.error_canvas.set_field(error)
        self.error_canvas.set_masks(None, None)
        self.curve.setData(self.frames, self.errors)
