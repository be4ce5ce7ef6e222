"""Parametric printer toolpaths: perimeters, zig-zag infill, circles, spirals and small features.

Each generator draws one feature as a slicer would print it (extruding moves at print speed, travel moves
between features at travel speed, circles as short chords) and the features are chained into one
:class:`~fieldcast.engine.systems.trajectory.gcode.Toolpath`, so generated and imported paths go through
the same planner.
All sizes in mm, speeds in mm/s, positions on a 220 × 220 mm bed.
"""

from __future__ import annotations

import math

import numpy as np

from fieldcast.engine.systems.trajectory.gcode import Toolpath

__all__ = ["FEATURES", "PathBuilder", "random_toolpath"]

BED_MM = 220.0


class PathBuilder:
    """Accumulates segments; ``move`` appends one straight segment to ``(x, y)``."""

    def __init__(self, start: tuple[float, float] = (110.0, 110.0), z: float = 0.2) -> None:
        self.pts: list[tuple[float, float, float]] = [(start[0], start[1], z)]
        self.feed: list[float] = []
        self.extrude: list[bool] = []
        self.layer: list[int] = []
        self.z = z
        self.current_layer = 0

    @property
    def pos(self) -> tuple[float, float]:
        return self.pts[-1][0], self.pts[-1][1]

    def move(self, x: float, y: float, feed: float, extrude: bool = True) -> None:
        x = min(max(x, 0.0), BED_MM)
        y = min(max(y, 0.0), BED_MM)
        if math.hypot(x - self.pos[0], y - self.pos[1]) < 1e-6:
            return
        self.pts.append((x, y, self.z))
        self.feed.append(feed)
        self.extrude.append(extrude)
        self.layer.append(self.current_layer)

    def polyline(self, xy: np.ndarray, feed: float, travel: float) -> None:
        """Travel to the first point, then extrude along the rest."""
        self.move(float(xy[0, 0]), float(xy[0, 1]), travel, extrude=False)
        for x, y in xy[1:].tolist():
            self.move(x, y, feed)

    def toolpath(self) -> Toolpath:
        n = len(self.feed)
        return Toolpath(
            xyz=np.asarray(self.pts, dtype=np.float64),
            feed=np.asarray(self.feed, dtype=np.float64),
            accel=np.full(n, np.nan),
            extrude=np.asarray(self.extrude, dtype=bool),
            rapid=~np.asarray(self.extrude, dtype=bool),
            dwell=np.zeros(n),
            layer=np.asarray(self.layer, dtype=np.int64),
            line=np.zeros(n, dtype=np.int64),
            source="parametric",
        )


def _centre(rng: np.random.Generator, half: float) -> tuple[float, float]:
    margin = half + 5.0
    return tuple(rng.uniform(margin, BED_MM - margin, size=2).tolist())


def perimeters(rng: np.random.Generator) -> np.ndarray:
    """Concentric rectangles (0.45 mm apart), possibly rotated: sharp 90° corners."""
    w, h = rng.uniform(5.0, 60.0, size=2)
    loops = int(rng.integers(1, 4))
    cx, cy = _centre(rng, max(w, h) / 2 * 1.5)
    ang = rng.uniform(0, math.pi) if rng.random() < 0.5 else 0.0
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    out = []
    for k in range(loops):
        a, b = w / 2 - 0.45 * k, h / 2 - 0.45 * k
        if min(a, b) <= 0.5:
            break
        out.append(np.array([[-a, -b], [a, -b], [a, b], [-a, b], [-a, -b]]))
    xy = np.concatenate(out) if out else np.array([[-1.0, -1.0], [1.0, -1.0]])
    return xy @ rot.T + (cx, cy)


def zigzag_infill(rng: np.random.Generator) -> np.ndarray:
    """Back-and-forth lines across a square at a random angle: reversals every line."""
    size = rng.uniform(8.0, 50.0)
    spacing = rng.uniform(0.45, 3.0)
    ang = rng.choice([0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4]) + rng.normal(0, 0.05)
    cx, cy = _centre(rng, size * 0.75)
    n = max(2, int(size / spacing))
    pts = []
    for i in range(n):
        y = -size / 2 + i * spacing
        xs = (-size / 2, size / 2) if i % 2 == 0 else (size / 2, -size / 2)
        pts += [(xs[0], y), (xs[1], y)]
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    return np.asarray(pts) @ rot.T + (cx, cy)


def circle(rng: np.random.Generator) -> np.ndarray:
    """A circle as chords of about 0.5–2 mm (what slicers emit for round walls)."""
    r = rng.uniform(1.5, 30.0)
    chord = rng.uniform(0.5, 2.0)
    n = max(8, int(2 * math.pi * r / chord))
    cx, cy = _centre(rng, r)
    phase = rng.uniform(0, 2 * math.pi)
    a = phase + np.linspace(0.0, 2 * math.pi, n + 1) * (1 if rng.random() < 0.5 else -1)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)


def spiral(rng: np.random.Generator) -> np.ndarray:
    """An Archimedean spiral outwards: curvature that changes continuously."""
    r_max = rng.uniform(5.0, 35.0)
    pitch = rng.uniform(0.5, 3.0)
    turns = r_max / pitch
    n = int(turns * 48)
    theta = np.linspace(0.0, 2 * math.pi * turns, n)
    r = pitch * theta / (2 * math.pi) + 0.5
    cx, cy = _centre(rng, r_max)
    return np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)


def small_features(rng: np.random.Generator) -> np.ndarray:
    """Short segments with random turns (text, teeth, gap fill): speeds set by corners, not feeds."""
    n = int(rng.integers(10, 60))
    steps = rng.uniform(0.3, 3.0, size=n)
    turns = rng.choice([-math.pi / 2, math.pi / 2, 2.5, -2.5, 0.3, -0.3], size=n)
    heading = np.cumsum(turns) + rng.uniform(0, 2 * math.pi)
    d = np.stack([np.cos(heading), np.sin(heading)], axis=1) * steps[:, None]
    cx, cy = _centre(rng, 20.0)
    return np.vstack([[cx, cy], np.array([cx, cy]) + np.cumsum(d, axis=0)])


FEATURES = {
    "perimeters": perimeters,
    "infill": zigzag_infill,
    "circle": circle,
    "spiral": spiral,
    "small": small_features,
}


def random_toolpath(
    rng: np.random.Generator,
    min_seconds: float,
    print_speed: tuple[float, float] = (30.0, 150.0),
    travel_speed: float = 200.0,
    features: tuple[str, ...] = tuple(FEATURES),
) -> Toolpath:
    """Chain random features until their length at print speed covers ``min_seconds`` of motion."""
    b = PathBuilder(start=tuple(rng.uniform(20.0, 200.0, size=2).tolist()))
    seconds = 0.0
    while seconds < min_seconds:
        kind = features[int(rng.integers(len(features)))]
        xy = FEATURES[kind](rng)
        feed = float(rng.uniform(*print_speed))
        b.polyline(xy, feed, travel_speed)
        seconds += float(np.hypot(*np.diff(xy, axis=0).T).sum()) / feed + 0.3
        if rng.random() < 0.15:
            b.z += 0.2  # a layer change: the head stops while Z moves
            b.current_layer += 1
            b.pts.append((*b.pos, b.z))
            b.feed.append(10.0)
            b.extrude.append(False)
            b.layer.append(b.current_layer)
    return b.toolpath()
