"""Render docs/images/generative_denoising.png and generative_spread.png: the Play panel's generative page.

Run from the project root under a display (``xvfb-run -a python docs/make_generative_screenshots.py``) or
with ``QT_QPA_PLATFORM=offscreen``. The page opens the radio model (default: the shipped
``radio_default.onnx``; ``--model FILE`` for another), draws a random city of the data generator (``--seed``),
paints one more building with a mouse drag, and generates: the first picture is taken
halfway through the denoising, the second when the samples, their mean, their spread and the error
against the reference generator are drawn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from fieldcast.app.play.generative_view import GenerativeView, default_generative_model
from fieldcast.engine.files import atomic_write

OUT = Path(__file__).parent / "images"


def _save(widget, folder: Path, name: str) -> Path:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    path = folder / name
    atomic_write(path, bytes(buffer.data()))
    return path


def _wait(app: QApplication, done, seconds: float = 300.0) -> None:
    end = time.monotonic() + seconds
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the page did not get there in time")
        app.processEvents()
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_generative_model("radio"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", type=int, default=0, help="denoising steps (0: the model's default)")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the pictures")
    args = parser.parse_args(argv)
    if args.model is None:
        print(
            "no radio model: give one with --model (fieldcast/resources/models/radio_default.onnx is absent)"
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    view = GenerativeView(model=args.model)
    view.resize(1300, 820)
    view.show()
    _wait(app, lambda: view.session is not None or view.message.isVisible(), 60)
    if view.session is None:
        print(view.message.text())
        return 1
    view.sampling.seed.setValue(args.seed)
    view.condition_box.random_button.click()
    _wait(app, lambda: not view.busy, 60)  # the random city is drawn in a worker
    # One more building, painted with a mouse drag on the condition.
    n = view.drawing.size
    cond = view.condition_view
    view.draw_box.tool_buttons["paint"].setChecked(True)
    left, no_mod = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(cond, left, no_mod, cond.cell_pixel(0.12 * n, 0.88 * n))
    for k in range(1, 6):
        QTest.mouseMove(cond, cond.cell_pixel((0.12 + 0.05 * k) * n, 0.88 * n))
    QTest.mouseRelease(cond, left, no_mod, cond.cell_pixel(0.37 * n, 0.88 * n))
    if args.steps:
        view.sampling.steps.setValue(args.steps)
    view.sampling.samples.setValue(args.samples)
    total = view.sampling.steps.value()
    view.generate()
    _wait(app, lambda: view.steps_seen and view._step is not None and view._step.step >= total // 2)
    app.processEvents()
    print(_save(view, args.out, "generative_denoising.png"))
    _wait(app, lambda: not view.busy)
    for _ in range(20):
        app.processEvents()
    print(_save(view, args.out, "generative_spread.png"))
    print(view.readouts.text())
    view.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
