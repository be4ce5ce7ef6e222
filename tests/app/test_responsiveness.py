"""The main window sets up the process so that its thread keeps answering: a short interpreter switch
interval, and ONNX Runtime sessions that leave a core free and sleep between operators."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from play_models import write_tiny_smoke_model

from fieldcast.app.main_window import MainWindow
from fieldcast.app.paths import app_paths
from fieldcast.app.responsiveness import SWITCH_INTERVAL_S
from fieldcast.app.settings import Settings
from fieldcast.engine import runtime
from fieldcast.engine.model_format import OUTPUT
from fieldcast.engine.runtime import ModelSession, interactive_sessions, physical_cores

pytestmark = pytest.mark.gui


@pytest.fixture
def restore():
    interval = sys.getswitchinterval()
    yield
    sys.setswitchinterval(interval)
    interactive_sessions(False)


def spinning(session: ModelSession) -> str:
    options = session.session.get_session_options()
    return options.get_session_config_entry("session.intra_op.allow_spinning")


def test_command_line_sessions_keep_onnx_runtime_defaults(tmp_path, restore):
    interactive_sessions(False)
    session = ModelSession(write_tiny_smoke_model(tmp_path / "model.onnx"))
    assert session.threads == physical_cores()
    with pytest.raises(RuntimeError):  # never set: ONNX Runtime spins, its default
        spinning(session)


def test_the_window_makes_sessions_leave_a_core_and_sleep(qtbot, tmp_path, restore):
    interactive_sessions(False)
    sys.setswitchinterval(0.005)
    paths = app_paths()
    window = MainWindow(paths, Settings(paths.settings_file))
    qtbot.addWidget(window)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    assert runtime._INTERACTIVE
    session = ModelSession(write_tiny_smoke_model(tmp_path / "model.onnx"))
    assert session.threads == max(1, physical_cores() - 1)
    assert spinning(session) == "0"
    assert session.run(session_input(session))[OUTPUT].shape[1] == len(session.info.output_channels)


def session_input(session: ModelSession) -> np.ndarray:
    nx, ny = session.info.grid or (16, 16)
    return np.zeros((1, len(session.info.input_channels), nx, ny), np.float32)


def test_garbage_is_collected_on_the_main_thread_only(qtbot):
    """With the collector on, a cycle made and dropped in a worker thread is not freed there, however much
    that thread allocates; the main thread's timer frees it."""
    import gc
    import threading
    import weakref

    from fieldcast.app.responsiveness import MainThreadCollector

    was = gc.isenabled()
    collector = MainThreadCollector(interval_ms=50)
    try:
        assert not gc.isenabled()
        freed_in: list[str] = []

        class Node:
            def __init__(self):
                self.me = self

            def __del__(self):
                freed_in.append(threading.current_thread().name)

        def worker():
            ref = weakref.ref(Node())
            refs.append(ref)
            # Far past the first generation's threshold, kept alive so the count stays there.
            refs.append([[i] for i in range(50_000)])

        refs: list = []
        thread = threading.Thread(target=worker, name="worker")
        thread.start()
        thread.join()
        assert refs[0]() is not None and not freed_in  # the worker's allocations collected nothing
        qtbot.waitUntil(lambda: refs[0]() is None, timeout=3000)
        assert freed_in == [threading.main_thread().name]
        assert collector.collections >= 1
    finally:
        collector.stop()
    assert gc.isenabled() == was


def test_the_collector_refuses_other_threads(qtbot):
    import threading

    from fieldcast.app.responsiveness import MainThreadCollector

    errors: list[Exception] = []

    def make():
        try:
            MainThreadCollector()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    assert errors and "application's thread" in str(errors[0])
