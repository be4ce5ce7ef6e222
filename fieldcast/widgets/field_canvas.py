"""A paintable field canvas: a vispy image of one (nx, ny) field with control overlays and a brush cursor.

:class:`VispyFieldView` is the vispy side (scene, camera, visuals) and knows nothing of Qt widgets;
:class:`FieldCanvas` is the Qt widget around it: it creates the vispy canvas lazily on first show, falls back
to a message when OpenGL is unavailable (e.g. Qt's ``offscreen`` platform), turns mouse events into painting
strokes in grid coordinates, and draws a colour bar with the value range.

Grid coordinates are cells, x first and y up: cell (i, j) covers [i, i+1) × [j, j+1).
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from fieldcast.widgets.field_colors import lut, overlay_rgba

__all__ = ["FieldCanvas", "VispyFieldView", "opengl_problem"]

log = logging.getLogger("fieldcast.widgets")

_NO_GL_PLATFORMS = ("offscreen", "minimal", "vnc")


@functools.cache
def opengl_problem() -> str | None:
    """None when this Qt session can draw with OpenGL, else a one-line reason (checked once)."""
    platform = QGuiApplication.platformName()
    if platform in _NO_GL_PLATFORMS:
        return f"no OpenGL on Qt's {platform!r} platform"
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return "could not create an OpenGL context"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not context.makeCurrent(surface):
        return "could not make an OpenGL context current"
    context.doneCurrent()
    return None


class VispyFieldView:
    """The vispy scene of a field canvas: image, overlay and brush cursor under a y-up 2D camera.

    Parameters
    ----------
    parent : the Qt widget the vispy canvas's native widget is parented to.
    """

    def __init__(self, parent: QWidget) -> None:
        import vispy
        from vispy import scene

        vispy.use(app="pyside6")
        self.canvas = scene.SceneCanvas(keys=None, parent=parent, bgcolor="#15171c", show=False)
        self.view = self.canvas.central_widget.add_view()
        # The camera is fixed: the mouse paints, it does not pan or zoom.
        self.view.camera = scene.PanZoomCamera(aspect=1.0, interactive=False)
        self.image = scene.visuals.Image(
            np.zeros((2, 2), np.float32), interpolation="linear", parent=self.view.scene
        )
        self.overlay = scene.visuals.Image(
            np.zeros((2, 2, 4), np.float32), interpolation="nearest", parent=self.view.scene
        )
        self.overlay.set_gl_state("translucent", depth_test=False)
        self.overlay.order = 1
        self.cursor = scene.visuals.Ellipse(
            center=(0, 0),
            radius=1.0,
            color=None,
            border_color=(1, 1, 1, 0.8),
            border_width=1.5,
            parent=self.view.scene,
        )
        self.cursor.order = 2
        self.cursor.visible = False
        self.shape = (0, 0)

    @property
    def native(self) -> QWidget:
        return self.canvas.native

    def set_field(self, field: np.ndarray) -> None:
        """Show an (nx, ny) field, or (nx, ny, 3) RGB colours in [0, 1] (rows of the image are y, so x and y
        are swapped, not flipped)."""
        data = np.ascontiguousarray(np.swapaxes(np.asarray(field, np.float32), 0, 1))
        self.image.set_data(data)
        if data.shape[:2] != self.shape:
            self.shape = data.shape[:2]
            self.view.camera.set_range(x=(0, data.shape[1]), y=(0, data.shape[0]), margin=0)
        self.canvas.update()

    def set_overlay(self, rgba: np.ndarray) -> None:
        """Show an (nx, ny, 4) RGBA overlay above the field."""
        self.overlay.set_data(np.ascontiguousarray(np.swapaxes(rgba, 0, 1)))
        self.canvas.update()

    def set_colormap(self, name: str, clim: tuple[float, float]) -> None:
        from vispy.color import Colormap

        self.image.cmap = Colormap(lut(name)[::4])
        self.image.clim = clim if clim[1] > clim[0] else (clim[0], clim[0] + 1e-6)
        self.canvas.update()

    def set_cursor(self, x: float, y: float, radius: float, visible: bool = True) -> None:
        self.cursor.center = (x, y)
        self.cursor.radius = max(radius, 0.5)
        self.cursor.visible = visible
        self.canvas.update()

    def to_grid(self, x: float, y: float) -> tuple[float, float]:
        """Grid coordinates (cells) of a point in the canvas's logical pixels."""
        mapped = self.canvas.scene.node_transform(self.image).map([x, y])
        return float(mapped[0]), float(mapped[1])

    def render(self) -> np.ndarray:
        """The canvas as RGBA pixels (h, w, 4) uint8."""
        return self.canvas.render()


class FieldCanvas(QWidget):
    """A field image with overlays that the user paints on with the mouse.

    Parameters
    ----------
    title : a caption shown above the image.
    """

    sig_stroke_started = Signal(float, float, int)
    """A mouse button went down at (x, y) cells; the int is the Qt mouse button."""
    sig_stroke_moved = Signal(float, float)
    """The mouse moved to (x, y) cells with a button held."""
    sig_stroke_finished = Signal(float, float)
    """The mouse button was released at (x, y) cells."""
    sig_hovered = Signal(float, float)
    """The mouse is over (x, y) cells with no button held."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vispy: VispyFieldView | None = None
        self.problem: str | None = None
        self._field: np.ndarray | None = None
        self._overlay: np.ndarray | None = None
        self._cmap: tuple[str, tuple[float, float]] = ("inferno", (0.0, 1.0))
        self._pressed = False
        self._creating = False
        self.brush_radius = 4.0

        self.title_label = QLabel(title)
        self.title_label.setStyleSheet("font-weight: 600;")
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setMinimumSize(160, 160)
        self.message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.colorbar = QLabel()
        self.colorbar.setFixedHeight(10)
        self.colorbar.setScaledContents(True)
        self.low_label, self.high_label = QLabel(), QLabel()
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.low_label)
        bar.addWidget(self.colorbar, 1)
        bar.addWidget(self.high_label)
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self._box.setSpacing(3)
        self._box.addWidget(self.title_label)
        self._box.addWidget(self.message, 1)
        self._box.addLayout(bar)
        self._update_colorbar()

    # Lazy creation ---------------------------------------------------------------------------------------
    def ensure_canvas(self) -> bool:
        """Create the vispy canvas if OpenGL allows; True when there is one."""
        if self.vispy is not None or self._creating:
            return self.vispy is not None
        if self.problem is None:
            self.problem = opengl_problem()
        if self.problem is not None:
            self.message.setText(f"The field view needs OpenGL: {self.problem}.")
            return False
        self._creating = True  # creating a canvas can process events, and so re-enter showEvent
        try:
            self.vispy = VispyFieldView(self)
        except Exception as exc:  # a broken driver must not take the panel down
            log.exception("the vispy canvas could not be created")
            self.problem = f"vispy could not create its canvas ({exc})"
            self.message.setText(f"The field view needs OpenGL: {self.problem}.")
            return False
        finally:
            self._creating = False
        native = self.vispy.native
        native.setMinimumSize(160, 160)
        native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        native.setMouseTracking(True)
        native.installEventFilter(self)
        index = self._box.indexOf(self.message)
        self._box.removeWidget(self.message)
        self.message.hide()
        self._box.insertWidget(index, native, 1)
        native.show()
        self._push_all()
        return True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.ensure_canvas()
        super().showEvent(event)

    def _push_all(self) -> None:
        if self.vispy is None:
            return
        self.vispy.set_colormap(*self._cmap)
        if self._field is not None:
            self.vispy.set_field(self._field)
        if self._overlay is not None:
            self.vispy.set_overlay(self._overlay)

    # Content ---------------------------------------------------------------------------------------------
    def set_field(self, field: np.ndarray) -> None:
        """Show an (nx, ny) field; kept and shown later when the canvas does not exist yet."""
        self._field = field
        if self.vispy is not None:
            self.vispy.set_field(field)

    def set_rgb(self, rgb: np.ndarray) -> None:
        """Show (nx, ny, 3) colours in [0, 1] as they are (no colour map; the colour bar is hidden)."""
        self._cmap = ("gray", (0.0, 1.0))
        if self.vispy is not None:
            self.vispy.set_colormap(*self._cmap)
        for widget in (self.colorbar, self.low_label, self.high_label):
            widget.hide()
        self.set_field(rgb)

    def set_overlay(self, rgba: np.ndarray) -> None:
        """Show an (nx, ny, 4) RGBA overlay in [0, 1] above the field (markers, paths)."""
        self._overlay = rgba
        if self.vispy is not None:
            self.vispy.set_overlay(rgba)

    def set_masks(self, emitter: np.ndarray | None, collider: np.ndarray | None) -> None:
        """Overlay emitter (translucent green) and collider (grey) masks; None for no overlay."""
        if emitter is None or collider is None:
            self._overlay = np.zeros((*self._grid_shape(), 4), np.float32)
        else:
            self._overlay = overlay_rgba(emitter, collider)
        if self.vispy is not None:
            self.vispy.set_overlay(self._overlay)

    def _grid_shape(self) -> tuple[int, int]:
        return (2, 2) if self._field is None else self._field.shape[:2]

    def set_colormap(self, name: str, clim: tuple[float, float]) -> None:
        """Colour map and value range (low, high) in the field's units."""
        if (name, clim) == self._cmap:
            return
        self._cmap = (name, clim)
        if self.vispy is not None:
            self.vispy.set_colormap(name, clim)
        self._update_colorbar()

    def _update_colorbar(self) -> None:
        name, (lo, hi) = self._cmap
        rgba = (lut(name)[None, :, :] * 255).astype(np.uint8).copy()
        image = QImage(rgba.data, rgba.shape[1], 1, rgba.shape[1] * 4, QImage.Format.Format_RGBA8888)
        self.colorbar.setPixmap(QPixmap.fromImage(image.copy()))
        self.low_label.setText(f"{lo:.3g}")
        self.high_label.setText(f"{hi:.3g}")

    def set_title(self, text: str) -> None:
        self.title_label.setText(text)

    def grab_pixels(self) -> np.ndarray | None:
        """The rendered canvas as RGBA pixels, or None without OpenGL."""
        return None if self.vispy is None else self.vispy.render()

    # Mouse -----------------------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        # Mouse events stop here: painting is ours, the camera is fixed, and vispy's own Qt mouse handlers
        # call QMouseEvent.pos(), deprecated in Qt 6.
        if self.vispy is None or obj is not self.vispy.native:
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            self._on_mouse_pressed(event)
        elif kind == QEvent.Type.MouseMove:
            self._on_mouse_moved(event)
        elif kind == QEvent.Type.MouseButtonRelease:
            self._on_mouse_released(event)
        elif kind in (QEvent.Type.Wheel, QEvent.Type.MouseButtonDblClick):
            pass
        else:
            if kind == QEvent.Type.Leave:
                self.vispy.set_cursor(0, 0, self.brush_radius, visible=False)
            return False
        return True

    def _grid(self, event: QMouseEvent) -> tuple[float, float]:
        pos = event.position()
        return self.vispy.to_grid(pos.x(), pos.y())

    def _on_mouse_pressed(self, event: QMouseEvent) -> None:
        x, y = self._grid(event)
        self._pressed = True
        self.sig_stroke_started.emit(x, y, int(event.button().value))

    def _on_mouse_moved(self, event: QMouseEvent) -> None:
        x, y = self._grid(event)
        self.vispy.set_cursor(x, y, self.brush_radius)
        if self._pressed:
            self.sig_stroke_moved.emit(x, y)
        else:
            self.sig_hovered.emit(x, y)

    def _on_mouse_released(self, event: QMouseEvent) -> None:
        if not self._pressed:
            return
        self._pressed = False
        x, y = self._grid(event)
        self.sig_stroke_finished.emit(x, y)
