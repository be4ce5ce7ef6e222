"""The Train panel driven with real clicks: start, watch, change the learning rate, stop, resume, errors."""

from __future__ import annotations

import json
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest

from fieldcast.app.runs.run_watcher import read_records
from fieldcast.training.events import FinishedEvent, StepEvent

LEFT = Qt.MouseButton.LeftButton


def _record_thread_events(panel) -> list:
    """(time, event) of every event the worker emits, recorded in the worker thread as it emits them."""
    seen: list = []
    panel.controller.worker.sig_event.connect(
        lambda e: seen.append((time.monotonic(), e)), Qt.ConnectionType.DirectConnection
    )
    return seen


def _wait_idle(panel, qtbot) -> None:
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=60_000)


def test_start_watch_change_lr_stop_and_resume(ready_panel, qtbot):
    panel = ready_panel()
    loss = panel.plots.loss
    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    assert panel.controller.state == "running" and not panel.start_button.isEnabled()

    qtbot.waitUntil(lambda: loss.drawn_count("train") >= 3, timeout=60_000)
    before = loss.drawn_count("train")
    qtbot.waitUntil(lambda: loss.drawn_count("train") >= before + 3, timeout=30_000)
    qtbot.waitUntil(
        lambda: loss.drawn_count("valid") >= 1 and panel.samples.image_count() == 3, timeout=30_000
    )
    assert panel.plots.rollout.drawn_count("latest") == 2
    assert any(k.startswith("mse/") for k in panel.plots.metrics.curve_keys())
    assert panel.plots.loss.markers() and "tiny" in panel.plots.loss.markers()[0][1]
    qtbot.waitUntil(lambda: panel.eta_label.text().startswith("ETA"), timeout=10_000)

    QTest.keyClicks(panel.lr_edit, "5e-4")
    QTest.mouseClick(panel.lr_button, LEFT)
    step_at_lr = max(e.step for _, e in seen if isinstance(e, StepEvent))
    qtbot.waitUntil(lambda: max(e.step for _, e in seen if isinstance(e, StepEvent)) > step_at_lr + 1)

    clicked = time.monotonic()
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)
    late_steps = [e.step for t, e in seen if t > clicked and isinstance(e, StepEvent)]
    assert len(late_steps) <= 1, f"steps after stop: {late_steps}"
    finished = [e for _, e in seen if isinstance(e, FinishedEvent)]
    assert [f.status for f in finished] == ["cancelled"]
    run = panel.controller.run_dir
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"
    last = run / "checkpoints" / "last.safetensors"
    assert last.is_file()
    saved = json.loads((run / "checkpoints" / "last.json").read_text())["step"]
    assert saved == finished[0].step
    changes = [r for r in read_records(run / "metrics.jsonl") if r["kind"] == "lr_change"]
    assert changes and changes[0]["base_lr"] == 5e-4

    assert panel.resume_button.isEnabled()
    QTest.mouseClick(panel.resume_button, LEFT)
    resumed = _record_thread_events(panel)
    qtbot.waitUntil(lambda: any(isinstance(e, StepEvent) for _, e in resumed), timeout=60_000)
    first = next(e for _, e in resumed if isinstance(e, StepEvent))
    assert first.step == saved + 1
    assert loss.points("train")[0][0] == 1  # the history before the stop was replayed
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"


def test_pause_blocks_the_trainer_and_resume_continues(ready_panel, qtbot):
    panel = ready_panel()
    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    qtbot.waitUntil(lambda: any(isinstance(e, StepEvent) for _, e in seen), timeout=60_000)
    QTest.mouseClick(panel.pause_button, LEFT)
    assert panel.controller.state == "paused" and panel.resume_button.isEnabled()
    qtbot.wait(300)
    count = len(seen)
    qtbot.wait(500)
    assert len(seen) == count
    QTest.mouseClick(panel.resume_button, LEFT)
    qtbot.waitUntil(lambda: len(seen) > count + 2, timeout=30_000)
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)


def _heartbeat_lateness_ms(qtbot, seconds: float) -> np.ndarray:
    """Lateness of a 10 ms precise timer over ``seconds``, in ms (0 = on time)."""
    lateness: list[float] = []
    last: list[float] = []

    def beat() -> None:
        now = time.perf_counter()
        if last:
            lateness.append(now - last[0] - 0.010)
        last[:] = [now]

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    qtbot.wait(int(seconds * 1000))
    heartbeat.stop()
    return np.asarray(lateness) * 1000


def test_event_loop_stays_responsive_while_training(ready_panel, qtbot):
    panel = ready_panel()
    # The same heartbeat with nothing training: what the machine itself costs (zero on a quiet one).
    idle = _heartbeat_lateness_ms(qtbot, 2.0)
    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    qtbot.waitUntil(lambda: panel.plots.loss.drawn_count("train") >= 2, timeout=60_000)
    n0 = len(seen)
    # Two windows, the quieter one counts: a shared machine's own hiccups land in one, not in both.
    windows = [_heartbeat_lateness_ms(qtbot, 3.0) for _ in range(2)]
    ms = min(windows, key=lambda w: np.percentile(w, 99))
    n_events = len(seen) - n0
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)
    p50, p99, worst = np.percentile(ms, 50), np.percentile(ms, 99), ms.max()
    idle_p99 = np.percentile(idle, 99)
    print(
        f"\nheartbeat: {len(ms)} beats, {n_events} events; p50 {p50:.1f}, p99 {p99:.1f}, max {worst:.1f} ms"
        f" (idle p99 {idle_p99:.1f} ms)"
    )
    assert n_events > 20, "the trainer should have been busy during the measurement"
    # The target is 50 ms at the 99th percentile (benchmarks/soak.py measures it with Play running too).
    # This test guards the architecture — training off the GUI thread, plots redrawn on a timer — with a
    # bound a shared CI machine cannot trip: training in the GUI thread would stall it for whole batches.
    assert p99 - idle_p99 < 250


def test_a_failing_run_reports_what_happened_and_what_was_kept(ready_panel, qtbot):
    panel = ready_panel({"system": "melt"})  # the data is smoke: the trainer refuses the recipe
    QTest.mouseClick(panel.start_button, LEFT)
    qtbot.waitUntil(lambda: panel.error_dialog is not None and panel.error_dialog.isVisible(), timeout=60_000)
    dialog = panel.error_dialog
    assert "recipe cannot be used" in dialog.text() and "melt" in dialog.text()
    assert "Nothing" in dialog.informativeText()
    _wait_idle(panel, qtbot)
    assert panel.start_button.isEnabled()
    dialog.close()
