"""Render docs/images/play_panel.png: the main window's Play panel running the shipped smoke model.

Run from the project root under a display (``xvfb-run -a python docs/make_play_screenshot.py``). The window
opens on the Play panel, which loads the shipped ``smoke_default.onnx`` and plays the Plume scene with its
bounds on; the picture is taken once ``--frames`` simulated frames have passed (the readout shows what the
bounds changed in the last frame). Uses a throw-away Fieldcast home, so no user settings or runs show.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "images" / "play_panel.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="simulated frames before the picture")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    os.environ["FIELDCAST_HOME"] = tempfile.mkdtemp(prefix="fieldcast-shot-")

    from PySide6.QtCore import QBuffer, QIODevice

    from fieldcast.app.gui import create_application
    from fieldcast.app.main_window import MainWindow
    from fieldcast.app.paths import app_paths
    from fieldcast.app.settings import Settings
    from fieldcast.engine.files import atomic_write

    app = create_application()
    paths = app_paths()
    window = MainWindow(paths, Settings(paths.settings_file))
    window.resize(1400, 860)
    window.show()
    window.show_panel("play")
    panel = window.panels["play"]
    end = time.monotonic() + 600
    while panel.frame is None or panel.frame.index < args.frames:
        if time.monotonic() > end:
            print("the Play panel did not reach the frame in 10 minutes")
            return 1
        app.processEvents()
        time.sleep(0.005)
    panel.pause()
    for _ in range(50):  # let the last frame and its readout be drawn
        app.processEvents()
        time.sleep(0.01)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    window.grab().save(buffer, "PNG")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, bytes(buffer.data()))
    print(f"{args.out}: frame {panel.frame.index}; {panel.readouts.text()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
