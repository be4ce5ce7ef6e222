"""The Runs panel writes a run's report, or a comparison of the selected runs, and opens it."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest

from fieldcast.engine.report import SECTIONS
from fieldcast.engine.report_compare import COMPARE_SECTIONS

LEFT = Qt.MouseButton.LeftButton


class _Opened(QObject):
    """Receives the file URLs the panel asks the desktop to open (instead of a browser)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def _click_row(panel, name: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    view = panel.table
    row = next(r for r in range(view.proxy.rowCount()) if view.proxy.index(r, 0).data() == name)
    QTest.mouseClick(view.viewport(), LEFT, modifier, view.visualRect(view.proxy.index(row, 0)).center())


def _sections(html: str) -> set[str]:
    return set(re.findall(r'<section id="([a-z]+)"', html))


def test_report_button_writes_and_opens_a_report_and_a_comparison(runs_panel, train_run, qtbot):
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        train_run(runs_panel.runs_dir / "slow", lr=1e-4)
        train_run(runs_panel.runs_dir / "fast", lr=3e-3)
        qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 2, timeout=10_000)
        assert not runs_panel.report_button.isEnabled()  # nothing selected

        _click_row(runs_panel, "slow")
        assert runs_panel.report_button.isEnabled()
        QTest.mouseClick(runs_panel.report_button, LEFT)
        qtbot.waitUntil(lambda: len(opened.urls) == 1, timeout=60_000)
        report = runs_panel.runs_dir / "slow" / "report.html"
        assert opened.urls[0].toLocalFile() == str(report)
        html = report.read_text(encoding="utf-8")
        assert _sections(html) == set(SECTIONS)
        assert "Validation samples over training" in html and "data:image/png;base64," in html
        assert (runs_panel.runs_dir / "slow" / "metrics.json").is_file()

        qtbot.waitUntil(runs_panel.report_button.isEnabled, timeout=10_000)
        _click_row(runs_panel, "fast", Qt.KeyboardModifier.ControlModifier)
        QTest.mouseClick(runs_panel.report_button, LEFT)
        qtbot.waitUntil(lambda: len(opened.urls) == 2, timeout=60_000)
        comparison = opened.urls[1].toLocalFile()
        assert "/.comparisons/" in comparison
        html = Path(comparison).read_text(encoding="utf-8")
        assert _sections(html) == set(COMPARE_SECTIONS)
        assert "optim.lr" in html and 'class="best"' in html
        assert runs_panel.table.runs.rowCount() == 2  # the comparison folder is not taken for a run
    finally:
        QDesktopServices.unsetUrlHandler("file")
