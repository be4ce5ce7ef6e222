"""Test-wide set-up: every test gets its own Fieldcast home, so no test touches the user's files."""

import os

import pytest

os.environ.setdefault("QT_API", "pyside6")


@pytest.fixture(autouse=True)
def fieldcast_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("fieldcast-home")
    monkeypatch.setenv("FIELDCAST_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def collect_on_main_thread(request):
    """Collect garbage on the main thread only. Windows and menus a test leaves in reference cycles are
    otherwise collected whenever the collector next runs, possibly inside a worker thread (a G-code parse,
    a training); PySide then destroys Qt objects from two threads at once, which deadlocked full runs (the
    main thread holding the interpreter and waiting for Qt's lock, the worker the other way round). A test
    with a Qt application runs as the app does (``MainThreadCollector``: automatic collection off, a main
    thread timer collects); every test's garbage is collected after it, on the main thread."""
    import gc

    collector = None
    if "qtbot" in request.fixturenames or "qapp" in request.fixturenames:
        request.getfixturevalue("qapp")
        from fieldcast.app.responsiveness import MainThreadCollector

        collector = MainThreadCollector()
    yield
    if collector is not None:
        collector.stop()
    gc.collect()
