"""The Runs panel follows run folders written by anyone, compares runs and acts on them."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from fieldcast.app.runs.run_table import COLUMNS
from fieldcast.app.runs.run_watcher import RunWatcher

LEFT = Qt.MouseButton.LeftButton


def _click_row(panel, name: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    view = panel.table
    row = next(r for r in range(view.proxy.rowCount()) if view.proxy.index(r, 0).data() == name)
    rect = view.visualRect(view.proxy.index(row, 0))
    QTest.mouseClick(view.viewport(), LEFT, modifier, rect.center())


def _cell(panel, name: str, column: str) -> str:
    proxy = panel.table.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name)
    return proxy.index(row, COLUMNS.index(column)).data()


def test_a_run_trained_outside_the_panel_appears_with_its_figures(runs_panel, train_run, qtbot):
    assert runs_panel.table.runs.rowCount() == 0
    train_run(runs_panel.runs_dir / "cli-run")
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: _cell(runs_panel, "cli-run", "status") == "completed", timeout=10_000)
    assert _cell(runs_panel, "cli-run", "system") == "smoke"
    assert _cell(runs_panel, "cli-run", "model") == "unet d1 b4"
    assert _cell(runs_panel, "cli-run", "parameters") not in ("", "0")
    assert float(_cell(runs_panel, "cli-run", "best val. loss")) > 0
    assert "density" in _cell(runs_panel, "cli-run", "best per channel")
    assert _cell(runs_panel, "cli-run", "device") == "cpu"
    assert _cell(runs_panel, "cli-run", "duration").count(":") == 2


def test_select_two_runs_to_overlay_curves_and_diff_recipes(runs_panel, train_run, qtbot):
    train_run(runs_panel.runs_dir / "slow", lr=1e-4)
    train_run(runs_panel.runs_dir / "fast", lr=3e-3)
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 2, timeout=10_000)
    _click_row(runs_panel, "slow")
    _click_row(runs_panel, "fast", Qt.KeyboardModifier.ControlModifier)
    compare = runs_panel.compare
    assert sorted(r.path.name for r in compare.runs) == ["fast", "slow"]
    plot = compare.plot
    assert len(plot.curve_keys()) == 2 and all(plot.drawn_count(k) > 0 for k in plot.curve_keys())
    assert {"optim.lr", "name"} <= compare.differing_keys()
    assert "model.name" not in compare.differing_keys()
    table = compare.diff_table
    top = table.verticalHeaderItem(0).text()
    assert top.startswith("≠ ")  # differing keys are listed first and marked
    QTest.mouseClick(compare.only_diff, LEFT, pos=QPoint(5, 5))
    shown = [table.verticalHeaderItem(r).text() for r in range(table.rowCount()) if not table.isRowHidden(r)]
    assert shown and all(s.startswith("≠ ") for s in shown)


def test_resume_and_delete_from_the_panel(runs_panel, train_run, qtbot, monkeypatch):
    train_run(runs_panel.runs_dir / "stopped", cancel_at=2)
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 1, timeout=10_000)
    _click_row(runs_panel, "stopped")
    assert _cell(runs_panel, "stopped", "status") == "cancelled"
    assert runs_panel.resume_button.isEnabled()
    assert not runs_panel.play_button.isEnabled()  # nothing exported yet
    with qtbot.waitSignal(runs_panel.sig_resume_requested) as blocker:
        QTest.mouseClick(runs_panel.resume_button, LEFT)
    assert blocker.args == [str(runs_panel.runs_dir / "stopped")]

    (runs_panel.runs_dir / "stopped" / "model.onnx").write_bytes(b"onnx")
    runs_panel.refresh()
    _click_row(runs_panel, "stopped")
    runs_panel._update_actions()
    with qtbot.waitSignal(runs_panel.sig_open_paths) as opened:
        QTest.mouseClick(runs_panel.play_button, LEFT)
    assert opened.args == [[str(runs_panel.runs_dir / "stopped" / "model.onnx")]]

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    QTest.mouseClick(runs_panel.delete_button, LEFT)
    assert (runs_panel.runs_dir / "stopped").is_dir()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    QTest.mouseClick(runs_panel.delete_button, LEFT)
    assert not (runs_panel.runs_dir / "stopped").exists()
    assert runs_panel.table.runs.rowCount() == 0


def test_a_half_written_metrics_line_waits_for_its_end(tmp_path, qtbot):
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"status": "running", "name": "live"}')
    metrics = run / "metrics.jsonl"
    metrics.write_text('{"kind": "start", "step": 0, "device": "cuda:0", "time": 1.0}\n{"kind": "step", "st')
    watcher = RunWatcher(tmp_path / "runs")
    watcher.scan()
    info = watcher.info(run)
    assert info.device == "cuda:0" and info.train_curve == []
    with open(metrics, "a") as f:
        f.write('ep": 1, "loss": 0.5, "time": 2.0}\n')
    with qtbot.waitSignal(watcher.sig_run_updated):
        watcher.scan()
    assert info.train_curve == [(1, 0.5)] and info.duration == 1.0


def test_export_shows_the_parity_report_and_enables_play(runs_panel, train_run, qtbot):
    train_run(runs_panel.runs_dir / "done")
    qtbot.waitUntil(lambda: runs_panel.table.runs.rowCount() == 1, timeout=10_000)
    _click_row(runs_panel, "done")
    assert runs_panel.export_button.isEnabled()
    QTest.mouseClick(runs_panel.export_button, LEFT)
    qtbot.waitUntil(lambda: runs_panel.export_worker is None, timeout=120_000)
    dialog = runs_panel.report_dialog
    assert dialog is not None and dialog.windowTitle() == "Exported to ONNX", dialog.detailedText()
    assert "fp32" in dialog.informativeText() and "matches torch" in dialog.informativeText()
    assert (runs_panel.runs_dir / "done" / "model.onnx").is_file()
    assert runs_panel.play_button.isEnabled()
    dialog.close()


def test_best_figures_keep_per_channel_mse_or_each_metric_with_its_baselines():
    from fieldcast.app.runs.run_table import figures_text
    from fieldcast.app.runs.run_watcher import best_figures

    field = {"kind": "validation", "step": 3, "loss": 0.2, "mse/density": 0.1, "persistence_loss": 0.4}
    assert best_figures(field) == {"mse/density": 0.1}
    sequence = {"kind": "validation", "loss": 0.2, "rmse_um": 3.0, "zero_rmse_um": 5.0, "linear_rmse_um": 4.0}
    figures = best_figures(sequence)
    assert figures == {"rmse_um": 3.0, "zero_rmse_um": 5.0, "linear_rmse_um": 4.0}
    assert figures_text(figures) == "rmse_um 3 (zero 5, linear 4)"


def test_the_export_report_says_when_a_variant_cannot_exist():
    from fieldcast.app.runs.exporting import format_report

    report = {
        "run": "r",
        "checkpoint": "best",
        "inputs": "valid (8 samples)",
        "variants": {
            "fp32": {
                "path": "model.onnx",
                "bytes": 2e6,
                "parity": {"max_abs": 1e-6, "max_rel": 2e-6, "ok": True},
            },
            "int8": {"path": None, "not_applicable": "a recurrent state cannot be quantised"},
        },
    }
    lines = format_report(report).splitlines()
    assert lines[1].startswith("fp32 (model.onnx, 2.00 MB)") and lines[1].endswith("matches torch")
    assert lines[2] == "int8: not applicable: a recurrent state cannot be quantised"
