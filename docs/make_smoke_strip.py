"""Render docs/images/smoke_plume.png: a strip of frames of a smoke plume flowing around an obstacle.

Run from the project root: ``python docs/make_smoke_strip.py``. Uses the reference solver, numpy, and Qt's
QImage (with pyqtgraph's colour maps) to write the PNG, so it needs nothing beyond Fieldcast's dependencies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from fieldcast.engine.systems.smoke import Emitter, SmokeParams, SmokeScene
from fieldcast.engine.systems.smoke.scenes import box_mask, disc_mask

SIZE = 128
FRAMES = (25, 50, 75, 100, 125, 150)
GAP = 4  # pixels between panels
OUT = Path(__file__).parent / "images" / "smoke_plume.png"


def simulate() -> tuple[list[np.ndarray], np.ndarray]:
    """Density frames (SIZE, SIZE) at FRAMES and the collider mask, for a two-emitter scene."""
    n = SIZE
    collider = np.maximum(disc_mask(n, n, (58, 62), 11), box_mask(n, n, (92, 92), (12, 3)))
    scene = SmokeScene(
        n,
        n,
        emitters=(
            Emitter((54, 12), 7, rate=0.3, velocity=(0.1, 0.8)),
            Emitter((10, 40), 4, shape="box", rate=0.25, velocity=(0.7, 0.1)),
        ),
        collider=collider,
        params=SmokeParams(boundary="open", buoyancy=0.03, vorticity=0.05),
    )
    solver, controls = scene.solver(), scene.controls()
    state = scene.initial_state(solver)
    frames = []
    for frame in range(1, max(FRAMES) + 1):
        state = solver.step(state, controls)
        if frame in FRAMES:
            frames.append(state.density.copy())
    return frames, scene.collider_mask()


def to_rgb(density: np.ndarray, collider: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(ny, nx, 3) uint8 image, row 0 at the top (y points up in Fieldcast arrays)."""
    index = np.clip(density * (len(lut) - 1), 0, len(lut) - 1).astype(int)
    rgb = lut[index, :3].copy()
    rgb[collider > 0.5] = (110, 140, 170)
    return np.ascontiguousarray(rgb.transpose(1, 0, 2)[::-1])


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtGui import QImage

    frames, collider = simulate()
    lut = pg.colormap.get("inferno").getLookupTable(nPts=256, alpha=False)
    panels = [to_rgb(f, collider, lut) for f in frames]
    height = SIZE
    width = len(panels) * SIZE + (len(panels) - 1) * GAP
    strip = np.full((height, width, 3), 255, np.uint8)
    for i, panel in enumerate(panels):
        strip[:, i * (SIZE + GAP) : i * (SIZE + GAP) + SIZE] = panel
    strip = np.ascontiguousarray(strip)
    image = QImage(strip.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(OUT)):
        print(f"could not write {OUT}", file=sys.stderr)
        return 1
    print(f"wrote {OUT} ({width}x{height}, frames {', '.join(map(str, FRAMES))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
