"""What the application does once so that its window keeps answering while models run and train beside it.

The window's thread shares the interpreter with the Play steppers and the training thread, and the CPU with
ONNX Runtime's and torch's thread pools. Two settings keep it served on a small machine (two cores):

- the interpreter hands its lock to a waiting thread after 1 ms instead of 5 ms, so the window's next
  event waits at most about a millisecond for a training step's Python to let go;
- ONNX Runtime sessions leave one core to the window and sleep between operators instead of spinning
  (:func:`fieldcast.engine.runtime.interactive_sessions`).

And one keeps it alive: :class:`MainThreadCollector` runs Python's cycle collector on the window's thread
only. Left automatic, the collector runs in whichever thread happens to allocate past its threshold, often
a training or Play thread, and frees the Qt objects (windows, menus) that sit in reference cycles there;
PySide then destroys Qt objects from two threads at once, which can deadlock the application (one thread
holding the interpreter and waiting for Qt's lock, the other the other way round).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from fieldcast.engine.runtime import interactive_sessions

__all__ = [
    "COLLECT_INTERVAL_MS",
    "SWITCH_INTERVAL_S",
    "MainThreadCollector",
    "keep_window_responsive",
    "lower_thread_priority",
]

log = logging.getLogger("fieldcast.app")

#: seconds a thread may hold the interpreter lock while another waits for it
SWITCH_INTERVAL_S = 0.001

#: how often the main-thread collector looks at the collector's counts
COLLECT_INTERVAL_MS = 500


def keep_window_responsive() -> None:
    """Apply the settings above to this process (idempotent)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    interactive_sessions(True)


def lower_thread_priority(steps: int, what: str) -> None:
    """Lower the calling thread's CPU priority by ``steps`` where the OS allows it per thread (Linux), so the
    window's thread is served first; elsewhere, or when refused, ``what`` keeps its priority (logged)."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError as exc:
        log.info("%s keeps its priority: %s", what, exc)


class MainThreadCollector:
    """Turns automatic garbage collection off and collects on the Qt main thread from a timer instead.

    Every ``interval_ms`` it collects the oldest generation whose allocation count passed its threshold
    (as the automatic collector would, just on this thread). ``stop()`` (or the application quitting)
    turns automatic collection back on if it was on before.
    """

    def __init__(self, interval_ms: int = COLLECT_INTERVAL_MS) -> None:
        import gc

        from PySide6.QtCore import QCoreApplication, QThread, QTimer

        app = QCoreApplication.instance()
        if app is None or QThread.currentThread() is not app.thread():
            raise RuntimeError("MainThreadCollector must be created on the Qt application's thread")
        self._was_enabled = gc.isenabled()
        self.collections = 0
        gc.disable()
        self._timer = QTimer()
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self.check)
        self._timer.start()
        app.aboutToQuit.connect(self.stop)

    def check(self) -> int | None:
        """Collect the generation that is due, if any; returns it (or None)."""
        import gc

        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = None
        for generation in (2, 1, 0):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                due = generation
                break
        if due is not None:
            gc.collect(due)
            self.collections += 1
        return due

    def stop(self) -> None:
        import gc

        self._timer.stop()
        if self._was_enabled:
            gc.enable()
