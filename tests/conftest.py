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
def collect_on_main_thread():
    """After each test, collect its garbage on the main thread. Windows and menus a test leaves in reference
    cycles are otherwise collected whenever the collector next runs, possibly inside a later test's worker
    thread; PySide then destroys Qt objects from two threads at once, which deadlocked a full run (the main
    thread holding the interpreter and waiting for Qt's lock, the worker the other way round)."""
    import gc

    yield
    gc.collect()
