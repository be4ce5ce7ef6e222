"""``fieldcast --smoke-test``: build the main window, run self-checks, print them, exit 0 when all pass.

Used by CI and by the installers' tests on machines that never saw the source. It runs in a throw-away
home folder so it never touches the user's settings, and offscreen when there is no display.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_smoke_test"]

_T0 = time.perf_counter()


def _check_onnxruntime() -> str:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from fieldcast.engine.devices import usable_providers

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "smoke", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    providers = usable_providers()
    session = ort.InferenceSession(model.SerializeToString(), providers=providers)
    out = session.run(None, {"x": np.ones((2, 4), np.float32)})[0]
    if not np.allclose(out, 2.0):
        raise AssertionError(f"ONNX Runtime computed {out}, expected 2")
    return ", ".join(session.get_providers())


def _check_hdf5(folder: Path) -> str:
    import h5py
    import numpy as np

    path = folder / "probe.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=np.arange(16.0).reshape(4, 4), chunks=(2, 2), compression="gzip")
    with h5py.File(path, "r") as f:
        total = float(f["a"][...].sum())
    if total != 120.0:
        raise AssertionError(f"HDF5 round trip read back a sum of {total}, expected 120")
    return f"h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}"


def run_smoke_test() -> int:
    """Returns 0 when every check passed, 1 otherwise; prints one line per check."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="fieldcast-smoke-") as tmp:
        os.environ["FIELDCAST_HOME"] = tmp
        return _run_checks(Path(tmp))


def _run_checks(tmp: Path) -> int:
    from fieldcast.app.gui import create_application

    app = create_application()
    from PySide6.QtCore import QTimer

    from fieldcast.app.errors import install_exception_hook
    from fieldcast.app.logs import setup_logging
    from fieldcast.app.main_window import MainWindow
    from fieldcast.app.paths import app_paths
    from fieldcast.app.settings import Settings

    failures = 0
    state: dict = {}

    def check(name: str, fn: Callable[[], str | None]) -> None:
        nonlocal failures
        try:
            detail = fn() or ""
            print(f"ok    {name}" + (f": {detail}" if detail else ""), flush=True)
        except Exception:
            failures += 1
            print(f"FAIL  {name}\n{traceback.format_exc()}", flush=True)

    paths = app_paths()
    check("log file", lambda: str(setup_logging(paths.log_file)))
    hook = install_exception_hook(str(paths.log_file))

    def build_window() -> str:
        window = MainWindow(paths, Settings(paths.settings_file))
        window.sig_first_paint.connect(lambda: state.setdefault("paint", time.perf_counter() - _T0))
        window.show()
        state["window"] = window
        deadline = time.monotonic() + 10
        while "paint" not in state and time.monotonic() < deadline:
            app.processEvents()
        if "paint" not in state:
            raise AssertionError("the window was never painted")
        return f"{app.platformName()} platform, first paint {state['paint']:.2f} s after import"

    check("main window", build_window)
    window = state.get("window")
    if window is not None:
        check("panels", lambda: _check_panels(window))
        check("menus", lambda: ", ".join(a.text().replace("&", "") for a in window.menuBar().actions()))
        check("about", lambda: _check_about(window))
        check("settings", lambda: _check_settings(window, paths))
    check("onnxruntime", _check_onnxruntime)
    check("hdf5", lambda: _check_hdf5(tmp))
    if window is not None:
        window.close()
    QTimer.singleShot(0, app.quit)
    app.exec()
    hook.uninstall()
    print("smoke test " + ("passed" if failures == 0 else f"failed: {failures} check(s)"), flush=True)
    return 0 if failures == 0 else 1


def _check_panels(window) -> str:
    expected = ["data", "train", "runs", "play"]
    if list(window.panels) != expected:
        raise AssertionError(f"panels are {list(window.panels)}, expected {expected}")
    problems = [f"{name}: {p}" for name, panel in window.panels.items() for p in panel.self_check()]
    if problems:
        raise AssertionError("; ".join(problems))
    return ", ".join(p.title for p in window.panels.values())


def _check_about(window) -> str:
    from fieldcast.app.about import version_rows

    dialog = window.show_about()
    dialog.close()
    return ", ".join(f"{k} {v.split(' ')[0]}" for k, v in version_rows()[:4])


def _check_settings(window, paths) -> str:
    window.save_state()
    if not paths.settings_file.exists():
        raise AssertionError(f"settings were not written to {paths.settings_file}")
    return str(paths.settings_file)
