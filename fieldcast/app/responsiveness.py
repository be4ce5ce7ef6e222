"""What the application does once so that its window keeps answering while models run and train beside it.

The window's thread shares the interpreter with the Play steppers and the training thread, and the CPU with
ONNX Runtime's and torch's thread pools. Two settings keep it served on a small machine (two cores):

- the interpreter hands its lock to a waiting thread after 1 ms instead of 5 ms, so the window's next
  event waits at most about a millisecond for a training step's Python to let go;
- ONNX Runtime sessions leave one core to the window and sleep between operators instead of spinning
  (:func:`fieldcast.engine.runtime.interactive_sessions`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from fieldcast.engine.runtime import interactive_sessions

__all__ = ["SWITCH_INTERVAL_S", "keep_window_responsive", "lower_thread_priority"]

log = logging.getLogger("fieldcast.app")

#: seconds a thread may hold the interpreter lock while another waits for it
SWITCH_INTERVAL_S = 0.001


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
