"""Every file of the bad corpus dropped on the real main window: a message naming it, and the window lives."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from qt_events import drop_files
from reliability_cases import MARKER_NAME, Case, build_corpus

from fieldcast.app.main_window import MainWindow
from fieldcast.app.paths import app_paths
from fieldcast.app.settings import Settings

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Case]]:
    folder = tmp_path_factory.mktemp("gui-corpus")
    return folder, build_corpus(folder)


@pytest.fixture
def window(qtbot) -> MainWindow:
    paths = app_paths()
    w = MainWindow(paths, Settings(paths.settings_file))
    qtbot.addWidget(w)
    w.panels["play"].autoplay = False
    w.show()
    qtbot.waitExposed(w)
    return w


def drop(window: MainWindow, paths: list[Path]) -> bool:
    return drop_files(window, paths)


def assert_responsive(qtbot, window: MainWindow) -> None:
    """The event loop still turns: a zero-delay timer fires within a second and the window is shown."""
    fired: list[bool] = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: bool(fired), timeout=1000)
    assert window.isVisible()


def _dropped(case: Case) -> Path:
    return Path(case.drop or case.path)


def test_bad_datasets_dropped_on_the_window_each_say_why(window, qtbot, corpus):
    folder, cases = corpus
    data = [c for c in cases if _dropped(c).suffix in (".h5", ".npz")]
    assert drop(window, [_dropped(c) for c in data])
    panel = window.panels["data"]
    # Each file is first looked at by a child interpreter (crash and hang proof): seconds per file when the
    # machine is busy, so the budget grows with the number of files.
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=max(60_000, 12_000 * len(data)))
    for case in data:
        entry = panel.entry(_dropped(case))
        assert entry is not None, case.id
        if case.expect == "survived" and entry.state in ("ok", "problems"):
            continue
        assert entry.state in ("error", "problems"), (case.id, entry.state)
        text = entry.error if entry.state == "error" else "; ".join(entry.problems)
        assert _dropped(case).name in entry.error or entry.state == "problems", (case.id, text)
        if case.keyword and case.expect != "survived":
            assert case.keyword.lower() in text.lower(), (case.id, text)
    assert_responsive(qtbot, window)
    assert not (folder / MARKER_NAME).exists()


def test_bad_models_and_recipes_dropped_on_the_window_each_say_why(window, qtbot, corpus):
    folder, cases = corpus
    play, train = window.panels["play"], window.panels["train"]
    for case in cases:
        path = _dropped(case)
        if path.suffix == ".onnx":
            assert drop(window, [path])
            assert path.name in play.message.text() and play.message.isVisible(), case.id
            assert path.name in window.statusBar().currentMessage(), case.id
            assert play.picker.model_combo.findData(str(path)) < 0, case.id
        elif path.suffix == ".yaml":
            assert drop(window, [path])
            qtbot.waitUntil(lambda: "Cannot use this recipe" in train.recipe_status.text(), timeout=20_000)
            assert path.name in train.recipe_status.text(), case.id
            assert case.keyword.lower() in train.recipe_status.text().lower(), case.id
        assert_responsive(qtbot, window)
    assert not (folder / MARKER_NAME).exists()


def test_files_no_panel_opens_are_refused_by_name(window, qtbot, corpus):
    folder, cases = corpus
    for case in cases:
        path = _dropped(case)
        if path.suffix in (".h5", ".npz", ".onnx", ".yaml"):
            continue
        if window.panel_for(path) is None:
            assert not drop(window, [path]), case.id  # the drag itself is refused
            assert window.open_paths([path]) == [path]
            assert path.name in window.statusBar().currentMessage(), case.id
        else:  # a panel opens this kind of file: it must say why this one is bad
            assert drop(window, [path])
            qtbot.waitUntil(lambda p=path: p.name in window.statusBar().currentMessage(), timeout=20_000)
        assert_responsive(qtbot, window)
    assert not (folder / MARKER_NAME).exists()


def test_resuming_a_run_with_a_bad_checkpoint_says_which_file(window, qtbot, corpus):
    folder, cases = corpus
    train = window.panels["train"]
    for case in (c for c in cases if c.kind in ("checkpoint", "safetensors")):
        window.panels["runs"].sig_resume_requested.emit(case.path)
        qtbot.waitUntil(
            lambda: train.controller.state == "idle" and train.error_dialog is not None, timeout=30_000
        )
        dialog = train.error_dialog
        assert Path(case.drop).name in dialog.text() and "checkpoint cannot be used" in dialog.text(), case.id
        assert Path(case.drop).name in window.statusBar().currentMessage(), case.id
        dialog.close()
        train.error_dialog = None
        assert_responsive(qtbot, window)
    assert not (folder / MARKER_NAME).exists()
