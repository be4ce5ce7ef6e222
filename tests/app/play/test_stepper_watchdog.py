"""A Play stepper whose step stops answering is abandoned with a message naming the model."""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QTimer

from fieldcast.app.play.stepper import Stepper, describe

pytestmark = pytest.mark.gui


@dataclass
class _Frame:
    step: int
    finite: bool = True


class _Stalling:
    """Steps normally ``good`` times, then blocks in ``advance`` until released (a model that loops)."""

    def __init__(self, path: str, good: int) -> None:
        self.path = path
        self.good = good
        self.steps = 0
        self.release = threading.Event()
        self.frame = _Frame(0)

    def advance(self) -> _Frame:
        if self.steps >= self.good:
            self.release.wait()
        self.steps += 1
        self.frame = _Frame(self.steps)
        return self.frame


def test_a_stalled_step_abandons_the_stepper_naming_the_model(qtbot):
    sim = _Stalling("/models/loops_forever.onnx", good=3)
    stepper = Stepper(sim, timeout=0.5)
    frames: list[_Frame] = []

    def take(frame: _Frame) -> None:
        frames.append(frame)
        stepper.frame_received()

    stepper.sig_frame.connect(take)
    stepper.rate = 0.0
    stepper.start()
    with qtbot.waitSignal(stepper.sig_abandoned, timeout=5000) as blocker:
        stepper.play()
    message = blocker.args[0]
    assert "loops_forever.onnx" in message and "abandoned" in message and "\n" not in message
    assert stepper.abandoned and not stepper.running
    # The GUI thread still turns and the stuck stepper neither plays again nor sends late frames.
    fired: list[bool] = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: bool(fired), timeout=1000)
    stepper.play()
    assert not stepper.running
    seen = len(frames)
    sim.release.set()
    qtbot.wait(200)
    assert len(frames) == seen
    assert stepper.stop(0.1)


def test_a_slow_but_answering_stepper_is_kept(qtbot):
    sim = _Stalling("slow.onnx", good=0)
    stepper = Stepper(sim, timeout=2.0)
    stepper.rate = 0.0
    stepper.start()
    stepper.play()
    qtbot.wait(300)
    sim.release.set()  # every later step returns at once
    qtbot.waitUntil(lambda: sim.steps > 5, timeout=3000)
    assert not stepper.abandoned
    stepper.pause()
    assert stepper.stop(2.0)


def test_errors_name_the_model_they_came_from():
    class Backend:
        path = "/runs/r1/model.onnx"

    class Sim:
        backend = Backend()

    assert describe(Sim()) == "/runs/r1/model.onnx"
    assert describe(object()) == "the simulation"


def test_stop_abandons_a_step_that_does_not_answer(qtbot):
    from fieldcast.app.play.model_opening import wait_abandoned

    sim = _Stalling("/models/stuck.onnx", good=1)
    stepper = Stepper(sim, timeout=60.0)  # far from its watchdog: the window closes first
    stepper.sig_frame.connect(lambda _frame: stepper.frame_received())
    stepper.rate = 0.0
    stepper.start()
    stepper.play()
    qtbot.waitUntil(lambda: sim.steps >= 1 and stepper._busy_since is not None, timeout=5000)
    t0 = time.monotonic()
    assert stepper.stop(0.3) is False
    assert time.monotonic() - t0 < 1.0 and stepper.abandoned
    assert not wait_abandoned(0.1)  # its thread is still inside the step
    sim.release.set()
    assert wait_abandoned(5.0)


def test_closing_the_window_does_not_wait_for_a_stuck_play_step(qtbot):
    from fieldcast.app.main_window import MainWindow
    from fieldcast.app.paths import app_paths
    from fieldcast.app.play.model_opening import wait_abandoned
    from fieldcast.app.settings import Settings

    paths = app_paths()
    window = MainWindow(paths, Settings(paths.settings_file))
    qtbot.addWidget(window)
    window.show_panel("play")
    window.show()
    qtbot.waitExposed(window)
    play = window.panels["play"]
    qtbot.waitUntil(lambda: play.frame is not None, timeout=20_000)
    release, entered = threading.Event(), threading.Event()
    real = play.simulation.advance

    def stuck():
        entered.set()
        release.wait()
        return real()

    play.simulation.advance = stuck
    play.play()
    qtbot.waitUntil(entered.is_set, timeout=10_000)
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 4.0  # the stuck step is abandoned after a second, not waited for
    assert play.stepper.abandoned
    release.set()
    assert wait_abandoned(10.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_the_stepper_thread_runs_nicer_than_the_window(qtbot):
    from fieldcast.app.play.stepper import STEPPER_NICENESS

    sim = _Stalling("nice.onnx", good=10**6)
    stepper = Stepper(sim)
    stepper.start()
    qtbot.waitUntil(lambda: stepper._thread.native_id is not None, timeout=2000)
    window = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    qtbot.waitUntil(
        lambda: (
            os.getpriority(os.PRIO_PROCESS, stepper._thread.native_id) == min(19, window + STEPPER_NICENESS)
        ),
        timeout=2000,
    )
    assert stepper.stop()
