import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from fieldcast.widgets.field_view import COLORMAPS, FieldView, colormap


@pytest.fixture
def view(qtbot):
    widget = FieldView()
    qtbot.addWidget(widget)
    widget.resize(520, 440)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _ramp(nx=8, ny=5):
    # value = 10*x + y, so the axis a value came from is visible
    return (10 * np.arange(nx)[:, None] + np.arange(ny)[None, :]).astype(np.float32)


def test_frame_is_shown_as_stored_with_x_across_and_y_up(view):
    data = _ramp()
    view.set_field(data, "K")
    assert view.image() is data
    np.testing.assert_array_equal(view.image_item.image, data)
    # x is the first axis (8 cells wide), y the second (5 high), and the y axis points up
    assert (view.image_item.width(), view.image_item.height()) == (8, 5)
    assert not view.plot.vb.yInverted()
    assert view.units_label.text() == "K"
    with pytest.raises(ValueError, match="2D"):
        view.set_field(np.zeros((2, 3, 4)))


def test_hovering_a_cell_reads_its_value(view, qtbot):
    view.set_field(_ramp(), "K")
    viewport = view.graphics.viewport()
    inside = view.graphics.mapFromScene(view.plot.vb.mapViewToScene(QPointF(6.5, 3.5)))

    def hover(pos: QPoint, expected: str) -> bool:
        # Moves can be coalesced, so keep wiggling around pos until the readout answers
        hover.wiggle = 1 - getattr(hover, "wiggle", 0)
        QTest.mouseMove(viewport, pos + QPoint(hover.wiggle, 0))
        return expected in view.value_label.text() if expected else view.value_label.text() == ""

    qtbot.waitUntil(lambda: hover(inside, "x 6, y 3:  63"))
    qtbot.waitUntil(lambda: hover(QPoint(2, 2), ""))


def test_automatic_range_follows_the_frame_or_the_given_levels(view):
    data = _ramp()
    view.set_field(data)
    assert view.levels() == (0.0, 74.0)
    view.set_field(data, levels=(-5.0, 200.0))
    assert view.levels() == (-5.0, 200.0)
    assert view.low_edit.text() == "-5" and not view.low_edit.isEnabled()
    # NaN cells are ignored; a constant field still gets a non-empty range
    with_nan = data.copy()
    with_nan[0, 0] = np.nan
    view.set_field(with_nan)
    assert view.levels() == (1.0, 74.0)
    view.set_field(np.full((4, 4), 2.0, np.float32))
    low, high = view.levels()
    assert low < 2.0 < high


def test_diverging_map_centres_the_automatic_range_on_zero(view):
    view.set_field(np.linspace(-1, 3, 16, dtype=np.float32).reshape(4, 4))
    view.set_colormap("coolwarm")
    assert view.levels() == (-3.0, 3.0)
    view.set_colormap("viridis")
    assert view.levels() == (-1.0, 3.0)


def test_manual_range_typed_by_the_user(view, qtbot):
    view.set_field(_ramp())
    QTest.mouseClick(view.auto_check, Qt.MouseButton.LeftButton, pos=QPoint(6, view.auto_check.height() // 2))
    assert not view.is_auto_range() and view.low_edit.isEnabled()
    for edit, text in ((view.low_edit, "10"), (view.high_edit, "20")):
        edit.selectAll()
        QTest.keyClicks(edit, text)
        with qtbot.waitSignal(view.sig_levels_changed) as blocker:
            QTest.keyClick(edit, Qt.Key.Key_Return)
    assert blocker.args == [10.0, 20.0]
    assert view.levels() == (10.0, 20.0)
    assert tuple(view.image_item.getLevels()) == (10.0, 20.0)
    # a new frame keeps the manual range; switching back to auto restores the frame's
    view.set_field(_ramp() * 2)
    assert view.levels() == (10.0, 20.0)
    view.set_auto_range(True)
    assert view.levels() == (0.0, 148.0)
    view.set_manual_levels(3.0, 1.0)  # given backwards: ordered
    assert view.levels() == (1.0, 3.0)


def test_colour_map_choice_reaches_the_colour_bar(view, qtbot):
    view.set_field(_ramp())
    view.colormap_combo.setFocus()
    with qtbot.waitSignal(view.sig_colormap_changed) as blocker:
        QTest.keyClick(view.colormap_combo, Qt.Key.Key_Down)
    name = list(COLORMAPS)[1]
    assert blocker.args == [name]
    assert view.colormap_name() == name
    expected = colormap(name).getLookupTable(nPts=8)
    np.testing.assert_array_equal(view.colorbar.colorMap().getLookupTable(nPts=8), expected)
    with pytest.raises(KeyError):
        view.set_colormap("jet")


def test_controls_can_be_hidden_for_strips_of_small_views(qtbot):
    strip = FieldView(controls=False, title="prediction")
    qtbot.addWidget(strip)
    strip.set_field(_ramp(), "m/s", levels=(0, 1))
    assert strip.controls.isHidden()
    strip.clear()
    assert strip.image() is None
