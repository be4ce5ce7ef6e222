"""Fixtures of the Play panel tests: a tiny Fieldcast smoke model and a shown panel."""

from __future__ import annotations

from pathlib import Path

import pytest
from play_models import write_tiny_smoke_model


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    return write_tiny_smoke_model(tmp_path / "tiny" / "model.onnx")


@pytest.fixture
def panel(qtbot):
    """A shown, paused Play panel on the reference solver at 64 × 64 (fast on two cores)."""
    from fieldcast.app.play.model_picker import SOLVER
    from fieldcast.app.play.panel import PlayPanel

    p = PlayPanel(autoplay=False)
    p.resize(1200, 800)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    # Showing the panel loads the shipped model (trained at 128 x 128); these tests drive the solver.
    p.load_model(SOLVER)
    p.transport.grid_combo.setCurrentIndex(p.transport.grid_combo.findData(64))
    qtbot.waitUntil(lambda: p.frame is not None and p.frame.density.shape == (64, 64), timeout=10_000)
    yield p
    p.shutdown()
