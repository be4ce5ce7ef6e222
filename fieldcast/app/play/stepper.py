"""The stepping thread of the Play panel: runs a simulation and hands out its finished frames.

Double buffering: every step makes new arrays, and the finished frame travels to the GUI as a
signal payload, so the canvas always draws the latest complete frame while the next one is computed.
At most two frames are in flight; when the GUI lags, the stepper keeps only the newest unsent frame
instead of queueing them. Commands (reset, scene, grid, backend, compare) are functions queued to the
thread and run between two steps, so the simulation is only ever touched by one thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

__all__ = ["Stepper", "Steppable"]

log = logging.getLogger("fieldcast.app.play")

# Steppers stay referenced until their thread ends (see fieldcast.app.workers).
_LIVE: set[Stepper] = set()
_MAX_IN_FLIGHT = 2


class Steppable(Protocol):
    """What a stepper drives: the smoke :class:`~fieldcast.app.play.simulation.Simulation` or
    :class:`~fieldcast.engine.melt_session.MeltPlay`. Frames have a ``finite`` property."""

    @property
    def frame(self) -> Any: ...

    def advance(self) -> Any: ...


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

    def __init__(self, simulation: Steppable) -> None:
        super().__init__()
        self.simulation = simulation
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
        self.call(lambda: self.simulation.frame)

    def play(self) -> None:
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

    def stop(self, timeout: float = 5.0) -> bool:
        """End the thread; True when it ended within ``timeout`` seconds."""
        self._quit = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # Stepper thread ----------------------------------------------------------------------------------------
    def _run(self) -> None:
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

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                frame = command()
            except Exception as exc:
                self._fail("command", exc)
                continue
            if frame is not None:
                self._publish(frame)

    def _step(self) -> None:
        t0 = time.perf_counter()
        if self._steps_wanted > 0:
            self._steps_wanted -= 1
        try:
            frame = self.simulation.advance()
        except Exception as exc:
            self._fail("step", exc)
            return
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
        log.error("play %s failed:\n%s", what, traceback.format_exc())
        self._steps_wanted = 0
        if self._running:
            self._running = False
            self.sig_running.emit(False)
        self.sig_error.emit(str(exc) or type(exc).__name__)

    def _publish(self, frame: Any) -> None:
        self._held = frame
        self._flush()

    def _flush(self) -> None:
        if self._held is None:
            return
        with self._count_lock:
            if self._in_flight >= _MAX_IN_FLIGHT:
                return
            self._in_flight += 1
        frame, self._held = self._held, None
        self.sig_frame.emit(frame)
