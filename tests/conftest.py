"""Test-wide set-up: every test gets its own Fieldcast home, so no test touches the user's files."""

import os

import pytest

os.environ.setdefault("QT_API", "pyside6")


@pytest.fixture(autouse=True)
def fieldcast_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("fieldcast-home")
    monkeypatch.setenv("FIELDCAST_HOME", str(home))
    return home
