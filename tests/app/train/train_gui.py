"""Real-click helpers and tiny datasets of every kind for the Train panel tests (this folder is on
sys.path while its tests run)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLineEdit,
    QStyle,
    QStyleOptionComboBox,
    QTableWidget,
)

LEFT = Qt.MouseButton.LeftButton

#: the system name of the foreign file: no system Fieldcast ships
FOREIGN_NAME = "shear_layer_lab"


def write_foreign_well(path: Path, frames: int = 14, size: int = 16) -> Path:
    """One trajectory of a smooth travelling wave in The Well's layout, as another tool writes it: no
    Fieldcast attribute, a system name Fieldcast does not know, a scalar and a vector field."""
    t = np.arange(frames, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 2 * np.pi, size, endpoint=False, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 2 * np.pi, size, endpoint=False, dtype=np.float32)[None, None, :]
    tracer = np.sin(x - 0.3 * t) * np.cos(y) + 0.5 * np.cos(2 * y + 0.2 * t)
    shape = (frames, size, size)
    u, v = np.broadcast_to(np.cos(y), shape), np.broadcast_to(0.3 * np.sin(x - 0.3 * t), shape)
    velocity = np.stack([u, v], axis=-1)
    with h5py.File(path, "w") as f:
        f.attrs.update(
            {"dataset_name": FOREIGN_NAME, "grid_type": "cartesian", "n_spatial_dims": 2, "n_trajectories": 1}
        )
        f.attrs["simulation_parameters"] = []
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims.create_dataset("time", data=0.1 * np.arange(frames))
        dims.create_dataset("x", data=np.linspace(0, 1, size))
        dims.create_dataset("y", data=np.linspace(0, 1, size))
        for key in ("time", "x", "y"):
            dims[key].attrs["sample_varying"] = False
        f.create_group("boundary_conditions")
        f.create_group("scalars").attrs["field_names"] = []
        for order, name, values in ((0, "tracer", tracer), (1, "velocity", velocity)):
            group = f.create_group(f"t{order}_fields")
            group.attrs["field_names"] = [name]
            d = group.create_dataset(name, data=values[None].astype(np.float32))
            d.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        f.create_group("t2_fields").attrs["field_names"] = []
    return path


def write_trajectory_file(path: Path) -> Path:
    """Two simulated printer trajectories of 300 samples (split along time: fewer than three)."""
    from fieldcast.engine.systems.trajectory import iter_write_dataset

    for _ in iter_write_dataset(path, 2, 300, seed=3):
        pass
    return path


def hand_click(qtbot, widget, pos) -> None:
    """Move the pointer onto ``pos`` of ``widget``, then click there.

    QTest's clicks do not move the pointer; under a bare X server (no window manager) the keyboard focus
    follows the pointer, so a popup opened away from it loses focus and closes. A hand is where it clicks.
    """
    target = widget.mapToGlobal(pos)
    if QCursor.pos() != target:
        QCursor.setPos(target)
        # The window system reports the crossing (and moves the focus) a moment later: let it land
        # before the click, so it cannot close a popup the click opens.
        qtbot.wait(150)
    QTest.mouseClick(widget, LEFT, pos=pos)


def choose_in_combo(qtbot, combo: QComboBox, text: str) -> None:
    """Open ``combo``'s list with a click and click the item ``text`` in it, as a hand does."""
    assert combo.findText(text) >= 0, f"{text!r} is not in the list"
    pos = combo.rect().center()
    if combo.isEditable():  # the middle is a line edit: the list opens from the arrow
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        arrow = QStyle.SubControl.SC_ComboBoxArrow
        pos = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option, arrow, combo).center()
    hand_click(qtbot, combo, pos)
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    index = combo.model().index(combo.findText(text), 0)
    view.scrollTo(index)
    # The list ignores a release that comes sooner than a double click after it opened (a press-drag-release
    # on the combo box), as a user's hand never does.
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    hand_click(qtbot, view.viewport(), view.visualRect(index).center())
    qtbot.waitUntil(lambda: not view.isVisible())
    assert combo.currentText() == text


def choose_recipe(panel, qtbot, text: str) -> None:
    """Pick ``text`` in the recipe list and wait until the recipe is in the form."""
    with qtbot.waitSignal(panel.controller.sig_recipe_loaded, timeout=60_000):
        choose_in_combo(qtbot, panel.recipe_combo, text)


def edit_cell(qtbot, table: QTableWidget, row: int, column: str, text: str) -> None:
    """Double-click a cell of the curriculum table, type ``text`` over it and press Return."""
    col = next(c for c in range(table.columnCount()) if table.horizontalHeaderItem(c).text() == column)
    rect = table.visualItemRect(table.item(row, col))
    # A hand's double click: a click, then the second press that Qt reports as a double click.
    QTest.mouseClick(table.viewport(), LEFT, pos=rect.center())
    QTest.mouseDClick(table.viewport(), LEFT, pos=rect.center())
    qtbot.waitUntil(lambda: table.viewport().findChild(QLineEdit) is not None)
    editor = table.viewport().findChild(QLineEdit)
    editor.selectAll()
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.item(row, col).text() == text)


def type_into(editor: QLineEdit, text: str) -> None:
    """Click a line edit, select what it holds and type ``text`` over it."""
    QTest.mouseClick(editor, LEFT)
    editor.selectAll()
    QTest.keyClicks(editor, text)


def click_tab(qtbot, window, name: str) -> None:
    """Click the window's tab of panel ``name``."""
    bar = window.tabs.tabBar()
    index = window.tabs.indexOf(window.panels[name])
    QTest.mouseClick(bar, LEFT, pos=bar.tabRect(index).center())
    qtbot.waitUntil(lambda: window.current_panel().name == name)
