"""The Play panel's stress page: pull a polycrystal, see the network's von Mises stress beside the solver.

Choose a microstructure (Voronoi with 5, 10 or 20 grains, a circular or a square inclusion) and a seed, or
make one: click a grain to select it (its material shows in the sidebar), set a grain's E, ν, ξ0 and h0,
add a new grain, and paint the selected grain onto the cell with a round brush (press and drag on any
picture; the cell is periodic, so the brush wraps at the edges). Drag the load slider or press Play to pull
the cell in tension one increment (ΔF11 = 2e-4) at a time. Three pictures show the network's σvM, the
solver's σvM and their difference, with the MAE in MPa and the time each takes per increment (a network
that predicts several increments per call is called once per block; its time per increment is the call's
time divided by the increments it covers). The stepping runs in a
:class:`~fieldcast.app.play.stepper.Stepper` thread; the page keeps every frame it received, so dragging the
slider back shows earlier increments at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.play.field_display import field_picture
from fieldcast.app.play.model_opening import ModelOpener
from fieldcast.app.play.sidebar import message_label, sidebar_scroll
from fieldcast.app.play.stepper import Stepper
from fieldcast.engine.model_format import OUTPUT
from fieldcast.engine.runtime import ModelError, ModelSession
from fieldcast.engine.systems.stress.microstructure import RANGES, Microstructure, sample_microstructure
from fieldcast.engine.systems.stress.play import MAX_INCREMENTS, StressFrame, StressPlay, grain_error
from fieldcast.resources import resource_path

__all__ = ["MICROSTRUCTURES", "SHIPPED", "StressView", "default_stress_model", "shipped_stress_models"]

#: what the microstructure chooser offers: label -> (kind, grains)
MICROSTRUCTURES = {
    "Voronoi, 10 grains": ("voronoi", 10),
    "Voronoi, 5 grains": ("voronoi", 5),
    "Voronoi, 20 grains": ("voronoi", 20),
    "Circular inclusion": ("circle", 2),
    "Square inclusion": ("square", 2),
}
_SIZE = 64
_PICTURE = 256


#: the shipped stress models the page offers: file name -> what it is
SHIPPED = {
    "stress_default.onnx": "ResUNet, one increment per call",
    "stress_fast.onnx": "fast ResUNet, 20 increments per call",
    "stress_paper_setup.onnx": "reference study's U-Net, one increment per call",
}


def default_stress_model() -> Path | None:
    """The shipped stress model, if this installation has it."""
    path = resource_path("models", "stress_default.onnx")
    return path if path.is_file() else None


def shipped_stress_models() -> dict[str, Path]:
    """The shipped stress models this installation has: label -> path."""
    found = {}
    for name, what in SHIPPED.items():
        path = resource_path("models", name)
        if path.is_file():
            found[f"{name} ({what})"] = path
    return found


class FieldImage(QLabel):
    """One field as a picture; a press, a drag and a release report the grid cells under the mouse."""

    sig_cell_clicked = Signal(int, int)
    """The user pressed the mouse on cell (ix, iy)."""
    sig_cell_dragged = Signal(int, int)
    """The mouse moved over cell (ix, iy) with its button held."""
    sig_released = Signal()
    """The mouse button was released (the end of a stroke)."""

    def __init__(self, title: str, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setFixedSize(_PICTURE, _PICTURE)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setToolTip(title)
        self.shape = (_SIZE, _SIZE)
        self.pixels: np.ndarray | None = None

    def show_field(
        self, data: np.ndarray, cmap: str, clim: tuple[float, float], overlay: np.ndarray | None = None
    ) -> None:
        self.shape = data.shape
        picture = field_picture(data, cmap, clim, overlay, min_size=_PICTURE)
        rgb = np.ascontiguousarray(picture[:_PICTURE, :_PICTURE])
        self.pixels = rgb
        h, w, _ = rgb.shape
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.setPixmap(QPixmap.fromImage(image))

    def _cell(self, event: QMouseEvent) -> tuple[int, int] | None:
        nx, ny = self.shape
        scale = max(1, -(-_PICTURE // max(nx, ny)))
        pos = event.position()
        ix, row = int(pos.x()) // scale, int(pos.y()) // scale
        return (ix, ny - 1 - row) if 0 <= ix < nx and 0 <= row < ny else None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        cell = self._cell(event)
        if cell is not None:
            self.sig_cell_clicked.emit(*cell)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        cell = self._cell(event)
        if cell is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.sig_cell_dragged.emit(*cell)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.sig_released.emit()


class _MaterialBox(QGroupBox):
    """The grains: the selected one, its material, a new grain, and the brush that paints it."""

    def __init__(self) -> None:
        super().__init__("Grains (click one to select it)")
        form = QFormLayout(self)
        self.grain = QSpinBox()
        self.grain.setObjectName("stress_grain")
        self.grain.setMinimumWidth(60)
        self.new_grain = QPushButton("New")
        self.new_grain.setObjectName("stress_new_grain")
        self.new_grain.setToolTip("Add a grain with the material below and select it, ready to paint")
        row = QHBoxLayout()
        row.addWidget(self.grain)
        row.addWidget(self.new_grain)
        form.addRow("Grain", row)
        self.fields: dict[str, QDoubleSpinBox] = {}
        for name, label, scale, decimals in (
            ("E", "E (GPa)", 1e-3, 0),
            ("nu", "ν", 1.0, 3),
            ("xi0", "ξ0 (MPa)", 1.0, 0),
            ("h0", "h0 (GPa)", 1e-3, 1),
        ):
            box = QDoubleSpinBox()
            box.setObjectName(f"stress_{name}")
            lo, hi = RANGES[name]
            box.setDecimals(decimals)
            box.setRange(lo * scale, hi * scale)
            box.setValue((lo + hi) / 2 * scale)
            self.fields[name] = box
            form.addRow(label, box)
        self.apply = QPushButton("Set the grain's material")
        self.apply.setObjectName("stress_set_material")
        form.addRow(self.apply)
        self.paint = QCheckBox("A click gives a grain this material")
        self.paint.setObjectName("stress_paint")
        form.addRow(self.paint)
        self.brush = QCheckBox("Brush: drag to paint the grain")
        self.brush.setObjectName("stress_brush")
        form.addRow(self.brush)
        self.radius = QSpinBox()
        self.radius.setObjectName("stress_brush_radius")
        self.radius.setRange(0, 16)
        self.radius.setValue(3)
        self.radius.setSuffix(" cells")
        form.addRow("Brush radius", self.radius)
        self.brush.toggled.connect(lambda on: self.paint.setChecked(False) if on else None)
        self.paint.toggled.connect(lambda on: self.brush.setChecked(False) if on else None)

    def properties(self) -> np.ndarray:
        """``(E, nu, xi0, h0)`` in solver units (MPa)."""
        scales = {"E": 1e3, "nu": 1.0, "xi0": 1.0, "h0": 1e3}
        return np.array([self.fields[n].value() * scales[n] for n in ("E", "nu", "xi0", "h0")])

    def show_properties(self, props: np.ndarray) -> None:
        """Show ``(E, nu, xi0, h0)`` (solver units) in the fields."""
        scales = {"E": 1e-3, "nu": 1.0, "xi0": 1.0, "h0": 1e-3}
        for value, name in zip(props, ("E", "nu", "xi0", "h0"), strict=True):
            self.fields[name].setValue(float(value) * scales[name])


class StressView(QWidget):
    """The stress page. ``model`` defaults to the shipped stress model; without one the solver plays alone."""

    sig_status = Signal(str)
    """A short message for the status bar."""
    sig_file_opened = Signal(str)
    """A model file opened successfully (path), for the recent files."""

    def __init__(self, model: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.opener = ModelOpener(self)
        self.session: ModelSession | None = None
        self.model_path: Path | None = None
        self.frames: list[StressFrame] = []  # the playing cell's history, one frame per increment
        self.target = 0
        self.micro = sample_microstructure(np.random.default_rng(0), (_SIZE, _SIZE))
        self.play: StressPlay | None = None
        self.stepper: Stepper | None = None
        self._stroke = False  # a brush stroke is under way (the cell restarts when it ends)
        self._initial_model = model
        self._started = False
        self._build()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._started:
            # The model and the solver's thread start when the page is first seen, not with the window.
            self._started = True
            path = self._initial_model if self._initial_model is not None else default_stress_model()
            if self.session is None and (path is None or not self.open_model(path)):
                self._restart()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        # Loading a cell behind a page nobody sees would only take a core from training.
        self.play_button.setChecked(False)
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Stop the stepping thread (the application is closing)."""
        if self.stepper is not None:
            self.stepper.stop()

    # Layout -----------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.kind = QComboBox()
        self.kind.setObjectName("stress_microstructure")
        self.kind.addItems(list(MICROSTRUCTURES))
        self.seed = QSpinBox()
        self.seed.setObjectName("stress_seed")
        self.seed.setRange(0, 1_000_000)
        self.new_button = QPushButton("New microstructure")
        self.new_button.setObjectName("stress_new")
        micro_box = QGroupBox("Microstructure")
        form = QFormLayout(micro_box)
        form.addRow("Kind", self.kind)
        form.addRow("Seed", self.seed)
        form.addRow(self.new_button)
        self.material = _MaterialBox()
        self.feed = QComboBox()
        self.feed.setObjectName("stress_feed")
        self.feed.addItems(["its own prediction (rollout)", "the solver's field (one step)"])
        self.shipped = QComboBox()
        self.shipped.setObjectName("stress_shipped")
        # long labels must not widen the sidebar column past its width
        self.shipped.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.shipped.setMinimumContentsLength(12)
        self.shipped.addItem("Shipped models…")
        self.shipped.addItems(list(shipped_stress_models()))
        self.open_button = QPushButton("Open model…")
        self.model_label = QLabel("No model: solver only")
        self.model_label.setWordWrap(True)
        model_box = QGroupBox("Network")
        col = QVBoxLayout(model_box)
        col.addWidget(self.model_label)
        col.addWidget(QLabel("Each increment the network is fed"))
        col.addWidget(self.feed)
        col.addWidget(self.shipped)
        col.addWidget(self.open_button)
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("stress_play")
        self.play_button.setCheckable(True)
        self.reset_button = QPushButton("Unload")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("stress_load")
        self.slider.setRange(0, MAX_INCREMENTS)
        self.load_label = QLabel()
        load_box = QGroupBox("Load")
        grid = QGridLayout(load_box)
        grid.addWidget(self.slider, 0, 0, 1, 2)
        grid.addWidget(self.load_label, 1, 0, 1, 2)
        grid.addWidget(self.play_button, 2, 0)
        grid.addWidget(self.reset_button, 2, 1)
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 4, 0)
        for box in (load_box, micro_box, self.material, model_box):
            column.addWidget(box)
        column.addStretch(1)

        self.network_image = FieldImage("network σvM", "stress_network")
        self.solver_image = FieldImage("solver σvM", "stress_solver")
        self.error_image = FieldImage("network − solver", "stress_error")
        pictures = QGridLayout()
        for i, (title, image) in enumerate(
            (
                ("Network σvM (MPa)", self.network_image),
                ("Solver σvM (MPa)", self.solver_image),
                ("Network − solver (MPa)", self.error_image),
            )
        ):
            pictures.addWidget(QLabel(title), 0, i)
            pictures.addWidget(image, 1, i)
        self.range_label = QLabel()
        self.readouts = QLabel()
        self.readouts.setObjectName("stress_readouts")
        self.readouts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = message_label("stress_message")
        view = QVBoxLayout()
        view.addWidget(self.message)
        view.addLayout(pictures)
        view.addWidget(self.range_label)
        view.addWidget(self.readouts)
        view.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(sidebar_scroll(side))
        row.addLayout(view, 1)

        self.new_button.clicked.connect(self._on_new_clicked)
        self.kind.currentIndexChanged.connect(self._on_new_clicked)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.reset_button.clicked.connect(self._restart)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.shipped.activated.connect(self._on_shipped_chosen)
        self.feed.currentIndexChanged.connect(self._restart)
        for image in (self.network_image, self.solver_image, self.error_image):
            image.sig_cell_clicked.connect(self._on_cell_clicked)
            image.sig_cell_dragged.connect(self._on_cell_dragged)
            image.sig_released.connect(self._on_released)
        self.material.new_grain.clicked.connect(self._on_new_grain)
        self.material.apply.clicked.connect(self._on_set_material)
        self.material.grain.valueChanged.connect(self._on_grain_selected)
        self._grains_changed()

    # Model ------------------------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def open_model(self, path: Path) -> bool:
        """Use the stress model ``path``; on failure say why and keep the one before."""
        try:
            session = self.opener.run(path, lambda: ModelSession(path))  # off the GUI thread
            info = session.info
            if info.system != "stress" or list(info.layout["state"]) != ["sigma_vM"]:
                raise ModelError(path, f"a {info.system} model predicting {', '.join(info.layout['state'])}")
        except ModelError as exc:
            self.show_message(f"Cannot use {path}: {exc.problem}")
            return False
        self.session, self.model_path = session, Path(path)
        self.model_label.setText(f"{Path(path).name} ({session.device})")
        self.show_message("")
        self.sig_file_opened.emit(str(path))
        self._restart()
        return True

    def load_model(self, path: Path, provider: str = "") -> bool:
        return self.open_model(path)

    def _on_shipped_chosen(self, index: int) -> None:
        path = shipped_stress_models().get(self.shipped.itemText(index))
        self.shipped.setCurrentIndex(0)
        if path is not None:
            self.open_model(path)

    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a stress model", "", "Fieldcast models (*.onnx)")
        if path:
            self.open_model(Path(path))

    # Cell and stepping ------------------------------------------------------------------------------------
    def _on_new_clicked(self, *_args) -> None:
        kind, grains = MICROSTRUCTURES[self.kind.currentText()]
        rng = np.random.default_rng(self.seed.value())
        self.micro = sample_microstructure(rng, (_SIZE, _SIZE), kind=kind, grains=grains)
        self._grains_changed()
        self._restart()

    def _grains_changed(self) -> None:
        """The grain chooser spans the current microstructure's grains."""
        box = self.material.grain
        box.blockSignals(True)
        box.setRange(0, self.micro.n_grains - 1)
        box.blockSignals(False)
        self._on_grain_selected(box.value())

    def _on_grain_selected(self, grain: int) -> None:
        if 0 <= grain < self.micro.n_grains:
            self.material.show_properties(self.micro.properties[grain])

    def _on_new_grain(self) -> None:
        """A new grain with the material in the fields, selected (it owns no cell until painted)."""
        props = np.vstack([self.micro.properties, self.material.properties()[None]])
        self.micro = Microstructure(self.micro.grains, props)
        self._grains_changed()
        self.material.grain.setValue(self.micro.n_grains - 1)
        self.material.brush.setChecked(True)
        self.sig_status.emit(f"grain {self.micro.n_grains - 1} added: paint it onto the cell with the brush")

    def _on_set_material(self) -> None:
        self._assign(self.material.grain.value())

    def _assign(self, grain: int) -> None:
        props = self.micro.properties.copy()
        props[grain] = self.material.properties()
        self.micro = Microstructure(self.micro.grains, props)
        self.sig_status.emit(f"grain {grain} has a new material; the cell is unloaded")
        self._restart()

    def _on_cell_clicked(self, ix: int, iy: int) -> None:
        if self.material.brush.isChecked():
            if len(self.frames) > 1:
                self._restart()  # painting changes the cell: unload it first
            self._stroke = True
            self._paint(ix, iy)
            return
        grain = int(self.micro.grains[ix, iy])
        if self.material.paint.isChecked():
            self.material.grain.blockSignals(True)  # select it, keeping the material to assign
            self.material.grain.setValue(grain)
            self.material.grain.blockSignals(False)
            self._assign(grain)
            return
        self.material.grain.setValue(grain)
        self._on_grain_selected(grain)  # its material shows in the fields
        self.sig_status.emit(f"grain {grain} selected")

    def _on_cell_dragged(self, ix: int, iy: int) -> None:
        if self._stroke:
            self._paint(ix, iy)

    def _on_released(self) -> None:
        if self._stroke:
            self._stroke = False
            self._restart()  # the solver and the network start over on the painted cell
            self.sig_status.emit(f"grain {self.material.grain.value()} painted; the cell is unloaded")

    def _paint(self, ix: int, iy: int) -> None:
        """Give the cells within the brush radius of (ix, iy) (periodic) to the selected grain."""
        nx, ny = self.micro.grains.shape
        r = self.material.radius.value()
        dx = (np.arange(nx) - ix + nx // 2) % nx - nx // 2
        dy = (np.arange(ny) - iy + ny // 2) % ny - ny // 2
        disc = dx[:, None] ** 2 + dy[None, :] ** 2 <= r * r + r  # a round brush; radius 0 is one cell
        grains = self.micro.grains.copy()
        grains[disc] = self.material.grain.value()
        self.micro = Microstructure(grains, self.micro.properties)
        self._show(self.frames[0])

    def _restart(self, *_args) -> None:
        """Unload: a fresh solver (and network) on the current microstructure."""
        if self.stepper is not None:
            self.stepper.stop()
        run, layout = None, None
        if self.session is not None:
            session = self.session
            run, layout = (lambda x: session.run(x)[OUTPUT]), dict(session.info.layout)
        feed = "network" if self.feed.currentIndex() == 0 else "solver"
        increments = self.session.info.increments if self.session is not None else 1
        self.play = StressPlay(self.micro, run, layout, feed, increments=increments)
        self.frames = self.play.history
        self.target = 0
        self.stepper = Stepper(self.play)
        self.stepper.rate = 0.0
        play = self.play
        self.stepper.sig_frame.connect(lambda frame: self._on_frame(frame, play))
        self.stepper.sig_error.connect(self._on_error)
        self.stepper.start()
        self.play_button.blockSignals(True)
        self.play_button.setChecked(False)
        self.play_button.blockSignals(False)
        self.slider.blockSignals(True)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._show(self.frames[0])

    def _on_play_toggled(self, playing: bool) -> None:
        if playing:
            self._go_to(MAX_INCREMENTS)
        elif self.stepper is not None:
            self.stepper.pause()
            self.target = len(self.frames) - 1

    def _on_slider_changed(self, value: int) -> None:
        self._go_to(value)

    def _go_to(self, increment: int) -> None:
        self.target = increment
        if increment < len(self.frames):
            self._show(self.frames[increment])
        elif self.stepper is not None:
            self.stepper.play()

    def _on_frame(self, frame: StressFrame, play: StressPlay) -> None:
        if play is not self.play:
            return  # a frame of a cell unloaded since
        if self.stepper is not None:
            self.stepper.frame_received()
        if frame.increment >= self.target or frame.increment >= MAX_INCREMENTS:
            if self.stepper is not None:
                self.stepper.pause()
            if frame.increment >= MAX_INCREMENTS:
                self.play_button.setChecked(False)
        self.slider.blockSignals(True)
        self.slider.setValue(max(self.slider.value(), frame.increment))
        self.slider.blockSignals(False)
        self._show(frame)

    def _on_error(self, message: str) -> None:
        self.show_message(f"Stopped: {message}")
        self.play_button.setChecked(False)

    # Drawing ----------------------------------------------------------------------------------------------
    def _boundaries(self) -> np.ndarray:
        """(nx, ny, 4) overlay: grain boundaries as thin translucent white lines."""
        grains = self.micro.grains
        edge = (np.roll(grains, 1, axis=0) != grains) | (np.roll(grains, 1, axis=1) != grains)
        rgba = np.zeros((*grains.shape, 4), np.float32)
        rgba[edge] = (1.0, 1.0, 1.0, 0.35)
        return rgba

    def _show(self, frame: StressFrame) -> None:
        # One colour scale, the solver's: a network far off saturates instead of washing the solver out.
        top = max(1.0, float(frame.solver.max()))
        lines = self._boundaries()
        self.solver_image.show_field(frame.solver, "inferno", (0.0, top), lines)
        self.load_label.setText(f"F11 = {frame.f11:.4f}  (increment {frame.increment} of {MAX_INCREMENTS})")
        computed = [f for f in self.frames[1:] if f.increment <= frame.increment]
        solver_ms = 1e3 * np.mean([f.solver_seconds for f in computed]) if computed else 0.0
        text = f"solver {solver_ms:.1f} ms per increment"
        if frame.network is None:
            blank = np.zeros_like(frame.solver)
            self.network_image.show_field(blank, "inferno", (0.0, 1.0))
            self.error_image.show_field(blank, "coolwarm", (-1.0, 1.0))
            self.range_label.setText(f"σvM 0 to {top:.0f} MPa")
        else:
            error = frame.error
            peak = max(1.0, float(np.abs(error).max()))
            self.network_image.show_field(frame.network, "inferno", (0.0, top), lines)
            self.error_image.show_field(error, "coolwarm", (-peak, peak), lines)
            net_ms = 1e3 * np.mean([f.network_seconds for f in computed]) if computed else 0.0
            boundary, inside = grain_error(self.micro.grains, error)
            self.range_label.setText(f"σvM 0 to {top:.0f} MPa; difference ±{peak:.1f} MPa")
            k = self.play.increments if self.play is not None else 1
            per_call = f", one call per {k} increments" if k > 1 else ""
            text = (
                f"MAE {frame.mae:.2f} MPa (grain boundaries {boundary:.2f}, grain interiors {inside:.2f}) · "
                f"{text} · network {net_ms:.2f} ms per increment{per_call}"
            )
            if net_ms > 0:
                text += f" ({solver_ms / net_ms:.0f}× faster)"
        self.readouts.setText(text)
