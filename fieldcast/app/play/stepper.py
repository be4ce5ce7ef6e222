"""The stepping thread of the Play panel: runs a simulation and hands out its finished frames.

Double buffering: every step makes new arrays, and the finished frame travels to the GUI as a
signal payload, so the canvas always draws the latest complete frame while the next one is computed.
At most two frames are in flight; when the GUI lags, the stepper keeps only the newest unsent frame
instead of queueing them. Commands (reset, scene, grid, backend, compare) are functions queued to the
thread and run between two steps, so the simulation is only ever touched by one thread.

A watchdog in the GUI thread watches each step and command: one that has not returned after
:attr:`Stepper.timeout` seconds (a model that loops forever, or one far too large for the machine) gets
the stepper abandoned: the window says so, naming the model, and carries on; the stuck thread is left to
finish or die with the process, and whatever it produces afterwards is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from fieldcast.app.responsiveness import lower_thread_priority

__all__ = ["Stepper", "Steppable", "wait_abandoned_steppers"]

log = logging.getLogger("fieldcast.app.play")

# Steppers stay referenced until their thread ends (see fieldcast.app.workers).
_LIVE: set[Stepper] = set()
_MAX_IN_FLIGHT = 2
#: seconds a step or command may take before the stepper is abandoned
STEP_TIMEOUT_S = 15.0
#: seconds :meth:`Stepper.stop` waits for the step in progress before abandoning it (closing the window)
STOP_WAIT_S = 1.0
_WATCH_MS = 250
# Abandoned steppers whose thread has not ended yet (inside a step that stopped answering).
_ABANDONED: set[Stepper] = set()


#: how much nicer than the window a stepper thread runs (Linux): the window draws first, then the model steps
STEPPER_NICENESS = 5


def wait_abandoned_steppers(seconds: float) -> bool:
    """Wait up to ``seconds`` for the threads of abandoned steppers to end; True when none is left."""
    deadline = time.monotonic() + seconds
    for stepper in list(_ABANDONED):
        stepper._thread.join(max(0.0, deadline - time.monotonic()))
        if not stepper._thread.is_alive():
            _ABANDONED.discard(stepper)
    return not _ABANDONED


def describe(simulation: Any) -> str:
    """What a stepper drives, for messages: the model file it steps when one can be found."""
    seen: list[Any] = [simulation]
    for obj in seen:
        for name in ("label", "model_path", "path"):
            value = getattr(obj, name, None)
            if isinstance(value, str) and value:
                return value
            if value is not None and hasattr(value, "name") and str(value):
                return str(value)
        if len(seen) < 8:
            seen += [
                getattr(obj, n) for n in ("backend", "session", "play", "model") if getattr(obj, n, None)
            ]
    return "the simulation"


class Steppable(Protocol):
    """What a stepper drives: the smoke :class:`~fieldcast.app.play.simulation.Simulation` or
    :class:`~fieldcast.engine.melt_session.MeltPlay`. Frames have a ``finite`` property."""

    @property
    def frame(self) -> Any: ...

    def advance(self) -> Any: ...


def _one_line(exc: BaseException, label: str) -> str:
    """The error as one line naming what failed (ONNX Runtime's messages name no file)."""
    text = " ".join((str(exc) or type(exc).__name__).split())
    if len(text) > 300:
        text = text[:299] + "…"
    name = label.replace("\\", "/").rsplit("/", 1)[-1]
    if label != "the simulation" and name not in text:
        text = f"{label}: {text}"
    return text


class Stepper(QObject):
    """Steps ``simulation`` in a thread of its own at up to :attr:`rate` frames per second.

    Parameters
    ----------
    simulation : the simulation to step; after :meth:`start` only the stepper's thread calls it.
    """

    sig_frame = Signal(object)
    """A finished frame (the simulation's frame type); call :meth:`frame_received` once it is taken."""
    sig_running = Signal(bool)
    """Playing (True) or paused (False)."""
    sig_error = Signal(str)
    """A step or a command failed (one-line message); the stepper pauses."""
    sig_abandoned = Signal(str)
    """A step or command stopped answering; the stepper was abandoned (one-line message naming the model)."""

    def __init__(self, simulation: Steppable, timeout: float = STEP_TIMEOUT_S) -> None:
        super().__init__()
        self.simulation = simulation
        #: seconds a step or command may run before the stepper is abandoned (0: never)
        self.timeout = float(timeout)
        self.abandoned = False
        self._busy_since: float | None = None
        self._busy_what = ""
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(_WATCH_MS)
        self._watchdog.timeout.connect(self._on_watchdog)
        #: target steps per second; 0 steps as fast as the backend can
        self.rate = 60.0
        self._commands: queue.SimpleQueue[Callable[[], Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._running = False
        self._steps_wanted = 0
        self._quit = False
        self._in_flight = 0
        self._held: Any = None
        self._count_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fieldcast-play-stepper", daemon=True)

    # Control (GUI thread) ----------------------------------------------------------------------------------
    def start(self) -> None:
        _LIVE.add(self)
        self._thread.start()
        self._watchdog.start()
        self.call(lambda: self.simulation.frame)

    def play(self) -> None:
        if self.abandoned:
            return
        self._running = True
        self._wake.set()
        self.sig_running.emit(True)

    def pause(self) -> None:
        self._running = False
        self.sig_running.emit(False)

    @property
    def running(self) -> bool:
        return self._running

    def step_once(self) -> None:
        """Advance one frame (pauses first)."""
        if self._running:
            self.pause()
        self._steps_wanted += 1
        self._wake.set()

    def call(self, command: Callable[[], Any]) -> None:
        """Run ``command`` in the stepper's thread before the next step; a returned frame is published."""
        self._commands.put(command)
        self._wake.set()

    def frame_received(self) -> None:
        """The GUI took a frame; the stepper may send another."""
        with self._count_lock:
            self._in_flight = max(0, self._in_flight - 1)
        self._wake.set()

    def stop(self, timeout: float = STOP_WAIT_S) -> bool:
        """End the thread; True when it ended within ``timeout`` seconds (at once when abandoned).

        A step or command still running after ``timeout`` is abandoned: closing the window does not wait
        for a model that stopped answering (its thread is left to finish or die with the process).
        """
        self._watchdog.stop()
        self._quit = True
        if self.abandoned:
            return True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self.abandoned, self._running = True, False
            _LIVE.discard(self)
            _ABANDONED.add(self)
            log.warning(
                "play stepper abandoned on stop: %s did not answer within %g s",
                describe(self.simulation),
                timeout,
            )
            return False
        return True

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _on_watchdog(self) -> None:
        since = self._busy_since
        if self.abandoned or since is None or self.timeout <= 0:
            return
        waited = time.monotonic() - since
        if waited < self.timeout:
            return
        self.abandoned = True
        self._quit = True
        self._running = False
        self._watchdog.stop()
        _LIVE.discard(self)
        _ABANDONED.add(self)
        message = (
            f"{describe(self.simulation)}: its {self._busy_what or 'step'} has not answered for "
            f"{waited:.0f} s; Play abandoned it (the model may be damaged or too large for this "
            "machine). Open another model or reset."
        )
        log.error("play stepper abandoned: %s", message)
        self.sig_running.emit(False)
        self.sig_abandoned.emit(message)
        self.sig_error.emit(message)

    # Stepper thread ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        lower_thread_priority(STEPPER_NICENESS, "play stepper")
        try:
            while not self._quit:
                self._run_commands()
                self._flush()
                if self._running or self._steps_wanted > 0:
                    self._step()
                else:
                    self._wake.wait(0.1)
                    self._wake.clear()
        finally:
            _LIVE.discard(self)
            _ABANDONED.discard(self)

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            self._busy_what, self._busy_since = "command", time.monotonic()
            try:
                frame = command()
            except Exception as exc:
                self._fail("command", exc)
                continue
            finally:
                self._busy_since = None
            if frame is not None:
                self._publish(frame)

    def _step(self) -> None:
        t0 = time.perf_counter()
        if self._steps_wanted > 0:
            self._steps_wanted -= 1
        self._busy_what, self._busy_since = "step", time.monotonic()
        try:
            frame = self.simulation.advance()
        except Exception as exc:
            self._fail("step", exc)
            return
        finally:
            self._busy_since = None
        self._publish(frame)
        if not frame.finite and self._running:
            self._running = False
            self.sig_running.emit(False)
            self.sig_error.emit("the simulation produced NaN or infinity; paused (reset the scene)")
        if self._running and self.rate > 0:
            wait = 1.0 / self.rate - (time.perf_counter() - t0)
            if wait > 0:
                # Pacing, interruptible: a command or a pause is served at once.
                self._wake.wait(wait)
                self._wake.clear()

    def _fail(self, what: str, exc: Exception) -> None:
        if self.abandoned:
            return
        log.error("play %s failed:\n%s", what, traceback.format_exc())
        self._steps_wanted = 0
        if self._running:
            self._running = False
            self.sig_running.emit(False)
        self.sig_error.emit(_one_line(exc, describe(self.simulation)))

    def _publish(self, frame: Any) -> None:
        self._held = frame
        self._flush()

    def _flush(self) -> None:
        if self._held is None or self.abandoned:
            return
        with self._count_lock:
            if self._in_flight >= _MAX_IN_FLIGHT:
                return
            self._in_flight += 1
        frame, self._held = self._held, None
        self.sig_frame.emit(frame)
