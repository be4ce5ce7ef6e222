"""The Train panel keeps every validation's samples: scrub through them with the mouse once a run trains."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from train_gui import choose_in_combo

from fieldcast.app.train.sample_history import MODES

LEFT = Qt.MouseButton.LeftButton


def _click_tab(panel, title: str) -> None:
    bar = panel.sample_tabs.tabBar()
    i = next(i for i in range(bar.count()) if bar.tabText(i) == title)
    QTest.mouseClick(bar, LEFT, pos=bar.tabRect(i).center())


def test_scrub_every_validation_of_a_run_and_see_its_loss_distribution(ready_panel, qtbot):
    panel = ready_panel({"train": {"epochs": 6}})
    QTest.mouseClick(panel.start_button, LEFT)
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=120_000)
    history = panel.history
    run = history.run_dir
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"epoch_{e:04d}.npz" for e in range(1, 7)]
    assert not history.isVisible() and len(history.files) < 6  # hidden: it does not read while training

    _click_tab(panel, "Every validation")
    qtbot.waitUntil(lambda: len(history.files) == 6, timeout=10_000)  # shown: it catches up
    assert history.index == 5 and "Epoch 6" in history.position.text()  # the newest validation first
    with np.load(run / "samples" / "epoch_0006.npz", allow_pickle=False) as newest:
        n_losses, n_shown = newest["losses"].size, newest["truth"].shape[0]
    assert n_losses >= n_shown >= 1
    title = history.losses.getPlotItem().titleLabel.text
    assert f"Loss distribution, epoch 6: {n_losses} sample(s)" in title

    slider = history.slider
    for expected in (4, 3, 2):  # clicks on the groove left of the handle step back one validation each
        QTest.mouseClick(slider, LEFT, pos=QPoint(4, slider.height() // 2))
        qtbot.waitUntil(lambda e=expected: history.index == e, timeout=5_000)
        assert f"Epoch {expected + 1}" in history.position.text()
    images = [i for i in history.view.scene().items() if type(i).__name__ == "ImageItem"]
    assert len(images) == 3 * min(3, n_shown)  # truth, prediction and difference of each sample
    truth, pred, diff = (history.view.ci.getItem(0, c).items[0].image for c in range(3))
    np.testing.assert_allclose(diff, pred - truth, atol=1e-6)

    choose_in_combo(qtbot, history.mode_combo, MODES[1])
    assert not slider.isEnabled()
    assert "First 5 validations (epochs 1, 2, 3, 4, 5)" in history.position.text()
    qtbot.wait(QApplication.doubleClickInterval() + 100)  # a second choice, not a double click
    choose_in_combo(qtbot, history.mode_combo, MODES[2])
    assert "Last 5 validations (epochs 2, 3, 4, 5, 6)" in history.position.text()
    titles = [history.view.ci.getItem(0, c).titleLabel.text for c in range(5)]
    assert titles == [f"epoch {e}: truth" for e in range(2, 7)]
    assert history.reads <= 6  # each samples file is read at most once
