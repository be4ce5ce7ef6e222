"""Every kind of model file goes to the Play page that fits it, from every way in; the rest is refused in
one line naming the file and why (the window, and ``fieldcast play`` before any window opens)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from generic_models import REACTION, reaction_info, write_reaction_model
from onnx_models import make_conv_model, write_melt_microstructure_model, write_melt_temperature_model
from play_models import write_foreign_model, write_tiny_smoke_model
from sequence_model_files import write_tiny_lstm_model

from fieldcast.app import cli
from fieldcast.app.play.routing import route_file
from fieldcast.engine.model_format import ModelInfo
from fieldcast.engine.systems.base import spec_to_dict


def _density_only_smoke_model(path):
    """A smoke model the smoke page cannot feed (no velocity): it plays in the generic page."""
    info = ModelInfo(
        system="smoke",
        input_channels=("density", "emitter"),
        output_channels=("density",),
        history=1,
        layout={
            "state": ["density"],
            "history_state": [],
            "controls": ["emitter"],
            "nonnegative": ["density"],
        },
        grid=(16, 16),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_conv_model(path, info, np.ones((1, 2, 1, 1), np.float32), np.zeros(1, np.float32))


def _generative_model(path):
    spec = dataclasses.replace(REACTION, name="generic:radio_maps", kind="generative")
    info = dataclasses.replace(reaction_info(), system=spec.name, spec=spec_to_dict(spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_conv_model(path, info, np.zeros((2, 3, 1, 1), np.float32), np.zeros(2, np.float32))


@pytest.mark.parametrize(
    ("make", "page"),
    [
        (lambda p: write_tiny_smoke_model(p), "smoke"),
        (lambda p: write_melt_temperature_model(p), "melt"),
        (lambda p: write_melt_microstructure_model(p), "melt"),
        (lambda p: write_tiny_lstm_model(p), "trajectory"),
        (lambda p: write_reaction_model(p), "field"),
        (_density_only_smoke_model, "field"),
    ],
)
def test_each_model_kind_goes_to_its_page(tmp_path, make, page):
    route = route_file(make(tmp_path / "m" / "model.onnx"))
    assert (route.page, route.problem) == (page, None)


def test_gcode_goes_to_the_trajectory_page(tmp_path):
    path = tmp_path / "part.gcode"
    path.write_text("G1 X1 Y1\n")
    assert route_file(path).page == "trajectory" and route_file(path).gcode


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (write_foreign_model, "not a Fieldcast model"),
        (_generative_model, "a generative model of system 'generic:radio_maps'"),
        (lambda p: p.write_bytes(b"\x08\x07") and p, "ONNX"),
    ],
)
def test_what_no_page_shows_is_refused_with_the_reason(tmp_path, capsys, make, why):
    path = tmp_path / "model.onnx"
    make(path)
    route = route_file(path)
    assert route.page is None and why in route.problem
    assert cli.main(["play", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"fieldcast play: {path}: ") and why in err and "\n" not in err


@pytest.mark.gui
def test_the_panel_refuses_a_generative_model_on_the_page_in_front(qtbot, tmp_path):
    from fieldcast.app.play.panel import PlayPanel

    panel = PlayPanel(runs=tmp_path / "runs", autoplay=False)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    try:
        panel.show_system("Laser melting")
        path = _generative_model(tmp_path / "radio" / "model.onnx")
        with qtbot.waitSignal(panel.sig_status) as status:
            assert not panel.open_model(path)
        assert str(path) in status.args[0] and "generative" in status.args[0]
        assert panel.pages.currentWidget() is panel.melt
        assert panel.melt.message.isVisible() and str(path) in panel.melt.message.text()
    finally:
        panel.shutdown()
