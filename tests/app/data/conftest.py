"""Small dataset files and a shown Data panel for the Data panel tests."""

from pathlib import Path

import pytest

from fieldcast.app.data.panel import DataPanel
from fieldcast.engine.generation import generate_dataset


@pytest.fixture(scope="session")
def smoke_file(tmp_path_factory) -> Path:
    """A tiny smoke dataset: 2 trajectories × 5 frames at 16², generated once per session (read only)."""
    path = tmp_path_factory.mktemp("smoke-data") / "tiny_smoke.h5"
    for _ in generate_dataset("smoke", path, trajectories=2, frames=5, size=16, seed=3):
        pass
    return path


@pytest.fixture
def bad_file(tmp_path) -> Path:
    """A text file renamed .h5."""
    path = tmp_path / "notes.h5"
    path.write_text("these are not the fields you are looking for\n")
    return path


@pytest.fixture
def panel(qtbot, tmp_path):
    """A shown Data panel writing into a datasets folder of its own; shut down after the test."""
    data_dir = tmp_path / "datasets"
    data_dir.mkdir()
    widget = DataPanel(data_dir=data_dir)
    qtbot.addWidget(widget)
    widget.resize(1200, 760)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


@pytest.fixture
def wait_loaded(qtbot):
    """``wait_loaded(panel, path)``: wait until the panel's background job has read ``path``; its entry."""

    def wait(panel: DataPanel, path: Path, timeout: int = 20_000):
        def read() -> bool:
            entry = panel.entry(path)
            return entry is not None and entry.state != "probing"

        qtbot.waitUntil(read, timeout=timeout)
        return panel.entry(path)

    return wait
