"""Qt event helpers shared by the GUI tests (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import warnings
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget


def drop_files(window: QWidget, paths: list[Path], settle: bool = True) -> bool:
    """Send a drag-enter then a drop of ``paths`` through Qt's event path; False if the drag is refused.

    The window opens dropped files after the drop returns; with ``settle`` the event loop then turns once,
    as it does after a real drop, which starts (and for quick files finishes) the opening.
    """
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = window.rect().center()
    with warnings.catch_warnings():  # Qt 6.12 deprecates the QPoint form that 6.11 alone offers
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    if settle:
        QApplication.processEvents()
    return True


def canvas_pixel(canvas, x: float, y: float) -> QPoint:
    """The pixel of a shown FieldCanvas's drawing widget (``canvas.view.native``) at grid point (x, y)."""
    px, py = canvas.grid_to_pixel(x, y)
    return QPoint(round(px), round(py))


def canvas_stroke(canvas, points: list[tuple[float, float]], button=Qt.MouseButton.LeftButton) -> None:
    """Press at the first grid point, move through the others and release at the last, as a hand does."""
    native = canvas.view.native
    no_mod = Qt.KeyboardModifier.NoModifier
    # Hover to the first point before pressing: the press then starts where it lands.
    QTest.mouseMove(native, canvas_pixel(canvas, *points[0]))
    QTest.mousePress(native, button, no_mod, canvas_pixel(canvas, *points[0]))
    for p in points[1:]:
        QTest.mouseMove(native, canvas_pixel(canvas, *p))
    QTest.mouseRelease(native, button, no_mod, canvas_pixel(canvas, *points[-1]))
