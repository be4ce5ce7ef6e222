"""The Train panel driven with real clicks: start, watch, change the learning rate, stop, resume, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
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
    # The validation plots redraw at their own, slower rate (LivePlots.validation_hz).
    qtbot.waitUntil(lambda: panel.plots.rollout.drawn_count("latest") == 2, timeout=5_000)
    assert any(k.startswith("mse/") for k in panel.plots.metrics.curve_keys())
    assert panel.plots.loss.markers() and "tiny" in panel.plots.loss.markers()[0][1]
    qtbot.waitUntil(lambda: panel.eta_label.text().startswith("ETA"), timeout=10_000)

    QTest.keyClicks(panel.lr_edit, "5e-4")
    QTest.mouseClick(panel.lr_button, LEFT)
    step_at_lr = max(e.step for _, e in seen if isinstance(e, StepEvent))
    qtbot.waitUntil(lambda: max(e.step for _, e in seen if isinstance(e, StepEvent)) > step_at_lr + 1)

    QTest.mouseClick(panel.stop_button, LEFT)
    clicked = time.monotonic()  # the click has set the trainer's cancel token: at most the batch on the way
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
    """Lateness of a 10 ms precise timer in the GUI thread over ``seconds``, in ms (0 = on time)."""
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


_MACHINE_PROBE = """
import sys, time
end = time.perf_counter() + float(sys.argv[1])
last = time.perf_counter()
while last < end:
    time.sleep(0.010)
    now = time.perf_counter()
    print((now - last - 0.010) * 1000)
    last = now
"""


def _start_machine_probe(seconds: float) -> subprocess.Popen:
    """The same 10 ms heartbeat in a separate process with no Qt and no GIL to share: how late the
    operating system itself wakes a normal-priority thread on this machine meanwhile (about 0 when quiet)."""
    return subprocess.Popen(
        [sys.executable, "-c", _MACHINE_PROBE, str(seconds)], stdout=subprocess.PIPE, text=True
    )


def _machine_lateness_ms(probe: subprocess.Popen) -> np.ndarray:
    out, _ = probe.communicate(timeout=60)
    return np.asarray([float(line) for line in out.split()] or [0.0])


class _PaintCounter(QObject):
    """Counts the paint events of some widgets while it is installed on them."""

    def __init__(self, widgets) -> None:
        super().__init__()
        self.counts = {w: 0 for w in widgets}
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and watched in self.counts:
            self.counts[watched] += 1
        return False

    def remove(self) -> None:
        for widget in self.counts:
            widget.removeEventFilter(self)


#: the bound of issue #8: event-loop latency at the 99th percentile while training, in ms
LATENCY_TARGET_MS = 50.0


def test_event_loop_stays_responsive_while_training(ready_panel, qtbot):
    """Issue #8: while training, a 10 ms heartbeat in the GUI thread is late by under 50 ms at the 99th
    percentile, and the live plots repaint no more often than they are meant to.

    The tiny recipe makes this a stress case: about two hundred events a second, a validation (so every
    plot changes) several times a second.

    The latency is compared with the absolute 50 ms target, relaxed only by what the machine itself
    costs at that moment: a separate process (no Qt, no GIL shared with us) runs the same heartbeat during
    each measurement window, and its 99th percentile is how late the operating system woke any
    normal-priority thread meanwhile, because of everything else running (on a shared CI machine, other
    jobs). It is a few milliseconds with this test's own trainer on one core of two, so on a quiet machine
    the bound is the target itself; it grows only when the machine is busy. What the window adds on top of
    that, by drawing or by waiting for the training thread (and its GIL), must stay under 50 ms. The idle
    heartbeat before training is printed for comparison. Of two windows, the one with the smaller excess
    counts, so a burst of load in one window does not decide the result.

    The paint count guards the design even on a machine too busy for the latency to tell: each plot must
    repaint at most about ``refresh_hz`` times a second (a flush and an occasional change of axis range),
    however many points arrive. Repainting per event, or per update twice as pyqtgraph's auto-range does
    (about 20 a second per plot before issue #8 was fixed), fails it.
    """
    panel = ready_panel()
    plots = panel.plots
    idle = _heartbeat_lateness_ms(qtbot, 2.0)
    QTest.mouseClick(panel.start_button, LEFT)
    seen = _record_thread_events(panel)
    qtbot.waitUntil(lambda: plots.loss.drawn_count("train") >= 2, timeout=60_000)
    n0 = len(seen)
    seconds, windows = 3.0, []
    counter = _PaintCounter([plot.viewport() for plot in plots.plots])
    for _ in range(2):
        probe = _start_machine_probe(seconds)
        gui = _heartbeat_lateness_ms(qtbot, seconds)
        windows.append((gui, _machine_lateness_ms(probe)))
    counter.remove()
    n_events = len(seen) - n0
    QTest.mouseClick(panel.stop_button, LEFT)
    _wait_idle(panel, qtbot)

    gui, machine = min(windows, key=lambda w: np.percentile(w[0], 99) - np.percentile(w[1], 99))
    p50, p99, worst = np.percentile(gui, 50), np.percentile(gui, 99), gui.max()
    machine_p99, idle_p99 = np.percentile(machine, 99), np.percentile(idle, 99)
    paints_per_s = max(counter.counts.values()) / (len(windows) * seconds)
    print(
        f"\nheartbeat while training: {len(gui)} beats, {n_events} events in {len(windows)} windows;"
        f" p50 {p50:.1f}, p99 {p99:.1f}, max {worst:.1f} ms; idle p99 {idle_p99:.1f} ms;"
        f" machine p99 {machine_p99:.1f} ms; busiest plot {paints_per_s:.1f} paints/s"
    )
    assert n_events > 20, "the trainer should have been busy during the measurement"
    assert paints_per_s <= 1.5 * plots.refresh_hz, f"a plot repainted {paints_per_s:.1f} times a second"
    assert p99 < LATENCY_TARGET_MS + machine_p99, (
        f"p99 heartbeat lateness {p99:.1f} ms while training (the machine itself: {machine_p99:.1f} ms)"
    )


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
