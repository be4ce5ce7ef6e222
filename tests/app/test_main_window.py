from pathlib import Path

import pytest
from play_models import write_tiny_smoke_model
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from qt_events import drop_files

from fieldcast.app.errors import ErrorDialog, ExceptionHook


def _drop(window, paths: list[Path]) -> bool:
    return drop_files(window, paths)


def test_window_has_the_four_panels_and_menus(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Data", "Train", "Runs", "Play"]
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "View", "Help"]


def test_dropped_files_go_to_the_panel_that_registers_them(window, tmp_path, qtbot):
    dataset = tmp_path / "plume.h5"
    dataset.write_bytes(b"\x89HDF\r\n\x1a\n")
    model = write_tiny_smoke_model(tmp_path / "run" / "model.onnx")
    assert _drop(window, [dataset])
    assert window.panels["data"].datasets() == [dataset]
    assert window.current_panel().name == "data"
    assert _drop(window, [model])
    play = window.panels["play"]
    assert play.picker.model_combo.currentData() == str(model)
    assert window.current_panel().name == "play"
    recent = window.settings.recent_files()
    assert recent[:2] == [str(model.resolve()), str(dataset.resolve())]
    assert [a.text() for a in window.recent_menu.actions()][:2] == recent[:2]


def test_a_dropped_foreign_model_is_refused_and_the_app_goes_on(window, tmp_path, qtbot):
    bogus = tmp_path / "smoke.onnx"
    bogus.write_bytes(b"\x08\x07")
    assert _drop(window, [bogus])
    qtbot.waitUntil(lambda: "smoke.onnx" in window.statusBar().currentMessage())
    assert window.panels["play"].picker.model_combo.findData(str(bogus)) < 0
    assert str(bogus.resolve()) not in window.settings.recent_files()
    assert window.isVisible()


def test_panels_hand_work_to_each_other_through_the_window(window, tmp_path, qtbot):
    from fieldcast.engine.generation import generate_dataset

    data = tmp_path / "tiny.h5"
    for _ in generate_dataset("smoke", data, trajectories=2, frames=4, size=16, seed=0):
        pass
    window.open_paths([data])
    panel = window.panels["data"]
    qtbot.waitUntil(lambda: panel.train_button.isEnabled(), timeout=20_000)
    QTest.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert window.current_panel().name == "train"
    assert window.panels["train"].dataset_path() == data
    model = write_tiny_smoke_model(tmp_path / "run" / "model.onnx")
    window.panels["runs"].sig_open_paths.emit([str(model)])
    assert window.current_panel().name == "play"
    assert window.panels["play"].picker.model_combo.currentData() == str(model)


def test_a_drop_of_foreign_files_is_refused_and_nothing_opens(window, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert not _drop(window, [other])
    assert window.open_paths([other]) == [other]
    assert "does not open" in window.statusBar().currentMessage()
    assert window.panels["data"].datasets() == []


def test_recent_file_reopens_from_the_menu(window, tmp_path):
    dataset = tmp_path / "again.h5"
    dataset.write_bytes(b"x")
    window.open_paths([dataset])
    window.panels["data"].dataset_list.clear()
    action = next(a for a in window.recent_menu.actions() if a.text() == str(dataset.resolve()))
    action.trigger()
    assert window.panels["data"].datasets() == [dataset.resolve()]


def test_geometry_and_panel_are_remembered(make_window, qtbot):
    first = make_window()
    first.show()
    qtbot.waitExposed(first)
    first.resize(1180, 760)
    first.show_panel("runs")
    first.close()
    second = make_window()
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (1180, 760)
    assert second.current_panel().name == "runs"


def test_about_lists_versions_providers_and_device(window, qtbot):
    dialog = window.show_about()
    text = dialog.versions_label.text()
    for name in ("Fieldcast", "Python", "Qt", "numpy", "onnx"):
        assert name in text
    assert "CPUExecutionProvider" in dialog.providers_label.text()
    qtbot.waitUntil(lambda: "detecting" not in dialog.device_label.text(), timeout=60_000)
    assert "CPU" in dialog.device_label.text() or "CUDA" in dialog.device_label.text()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_a_dialog_and_the_app_lives(window, qtbot, fieldcast_home):
    hook = ExceptionHook(log_file=str(fieldcast_home / "logs" / "fieldcast.log"))
    hook.install()
    try:

        def boom():
            raise RuntimeError("solver exploded")

        QTimer.singleShot(0, boom)
        qtbot.waitUntil(lambda: len(hook.open_dialogs) == 1, timeout=5000)
        dialog = hook.open_dialogs[0]
        assert isinstance(dialog, ErrorDialog)
        assert "solver exploded" in dialog.text()
        assert "RuntimeError" in dialog.detailedText()
        dialog.close()
        assert window.isVisible()
    finally:
        hook.uninstall()


def test_errors_from_threads_reach_the_gui_thread_and_are_rate_limited(qtbot, qapp):
    import threading

    hook = ExceptionHook(max_open=2)
    hook.install()
    try:
        threads = [threading.Thread(target=lambda: 1 / 0) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        qtbot.waitUntil(lambda: len(hook.open_dialogs) + hook.suppressed == 4, timeout=5000)
        assert len(hook.open_dialogs) == 2
        assert "ZeroDivisionError" in hook.open_dialogs[0].text()
        for d in hook.open_dialogs:
            d.close()
    finally:
        hook.uninstall()


def test_a_dropped_gcode_file_opens_the_trajectory_view_in_play(window, qtbot):
    from fieldcast.resources import resource_path

    gcode = resource_path("gcode", "calibration_square_prusaslicer.gcode")
    assert _drop(window, [gcode])
    play = window.panels["play"]
    assert window.current_panel() is play
    assert play.pages.currentWidget() is play.trajectory
    qtbot.waitUntil(lambda: str(gcode.resolve()) in window.settings.recent_files(), timeout=60_000)


def test_play_opens_with_the_shipped_model_shown_in_its_picker(window, qtbot):
    from fieldcast.app.play.model_picker import default_model_path

    play = window.panels["play"]
    window.show_panel("play")
    qtbot.waitUntil(lambda: play.frame is not None and play.frame.index > 2, timeout=30_000)
    assert play.picker.model_combo.currentData() == str(default_model_path())
    assert "smoke_default.onnx" in play.canvas.title_label.text()
