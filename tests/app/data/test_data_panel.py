from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest
from qt_events import drop_files

from fieldcast.app.data.panel import DataPanel
from fieldcast.engine.data import open_dataset


def _click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def _drop(window, paths: list[Path]) -> None:
    assert drop_files(window, paths)


def _shown(panel: DataPanel) -> np.ndarray:
    return panel.preview.view.image_item.image


def _expected(path: Path, traj: int, frame: int, channel: str) -> np.ndarray:
    with open_dataset(path) as ds:
        return ds.read_frame(traj, frame, channel)


def test_a_valid_and_a_broken_file_dropped_on_the_window(window, qtbot, smoke_file, bad_file, wait_loaded):
    panel = window.panels["data"]
    _drop(window, [smoke_file, bad_file])
    assert panel.datasets() == [smoke_file, bad_file]
    assert window.current_panel() is panel

    broken = wait_loaded(panel, bad_file)
    assert broken.state == "error"
    assert "not an HDF5 file" in broken.error and str(bad_file) in broken.error
    item = panel.dataset_list.item(1)
    assert "not an HDF5 file" in item.text()
    assert panel.details.isVisible()  # the broken file is the current one: its details show
    assert "not an HDF5 file" in panel.details.text_label.text()

    good = wait_loaded(panel, smoke_file)
    assert good.state == "ok"
    assert "smoke · 16×16 × 5 frames × 2 traj" in panel.dataset_list.item(0).text()
    QTest.mouseClick(
        panel.dataset_list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=panel.dataset_list.visualItemRect(panel.dataset_list.item(0)).center(),
    )
    assert panel.preview.isVisible()
    assert panel.preview.position() == (0, 0, "density")
    np.testing.assert_array_equal(_shown(panel), _expected(smoke_file, 0, 0, "density"))
    assert "train" in panel.preview.summary_label.text()
    assert window.isVisible()


def test_loading_never_blocks_and_problems_show_inline(panel, qtbot, smoke_file, tmp_path, wait_loaded):
    import shutil

    import h5py

    damaged = tmp_path / "nan.h5"
    shutil.copy(smoke_file, damaged)
    with h5py.File(damaged, "r+") as f:
        f["t0_fields/density"][1, 2, 3, 4] = np.nan
    panel.open_path(damaged)
    entry = panel.entry(damaged)
    assert entry.state == "probing" and "reading" in panel.dataset_list.item(0).text()
    entry = wait_loaded(panel, damaged)
    assert entry.state == "problems"
    assert any("NaN" in p or "non-finite" in p for p in entry.problems), entry.problems
    assert panel.preview.problems_label.isVisible()
    assert "Validation problems" in panel.preview.problems_label.text()


def test_scrub_frames_switch_channel_and_trajectory(panel, qtbot, smoke_file, wait_loaded):
    panel.open_path(smoke_file)
    wait_loaded(panel, smoke_file)
    preview = panel.preview
    first = _shown(panel).copy()

    preview.frame_slider.setFocus()
    QTest.keyClick(preview.frame_slider, Qt.Key.Key_End)
    assert preview.position() == (0, 4, "density")
    assert not np.array_equal(_shown(panel), first)
    np.testing.assert_array_equal(_shown(panel), _expected(smoke_file, 0, 4, "density"))

    preview.frame_spin.selectAll()
    QTest.keyClicks(preview.frame_spin, "2")
    QTest.keyClick(preview.frame_spin, Qt.Key.Key_Return)
    assert preview.frame_slider.value() == 2

    preview.channel_combo.setFocus()
    QTest.keyClick(preview.channel_combo, Qt.Key.Key_Down)
    assert preview.position() == (0, 2, "velocity_x")
    np.testing.assert_array_equal(_shown(panel), _expected(smoke_file, 0, 2, "velocity_x"))
    assert preview.view.units() == "cells/frame"
    assert preview.view.colormap_name() == "coolwarm"
    with open_dataset(smoke_file) as ds:
        vmax = float(max(-ds.stats["min"][1], ds.stats["max"][1]))
    np.testing.assert_allclose(preview.view.levels(), (-vmax, vmax), rtol=1e-6)

    QTest.keyClick(preview.trajectory_spin, Qt.Key.Key_Up)
    assert preview.position() == (1, 2, "velocity_x")
    np.testing.assert_array_equal(_shown(panel), _expected(smoke_file, 1, 2, "velocity_x"))


def test_play_animates_the_frames_and_stops(panel, qtbot, smoke_file, wait_loaded):
    panel.open_path(smoke_file)
    wait_loaded(panel, smoke_file)
    preview = panel.preview
    shown = []
    preview.sig_frame_shown.connect(lambda t, f, c: shown.append(f))
    _click(preview.play_button)
    assert preview.is_playing()
    qtbot.waitUntil(lambda: shown[-3:] == [4, 0, 1] or len(shown) > 12, timeout=5000)
    assert 4 in shown and shown.index(4) < len(shown) - 1  # wrapped round to the start
    _click(preview.play_button)
    assert not preview.is_playing()


def test_remove_reveal_and_reopen(panel, qtbot, smoke_file, bad_file, wait_loaded, monkeypatch):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    panel.open_path(smoke_file)
    panel.open_path(bad_file)
    wait_loaded(panel, bad_file)
    _click(panel.reveal_button)
    assert opened == [str(bad_file.resolve().parent)]
    _click(panel.remove_button)
    assert panel.datasets() == [smoke_file]
    assert bad_file.exists()  # removed from the list only
    panel.dataset_list.setFocus()
    QTest.keyClick(panel.dataset_list, Qt.Key.Key_Delete)
    assert panel.datasets() == []
    assert panel.empty.isVisible()
    # reopening a listed file selects it instead of listing it twice
    panel.open_path(smoke_file)
    panel.open_path(bad_file)
    panel.open_path(smoke_file)
    assert panel.datasets() == [smoke_file, bad_file]
    assert panel.dataset_list.currentRow() == 0


def test_a_dropped_npz_is_imported_into_the_datasets_folder(panel, qtbot, tmp_path, wait_loaded):
    source = tmp_path / "blender_run.npz"
    rng = np.random.default_rng(0)
    density = rng.random((6, 8, 8), dtype=np.float32)
    np.savez(source, density=density, velocity=rng.random((6, 8, 8, 2), dtype=np.float32))
    panel.open_path(source)
    entry = wait_loaded(panel, source)
    assert entry.state == "import"
    assert panel.details.import_button.isVisible()
    _click(panel.details.import_button)
    dialog = panel.import_dialogs[-1]
    assert dialog.output_path() == panel.data_dir / "blender_run.h5"
    with qtbot.waitSignal(dialog.sig_job_finished, timeout=20_000) as blocker:
        _click(dialog.start_button)
    assert blocker.args == ["done"]
    out = panel.data_dir / "blender_run.h5"
    assert "imported" in dialog.message_label.text()
    assert wait_loaded(panel, out).state == "ok"
    assert panel.dataset_list.current_entry().path == out
    np.testing.assert_allclose(_shown(panel), density[0])


def test_self_check_reports_an_unusable_datasets_folder(qtbot, tmp_path):
    healthy = DataPanel(data_dir=tmp_path)
    qtbot.addWidget(healthy)
    assert healthy.self_check() == []
    missing = DataPanel(data_dir=tmp_path / "gone")
    qtbot.addWidget(missing)
    assert missing.self_check() == [f"datasets folder {tmp_path / 'gone'} does not exist"]
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    panel = DataPanel(data_dir=blocked)
    qtbot.addWidget(panel)
    assert "does not exist" in panel.self_check()[0]


def test_the_empty_state_offers_generate(panel, qtbot, monkeypatch):
    assert panel.empty.isVisible()
    _click(panel.empty_generate_button)
    assert panel.generate_dialog is not None and panel.generate_dialog.isVisible()
    panel.generate_dialog.close()
    # the context menu of the list holds the same actions as the buttons
    assert [a.text() for a in panel.dataset_list.actions()] == [
        "Remove from list (Del)",
        "Reveal in folder",
        "Copy path",
    ]


def test_many_files_are_read_a_few_at_a_time(panel, qtbot, smoke_file, tmp_path, wait_loaded):
    import shutil

    copies = [shutil.copy(smoke_file, tmp_path / f"copy_{i}.h5") for i in range(5)]
    running = []
    for path in copies:
        panel.open_path(Path(path))
    running.append(sum(w.is_running() for w in panel._loaders))
    assert running[0] <= 2 and panel.is_busy()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30_000)
    assert [wait_loaded(panel, Path(p)).state for p in copies] == ["ok"] * 5


def test_one_frame_of_a_128_grid_is_read_in_well_under_5_ms(panel, qtbot, tmp_path, wait_loaded):
    import time

    from fieldcast.engine.generation import generate_dataset

    path = tmp_path / "big.h5"
    for _ in generate_dataset("smoke", path, trajectories=1, frames=3, size=128, seed=0):
        pass
    panel.open_path(path)
    wait_loaded(panel, path)
    preview = panel.preview
    timings = []
    for frame in (1, 2, 0, 1, 2, 0, 1):
        start = time.perf_counter()
        preview.set_position(frame=frame)
        timings.append(time.perf_counter() - start)
    assert preview.view.image().shape == (128, 128)
    assert sorted(timings)[len(timings) // 2] < 0.02, timings  # a cached frame, far under a re-read
