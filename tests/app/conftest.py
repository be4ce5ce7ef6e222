import pytest

from fieldcast.app.main_window import MainWindow
from fieldcast.app.paths import app_paths
from fieldcast.app.settings import Settings


@pytest.fixture
def make_window(qtbot):
    """Build a main window on the test's Fieldcast home (settings persist between windows of one test)."""

    def make() -> MainWindow:
        paths = app_paths()
        window = MainWindow(paths, Settings(paths.settings_file))
        qtbot.addWidget(window)
        return window

    return make


@pytest.fixture
def window(make_window, qtbot):
    w = make_window()
    w.show()
    qtbot.waitExposed(w)
    return w
