"""The Train panel's generated-maps view on a tiny generative run trained by the real pipeline: pairs with
their differences, several samples of one condition, the loss by timestep; damaged records and files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generative_runs import train_tiny
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("generative-train"))


def _images(layout) -> list[np.ndarray]:
    """The maps of a GraphicsLayoutWidget in reading order (row by row)."""
    import pyqtgraph as pg

    found = []
    for item, cells in layout.ci.items.items():
        found += [(min(cells), i.image) for i in item.items if isinstance(i, pg.ImageItem)]
    return [image for _, image in sorted(found, key=lambda f: f[0])]


def test_the_view_shows_every_validation_of_a_real_run(qtbot, tiny):
    from fieldcast.app.train.generative_view import GenerativeRunView

    records = [json.loads(line) for line in (tiny.run / "metrics.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds.count("generative_samples") == 2 and kinds.count("timestep_loss") == 2

    view = GenerativeRunView()
    view.resize(1100, 700)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    with qtbot.waitSignal(view.sig_available) as available:
        view.set_run(tiny.run)
    assert available.args == [True]
    assert view.slider.value() == 1 and "Validation 2 of 2" in view.position.text()

    files = [tiny.run / r["path"] for r in records if r["kind"] == "generative_samples"]
    newest = np.load(files[-1], allow_pickle=False)
    pairs = _images(view.pairs_view)
    assert len(pairs) == 9  # three conditions: truth, generated, difference
    np.testing.assert_allclose(pairs[0], newest["truths"][0], rtol=1e-6)
    np.testing.assert_allclose(pairs[1], newest["predictions"][0], rtol=1e-6)
    np.testing.assert_allclose(pairs[2], newest["predictions"][0] - newest["truths"][0], atol=1e-5)
    side = _images(view.samples_view)
    assert len(side) == 1 + min(4, len(newest["samples"])) + 2  # truth, samples (four at most), mean, spread
    np.testing.assert_allclose(side[1], newest["samples"][0], rtol=1e-6)
    np.testing.assert_allclose(side[-1], newest["samples"].std(axis=0), rtol=1e-5)

    # Back to the first validation with the keyboard on the slider.
    view.slider.setFocus()
    QTest.keyClick(view.slider, Qt.Key.Key_Home)
    first = np.load(files[0], allow_pickle=False)
    assert "Validation 1 of 2" in view.position.text()
    np.testing.assert_allclose(_images(view.pairs_view)[0], first["truths"][0], rtol=1e-6)

    # The newest loss by timestep, empty bins left out, beside the first one.
    latest = [r for r in records if r["kind"] == "timestep_loss"][-1]
    edges = np.asarray(latest["bins"])
    keep = [v is not None for v in latest["values"]]
    xs, ys = view.timestep_plot.points("latest")
    np.testing.assert_allclose(xs, ((edges[:-1] + edges[1:]) / 2)[keep])
    np.testing.assert_allclose(ys, [v for v in latest["values"] if v is not None], rtol=1e-6)
    assert view.timestep_plot.drawn_count("latest") == sum(keep)
    oldest = [r for r in records if r["kind"] == "timestep_loss"][0]
    assert view.timestep_plot.drawn_count("first") == sum(v is not None for v in oldest["values"])


def test_damaged_records_and_files_are_named_not_fatal(qtbot, tiny, tmp_path):
    import shutil

    from fieldcast.app.train.generative_view import GenerativeRunView

    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    newest = [r["path"] for r in records if r["kind"] == "generative_samples"][-1]
    (run / newest).write_bytes(b"PK\x03\x04 damaged")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "generative_samples", "step": 9, "path": "../../etc/passwd"}) + "\n")
        f.write(json.dumps({"kind": "timestep_loss", "step": 9, "bins": [0, 1], "values": [1, 2, 3]}) + "\n")
    view = GenerativeRunView()
    qtbot.addWidget(view)
    view.show()
    view.set_run(run)
    assert len(view.samples) == 2 and len(view.losses) == 2  # the escaping path and the bad bins are skipped
    assert newest.split("/")[-1] in view.position.text()
    assert "not a generative samples file" in view.position.text()
    view.slider.setValue(0)
    assert "Validation 1 of 2" in view.position.text()


def test_training_from_the_panel_fills_the_tab(qtbot, tiny, tmp_path):
    from generative_runs import tiny_recipe_path

    from fieldcast.app.train.panel import TrainPanel

    recipe = tiny_recipe_path()
    panel = TrainPanel(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    qtbot.waitExposed(panel)
    tabs = panel.sample_tabs
    index = tabs.indexOf(panel.generative)
    assert not tabs.isTabVisible(index)
    panel.set_dataset(tiny.data)
    panel.open_path(recipe)
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=30_000)
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tabs.isTabVisible(index), timeout=60_000)
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=60_000)
    tabs.setCurrentIndex(index)
    qtbot.waitUntil(lambda: len(panel.generative.samples) == 2, timeout=10_000)
    assert len(panel.generative.losses) == 2 and "Validation 2 of 2" in panel.generative.position.text()
    panel.shutdown()


def test_records_are_read_as_they_are_appended(tmp_path):
    from fieldcast.app.train.generative_records import RecordTail

    metrics = tmp_path / "metrics.jsonl"
    step = json.dumps({"kind": "step", "step": 1, "loss": 0.5}) + "\n"
    loss = json.dumps({"kind": "timestep_loss", "step": 2, "bins": [0, 50, 100], "values": [1.0, None]})
    metrics.write_text(step * 3 + loss[:20], encoding="utf-8")  # a record being written
    tail = RecordTail(metrics)
    assert tail.read_new() == []
    with open(metrics, "a", encoding="utf-8") as f:
        f.write(loss[20:] + "\n" + step + '{"kind": "timestep_loss" damaged\n')
    assert tail.read_new() == [json.loads(loss)]
    assert tail.read_new() == [] and tail.offset == metrics.stat().st_size
