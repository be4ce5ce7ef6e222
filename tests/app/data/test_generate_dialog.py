import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from fieldcast.app.data.generate_dialog import GenerateDialog, generator_systems
from fieldcast.app.data.job_dialog import format_duration
from fieldcast.engine.data import open_dataset, validate_dataset


def _click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def _type(widget, text: str) -> None:
    """Replace the text of a spin box or line edit as a user would."""
    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Tab)


def _open_dialog(qtbot, panel, trajectories: int, frames: int) -> GenerateDialog:
    _click(panel.generate_button)
    dialog = panel.generate_dialog
    assert dialog.isVisible()
    qtbot.waitActive(dialog)
    _type(dialog.trajectories_spin, str(trajectories))
    _type(dialog.frames_spin, str(frames))
    _type(dialog.size_spin, "16")
    _type(dialog.seed_spin, "7")
    return dialog


def test_generate_end_to_end_adds_and_selects_the_new_file(panel, qtbot, wait_loaded):
    dialog = _open_dialog(qtbot, panel, trajectories=2, frames=4)
    assert dialog.system_combo.currentText() == "smoke"
    out = panel.data_dir / "smoke_16px_2x4_seed7.h5"
    assert dialog.output_path() == out  # the default name follows the parameters
    assert dialog.start_button.isEnabled()
    with qtbot.waitSignal(dialog.sig_job_finished, timeout=60_000) as blocker:
        _click(dialog.start_button)
        assert dialog.cancel_button.isEnabled() and not dialog.trajectories_spin.isEnabled()
    assert blocker.args == ["done"]
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 2
    assert "wrote 2 trajectories" in dialog.message_label.text()
    entry = wait_loaded(panel, out)
    assert entry.state == "ok"
    assert panel.dataset_list.current_entry() is entry
    with open_dataset(out) as ds:
        assert (ds.n_trajectories, ds.n_frames, ds.grid) == (2, 4, (16, 16))
        np.testing.assert_array_equal(panel.preview.view.image(), ds.read_frame(0, 0, "density"))
    _click(dialog.close_button)
    assert not dialog.isVisible()


def test_bad_requests_are_refused_before_starting(panel, qtbot, tmp_path):
    dialog = _open_dialog(qtbot, panel, trajectories=2, frames=4)
    _type(dialog.output_edit, str(tmp_path / "no" / "such" / "folder" / "x.h5"))
    assert "does not exist" in dialog.message_label.text()
    assert not dialog.start_button.isEnabled()
    _type(dialog.output_edit, str(tmp_path / "x.txt"))
    assert ".h5" in dialog.message_label.text()
    assert not dialog.start_button.isEnabled()
    assert dialog.start() is False and dialog.worker is None
    # once the user typed a path it no longer follows the parameters
    _type(dialog.output_edit, str(tmp_path / "mine.h5"))
    _type(dialog.frames_spin, "9")
    assert dialog.output_path() == tmp_path / "mine.h5"
    assert dialog.start_button.isEnabled() and dialog.message_label.text() == ""
    (tmp_path / "mine.h5").write_bytes(b"old")
    _type(dialog.seed_spin, "8")
    assert "will be replaced" in dialog.message_label.text()


def test_cancel_keeps_the_complete_trajectories_in_a_valid_file(panel, qtbot, wait_loaded):
    dialog = _open_dialog(qtbot, panel, trajectories=500, frames=4)
    out = dialog.output_path()
    with qtbot.waitSignal(dialog.sig_job_finished, timeout=60_000) as blocker:
        _click(dialog.start_button)
        qtbot.waitUntil(lambda: dialog.progress_bar.value() >= 1, timeout=30_000)
        assert "left" in dialog.eta_label.text()
        _click(dialog.cancel_button)
        assert "Cancelling" in dialog.message_label.text()
    assert blocker.args == ["cancelled"]
    assert "Cancelled" in dialog.message_label.text()
    assert dialog.start_button.isEnabled() and dialog.close_button.isEnabled()
    with open_dataset(out) as ds:
        assert 1 <= ds.n_trajectories < 500
        assert validate_dataset(ds) == []
        assert f"holds the {ds.n_trajectories} complete trajectories" in dialog.message_label.text()
    assert wait_loaded(panel, out).state == "ok"


def test_closing_while_running_cancels_first(panel, qtbot):
    dialog = _open_dialog(qtbot, panel, trajectories=500, frames=4)
    with qtbot.waitSignal(dialog.sig_job_finished, timeout=60_000):
        _click(dialog.start_button)
        QTest.keyClick(dialog, Qt.Key.Key_Escape)
        assert dialog.isVisible()  # stays open so the outcome is seen
    assert not dialog.is_running()
    _click(dialog.close_button)
    assert not dialog.isVisible()


def test_systems_and_durations():
    assert "smoke" in generator_systems()
    assert format_duration(8.4) == "8 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3 * 3600 + 180) == "3 h 03 min"
