"""A paintable field canvas: an image of one (nx, ny) field with control overlays and a brush cursor.

Two views draw it. :class:`VispyFieldView` is the vispy side (scene, camera, visuals) for a machine whose
OpenGL runs on a graphics card. :class:`RasterFieldView` paints the same picture with Qt's raster engine, for
machines whose OpenGL is a software renderer (Mesa's llvmpipe, softpipe, swrast: virtual machines, remote
desktops, computers without a driver) or absent (Qt's ``offscreen`` platform): there a vispy frame costs the
GUI thread 30-80 ms on two busy cores, and an OpenGL widget makes Qt composite the whole window with OpenGL
on every repaint, while the raster view draws a frame in about a millisecond. ``FIELDCAST_CANVAS=opengl``
or ``=raster`` overrides the choice. :class:`FieldCanvas` is the Qt widget around either: it creates the
view lazily on first show, turns mouse events into painting strokes in grid coordinates, and draws a colour
bar with the value range.

Grid coordinates are cells, x first and y up: cell (i, j) covers [i, i+1) × [j, j+1).
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from fieldcast.widgets.field_colors import colorize, lut, overlay_rgba

__all__ = ["FieldCanvas", "RasterFieldView", "VispyFieldView", "canvas_kind", "opengl_problem"]

log = logging.getLogger("fieldcast.widgets")

_NO_GL_PLATFORMS = ("offscreen", "minimal", "vnc")
#: words in GL_RENDERER that name a software rasterizer
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "swiftshader", "gdi generic")
_GL_RENDERER = 0x1F01
_BACKGROUND = "#15171c"


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
    _renderer.append(str(context.functions().glGetString(_GL_RENDERER) or ""))
    context.doneCurrent()
    return None


_renderer: list[str] = []  # GL_RENDERER of the context opengl_problem() made


@functools.cache
def canvas_kind() -> str:
    """``"opengl"`` (vispy) where OpenGL runs on a graphics card, else ``"raster"`` (checked once).

    ``FIELDCAST_CANVAS=opengl`` or ``raster`` chooses; ``opengl`` is still refused where there is no OpenGL.
    """
    problem = opengl_problem()
    wanted = os.environ.get("FIELDCAST_CANVAS", "").strip().lower()
    if problem is not None:
        if wanted == "opengl":
            log.warning("FIELDCAST_CANVAS=opengl ignored: %s", problem)
        return "raster"
    if wanted in ("opengl", "raster"):
        return wanted
    renderer = (_renderer[-1] if _renderer else "").lower()
    if any(word in renderer for word in _SOFTWARE_GL):
        log.info("field canvases draw with Qt's raster engine: OpenGL is a software renderer (%s)", renderer)
        return "raster"
    return "opengl"


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

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """The canvas pixel of grid point (x, y) cells."""
        mapped = self.canvas.scene.node_transform(self.image).imap([x, y])
        return float(mapped[0]), float(mapped[1])

    def render(self) -> np.ndarray:
        """The canvas as RGBA pixels (h, w, 4) uint8."""
        return self.canvas.render()


class RasterFieldView(QWidget):
    """The field, its overlay and the brush cursor painted with QPainter: what :class:`VispyFieldView`
    shows (a y-up picture of square cells, fitted and centred, the field smoothed, the overlay not), drawn
    with Qt's raster engine. Colours are computed when a frame is painted, not when it is set, so frames
    that arrive faster than the screen repaints cost nothing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.shape = (0, 0)
        self._field: np.ndarray | None = None
        self._rgb = False
        self._cmap: tuple[str, tuple[float, float]] = ("inferno", (0.0, 1.0))
        self._image: QImage | None = None  # the field's colours, made when painted
        self._overlay: QImage | None = None
        self._cursor: tuple[float, float, float] | None = None
        self._background = QColor(_BACKGROUND)
        self._cursor_pen = QPen(QColor(255, 255, 255, 204), 1.5)

    @property
    def native(self) -> QWidget:
        return self

    def set_field(self, field: np.ndarray) -> None:
        """Show an (nx, ny) field, or (nx, ny, 3) RGB colours in [0, 1]."""
        field = np.asarray(field)
        self._field, self._rgb, self._image = field, field.ndim == 3, None
        self.shape = (field.shape[1], field.shape[0])  # (rows, columns) as vispy's image counts them
        self.update()

    def set_overlay(self, rgba: np.ndarray) -> None:
        """Show an (nx, ny, 4) RGBA overlay in [0, 1] above the field."""
        pixels = np.flipud(np.swapaxes(np.asarray(rgba, np.float32), 0, 1))  # (ny, nx, 4), top row = high y
        alpha = np.clip(pixels[..., 3:4], 0.0, 1.0)
        premultiplied = np.concatenate([np.clip(pixels[..., :3], 0.0, 1.0) * alpha, alpha], axis=-1)
        data = np.ascontiguousarray((premultiplied * 255 + 0.5).astype(np.uint8))
        h, w = data.shape[:2]
        image = QImage(data.data, w, h, 4 * w, QImage.Format.Format_RGBA8888_Premultiplied)
        self._overlay = image.copy()  # owns its pixels
        self.update()

    def set_colormap(self, name: str, clim: tuple[float, float]) -> None:
        self._cmap = (name, clim if clim[1] > clim[0] else (clim[0], clim[0] + 1e-6))
        self._image = None
        self.update()

    def set_cursor(self, x: float, y: float, radius: float, visible: bool = True) -> None:
        self._cursor = (x, y, max(radius, 0.5)) if visible else None
        self.update()

    def _target(self) -> tuple[float, float, float]:
        """(left, top, pixels per cell) of the picture fitted and centred in the widget."""
        rows, cols = self.shape if self.shape[0] and self.shape[1] else (1, 1)
        scale = min(self.width() / cols, self.height() / rows)
        return (self.width() - cols * scale) / 2, (self.height() - rows * scale) / 2, scale

    def to_grid(self, x: float, y: float) -> tuple[float, float]:
        """Grid coordinates (cells) of a point in the widget's logical pixels."""
        left, top, scale = self._target()
        rows = self.shape[0] or 1
        return (x - left) / scale, rows - (y - top) / scale

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """The widget pixel of grid point (x, y) cells."""
        left, top, scale = self._target()
        rows = self.shape[0] or 1
        return left + x * scale, top + (rows - y) * scale

    def _field_image(self) -> QImage | None:
        if self._image is None and self._field is not None:
            if self._rgb:
                rgb = np.flipud(np.swapaxes(np.clip(self._field[..., :3], 0.0, 1.0), 0, 1))
                rgb = (rgb * 255 + 0.5).astype(np.uint8)
            else:
                rgb = colorize(self._field, *self._cmap)  # (ny, nx, 3), top row = highest y
            data = np.ascontiguousarray(rgb)
            h, w = data.shape[:2]
            self._image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        return self._image

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)
        image = self._field_image()
        if image is not None:
            left, top, scale = self._target()
            rows, cols = self.shape
            target = QRectF(left, top, cols * scale, rows * scale)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(target, image)
            if self._overlay is not None and self._overlay.width() == cols and self._overlay.height() == rows:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
                painter.drawImage(target, self._overlay)
        if self._cursor is not None:
            x, y, radius = self._cursor
            scale = self._target()[2]
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(self._cursor_pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(*self.to_pixel(x, y)), radius * scale, radius * scale)
        painter.end()

    def render(self) -> np.ndarray:
        """The canvas as RGBA pixels (h, w, 4) uint8."""
        image = self.grab().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
        h, w = image.height(), image.width()
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
        return rows[:, : 4 * w].reshape(h, w, 4).copy()


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
        #: what draws the field: a VispyFieldView or a RasterFieldView (see canvas_kind), made on first show
        self.view: VispyFieldView | RasterFieldView | None = None
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
        """Create the view (vispy on a graphics card, else raster: see canvas_kind); True once made."""
        if self.view is not None or self._creating:
            return self.view is not None
        self._creating = True  # creating a canvas can process events, and so re-enter showEvent
        try:
            if canvas_kind() == "opengl" and self.problem is None:
                self.view = VispyFieldView(self)
        except Exception as exc:  # a broken driver must not take the panel down: draw without OpenGL
            log.exception("the vispy canvas could not be created; drawing with the raster engine")
            self.problem = f"vispy could not create its canvas ({exc})"
        finally:
            self._creating = False
        if self.view is None:
            self.view = RasterFieldView(self)
        native = self.view.native
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
        if self.view is None:
            return
        self.view.set_colormap(*self._cmap)
        if self._field is not None:
            self.view.set_field(self._field)
        if self._overlay is not None:
            self.view.set_overlay(self._overlay)

    # Content ---------------------------------------------------------------------------------------------
    def set_field(self, field: np.ndarray) -> None:
        """Show an (nx, ny) field; kept and shown later when the canvas does not exist yet."""
        self._field = field
        if self.view is not None:
            self.view.set_field(field)

    def set_rgb(self, rgb: np.ndarray) -> None:
        """Show (nx, ny, 3) colours in [0, 1] as they are (no colour map; the colour bar is hidden)."""
        self._cmap = ("gray", (0.0, 1.0))
        if self.view is not None:
            self.view.set_colormap(*self._cmap)
        for widget in (self.colorbar, self.low_label, self.high_label):
            widget.hide()
        self.set_field(rgb)

    def set_overlay(self, rgba: np.ndarray) -> None:
        """Show an (nx, ny, 4) RGBA overlay in [0, 1] above the field (markers, paths)."""
        self._overlay = rgba
        if self.view is not None:
            self.view.set_overlay(rgba)

    def set_masks(self, emitter: np.ndarray | None, collider: np.ndarray | None) -> None:
        """Overlay emitter (translucent green) and collider (grey) masks; None for no overlay."""
        if emitter is None or collider is None:
            self._overlay = np.zeros((*self._grid_shape(), 4), np.float32)
        else:
            self._overlay = overlay_rgba(emitter, collider)
        if self.view is not None:
            self.view.set_overlay(self._overlay)

    def _grid_shape(self) -> tuple[int, int]:
        return (2, 2) if self._field is None else self._field.shape[:2]

    def set_colormap(self, name: str, clim: tuple[float, float]) -> None:
        """Colour map and value range (low, high) in the field's units."""
        if (name, clim) == self._cmap:
            return
        self._cmap = (name, clim)
        if self.view is not None:
            self.view.set_colormap(name, clim)
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
        """The rendered canvas as RGBA pixels, or None before it is first shown."""
        return None if self.view is None else self.view.render()

    def grid_to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """The pixel of the view's widget (``view.native``) where grid point (x, y) cells is drawn."""
        return self.view.to_pixel(x, y)

    # Mouse -----------------------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        # Mouse events stop here: painting is ours, the camera is fixed, and vispy's own Qt mouse handlers
        # call QMouseEvent.pos(), deprecated in Qt 6.
        if self.view is None or obj is not self.view.native:
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
                self.view.set_cursor(0, 0, self.brush_radius, visible=False)
            return False
        return True

    def _grid(self, event: QMouseEvent) -> tuple[float, float]:
        pos = event.position()
        return self.view.to_grid(pos.x(), pos.y())

    def _on_mouse_pressed(self, event: QMouseEvent) -> None:
        x, y = self._grid(event)
        self._pressed = True
        self.sig_stroke_started.emit(x, y, int(event.button().value))

    def _on_mouse_moved(self, event: QMouseEvent) -> None:
        x, y = self._grid(event)
        self.view.set_cursor(x, y, self.brush_radius)
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
