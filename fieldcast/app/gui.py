"""Start the desktop application: Qt application, qasync event loop, logging, exception hook, window."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

__all__ = ["create_application", "run_gui"]

log = logging.getLogger("fieldcast.app")


def _no_display() -> bool:
    return sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    )


def create_application(argv: list[str] | None = None):
    """The QApplication, created once, with Fieldcast's names set (used by QSettings and the window title)."""
    os.environ.setdefault("QT_API", "pyside6")  # qasync picks its Qt binding from this
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setApplicationName("Fieldcast")
    app.setOrganizationName("Fieldcast")
    app.setApplicationDisplayName("Fieldcast")
    return app


def run_gui(open_files: list[Path] | None = None, panel: str | None = None) -> int:
    """Open the main window and run the event loop until it closes; returns the exit code."""
    if _no_display():
        sys.stderr.write(
            "fieldcast: no display found. Set DISPLAY (e.g. run under Xvfb: `xvfb-run fieldcast`) "
            "or QT_QPA_PLATFORM=offscreen.\n"
        )
        return 2
    app = create_application()
    import qasync

    from fieldcast.app.errors import install_exception_hook
    from fieldcast.app.logs import setup_logging
    from fieldcast.app.main_window import MainWindow
    from fieldcast.app.paths import app_paths
    from fieldcast.app.responsiveness import MainThreadCollector
    from fieldcast.app.settings import Settings

    paths = app_paths()
    setup_logging(paths.log_file)
    log.info("Fieldcast starting; log at %s", paths.log_file)
    hook = install_exception_hook(str(paths.log_file))
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    collector = MainThreadCollector()
    window = MainWindow(paths, Settings(paths.settings_file))
    window.show()
    if panel:
        window.show_panel(panel)
    if open_files:
        window.open_paths(open_files)
    try:
        with loop:
            loop.run_forever()
    finally:
        collector.stop()
        hook.uninstall()
    log.info("Fieldcast closed")
    from fieldcast.app.play.model_opening import wait_abandoned

    if not wait_abandoned(2.0):
        # A thread still inside a model that stopped answering can make the interpreter abort on its way
        # out; the window has closed and saved its state, so the process ends here.
        log.warning("ending with a model that stopped answering still running")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
