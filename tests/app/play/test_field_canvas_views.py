"""The field canvas's two views: Qt's raster engine where OpenGL is a software renderer (this machine's
Mesa llvmpipe under Xvfb), vispy where asked for; both put a cell's colour where the mouse finds that cell."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from qt_events import canvas_pixel

from fieldcast.widgets import field_canvas
from fieldcast.widgets.field_canvas import FieldCanvas, RasterFieldView, VispyFieldView, canvas_kind

pytestmark = pytest.mark.gui


@pytest.fixture
def choose(monkeypatch):
    """Set FIELDCAST_CANVAS (None: unset) and forget the choice made before."""

    def set_kind(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("FIELDCAST_CANVAS", raising=False)
        else:
            monkeypatch.setenv("FIELDCAST_CANVAS", value)
        canvas_kind.cache_clear()

    yield set_kind
    canvas_kind.cache_clear()


def shown_canvas(qtbot) -> FieldCanvas:
    canvas = FieldCanvas("test")
    canvas.resize(600, 300)  # wider than the field: the square cells are centred with margins left and right
    qtbot.addWidget(canvas)
    canvas.show()
    qtbot.waitExposed(canvas)
    qtbot.waitUntil(lambda: canvas.view is not None and canvas.view.native.width() > 500)  # laid out
    return canvas


def draw_marks(canvas: FieldCanvas) -> None:
    """A 16 x 8 field, dark but for cell (13, 6); an emitter over cell (2, 1)."""
    field = np.zeros((16, 8), np.float32)
    field[13, 6] = 1.0
    canvas.set_colormap("gray", (0.0, 1.0))
    canvas.set_field(field)
    emitter = np.zeros((16, 8), np.float32)
    emitter[2, 1] = 1.0
    canvas.set_masks(emitter, np.zeros((16, 8), np.float32))


def pixel(canvas: FieldCanvas, x: float, y: float) -> np.ndarray:
    rgba = canvas.grab_pixels()
    p = canvas_pixel(canvas, x, y)
    ratio = rgba.shape[1] / canvas.view.native.width()  # grabs are in device pixels
    return rgba[int(p.y() * ratio), int(p.x() * ratio), :3].astype(int)


def press_at(qtbot, canvas: FieldCanvas, x: float, y: float) -> tuple[float, float]:
    """Press and release the left button on grid point (x, y); where the canvas says the press landed."""
    with qtbot.waitSignal(canvas.sig_stroke_started, timeout=2000) as started:
        QTest.mousePress(
            canvas.view.native,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            canvas_pixel(canvas, x, y),
        )
    QTest.mouseRelease(
        canvas.view.native,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        canvas_pixel(canvas, x, y),
    )
    return started.args[0], started.args[1]


def test_software_opengl_draws_with_the_raster_engine(qtbot, choose):
    choose(None)
    assert field_canvas.opengl_problem() is None  # Xvfb has OpenGL: Mesa's software renderer
    assert canvas_kind() == "raster"
    canvas = shown_canvas(qtbot)
    assert isinstance(canvas.view, RasterFieldView)
    draw_marks(canvas)
    bright, dark = pixel(canvas, 13.5, 6.5), pixel(canvas, 5.5, 5.5)
    assert bright.min() > 200 and dark.max() < 40, (bright, dark)
    green = pixel(canvas, 2.5, 1.5)  # the translucent emitter over a dark cell
    assert green[1] > green[0] + 40 and green[1] > green[2] + 40, green
    # Outside the picture (the margin left of x = 0) is the background, not a stretched field.
    left = canvas.view.to_pixel(0.0, 4.0)[0]
    assert left > 20
    margin = canvas.grab_pixels()[canvas.view.native.height() // 2, int(left // 2), :3].astype(int)
    assert np.abs(margin - [0x15, 0x17, 0x1C]).max() < 6, margin
    x, y = press_at(qtbot, canvas, 13.5, 6.5)
    assert abs(x - 13.5) < 0.2 and abs(y - 6.5) < 0.2, (x, y)
    QTest.mouseMove(canvas.view.native, canvas_pixel(canvas, 8.0, 4.0))  # the brush cursor follows
    qtbot.waitUntil(lambda: canvas.view._cursor is not None and abs(canvas.view._cursor[0] - 8.0) < 0.2)


def test_frames_set_faster_than_painted_are_coloured_once_when_painted(qtbot, choose, monkeypatch):
    choose("raster")
    canvas = shown_canvas(qtbot)
    canvas.set_colormap("gray", (0.0, 1.0))
    coloured: list[int] = []
    real = field_canvas.colorize

    def counting(*args, **kwargs):
        coloured.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(field_canvas, "colorize", counting)
    qtbot.wait(50)
    coloured.clear()
    for value in np.linspace(0.0, 1.0, 20):
        canvas.set_field(np.full((16, 8), value, np.float32))
    assert coloured == []  # nothing computed until Qt paints
    QTest.qWait(100)
    assert len(coloured) == 1
    assert pixel(canvas, 4.5, 4.5).min() > 200  # the last frame is what shows


def test_fieldcast_canvas_opengl_chooses_vispy(qtbot, choose):
    choose("opengl")
    assert canvas_kind() == "opengl"
    canvas = shown_canvas(qtbot)
    assert isinstance(canvas.view, VispyFieldView)
    draw_marks(canvas)
    qtbot.wait(100)
    x, y = press_at(qtbot, canvas, 13.5, 6.5)
    assert abs(x - 13.5) < 0.2 and abs(y - 6.5) < 0.2, (x, y)
    px, py = canvas.grid_to_pixel(13.5, 6.5)
    assert canvas.view.to_grid(px, py) == pytest.approx((13.5, 6.5), abs=1e-3)
    assert QPoint(round(px), round(py)) == canvas_pixel(canvas, 13.5, 6.5)
