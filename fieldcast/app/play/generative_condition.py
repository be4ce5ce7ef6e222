"""The condition of a generative model on the Play page: drawn by hand or read from a dataset. No Qt here.

A radio condition is a building mask (1 inside a building) and a transmitter (a Gaussian blob of peak 1);
the user paints and erases buildings and clicks to place the transmitter. An infrared condition comes from
a laser path: the user draws a polyline and sets the power and speed, and the reference melt solver turns
the path into the condition maps (laser now, recent laser, scan path, material) and the camera frame the
model should generate. A dataset sample is any (condition, target) pair of a ``thermal-imaging`` file.

Arrays are ``(nx, ny)`` with x first and y up, as everywhere in Fieldcast; coordinates are in cells.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "SOURCES",
    "ConditionError",
    "DatasetConditions",
    "DrawnCondition",
    "SourceLayout",
    "path_mask",
    "stack_condition",
]

#: the shortest laser path segment kept while drawing, in cells
MIN_PATH_STEP = 0.75


@dataclass(frozen=True)
class SourceLayout:
    """What a source's condition and target are, and how the page colours the target."""

    label: str
    conditions: tuple[str, ...]
    target: str
    units: str
    cmap: str
    default_model: str
    range_tail: float = 0.0  # percent of values left out at each end of the colour scale


SOURCES: dict[str, SourceLayout] = {
    "radio": SourceLayout(
        "Radio map from a city layout",
        ("buildings", "transmitter"),
        "power_db",
        "dBm",
        "viridis",
        "radio_default.onnx",
        0.5,
    ),
    "ir": SourceLayout(
        "Infrared frame of laser melting",
        ("laser", "laser_recent", "scan_path", "material"),
        "ir",
        "of full well",
        "inferno",
        "thermal_ir_default.onnx",
    ),
}


class ConditionError(ValueError):
    """A condition that cannot be used; the message is one line naming the file or channel and why."""


def stack_condition(condition: dict[str, np.ndarray], channels: list[str] | tuple[str, ...]) -> np.ndarray:
    """``(C, nx, ny)`` float32 of ``condition`` in the model's channel order (a missing one is an error)."""
    missing = [c for c in channels if c not in condition]
    if missing:
        have = ", ".join(sorted(condition)) or "nothing"
        raise ConditionError(
            f"the model needs condition channel(s) {', '.join(missing)}; the condition has {have}"
        )
    shapes = {np.shape(condition[c]) for c in channels}
    if len(shapes) != 1:
        raise ConditionError(f"condition channels differ in shape: {sorted(shapes)}")
    return np.stack([np.asarray(condition[c], np.float32) for c in channels])


def _segment_cells(a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """(k, 2) points every half cell from ``a`` to ``b`` inclusive."""
    length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
    t = np.linspace(0.0, 1.0, max(2, int(np.ceil(length * 2)) + 1))
    return np.stack([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])], axis=1)


def path_mask(points: list[tuple[float, float]], shape: tuple[int, int]) -> np.ndarray:
    """(nx, ny) bool of the cells a polyline through ``points`` (cell coordinates) crosses."""
    mask = np.zeros(shape, bool)
    if not points:
        return mask
    pieces = [np.asarray([points[0]], float)]
    pieces += [_segment_cells(a, b) for a, b in zip(points[:-1], points[1:], strict=False)]
    cells = np.floor(np.concatenate(pieces)).astype(int)
    keep = (cells[:, 0] >= 0) & (cells[:, 0] < shape[0]) & (cells[:, 1] >= 0) & (cells[:, 1] < shape[1])
    mask[cells[keep, 0], cells[keep, 1]] = True
    return mask


@dataclass
class DrawnCondition:
    """A condition the user draws on a ``size`` × ``size`` grid.

    Radio: :attr:`buildings` (painted) and :attr:`transmitter` (cell position). Infrared: :attr:`path`
    (polyline in cells) with :attr:`power` (W) and :attr:`speed` (mm/s); its condition maps come from the
    reference solver (:func:`fieldcast.engine.systems.thermal_imaging.reference_ir_from_path`).
    """

    source: str
    size: int = 64
    buildings: np.ndarray = field(default=None)  # type: ignore[assignment]
    transmitter: tuple[float, float] | None = None
    path: list[tuple[float, float]] = field(default_factory=list)
    power: float = 150.0
    speed: float = 500.0
    _stroke: tuple[float, float, float] | None = field(default=None, repr=False)  # last (x, y), value

    # The mouse ----------------------------------------------------------------------------------------
    def press(self, x: float, y: float, tool: str, radius: float, erase: bool = False) -> None:
        """A press at cell (x, y): start a laser path (infrared), place the transmitter (``tool``
        "transmitter"), or start painting (``tool`` "paint") or erasing ("erase", or ``erase``) buildings."""
        if self.source == "ir":
            self.add_path_point(x, y, start=True)
        elif tool == "transmitter":
            self.place_transmitter(x, y)
        else:
            value = 0.0 if erase or tool == "erase" else 1.0
            self.paint(x, y, radius, value)
            self._stroke = (x, y, value)

    def drag(self, x: float, y: float, tool: str, radius: float) -> bool:
        """The pressed mouse moved to (x, y): extend the path or the stroke, or move the transmitter; True
        if the drawing changed."""
        if self.source == "ir":
            return self.add_path_point(x, y)
        if self._stroke is not None:
            x0, y0, value = self._stroke
            self.paint_stroke((x0, y0), (x, y), radius, value)
            self._stroke = (x, y, value)
            return True
        if tool == "transmitter":
            self.place_transmitter(x, y)
            return True
        return False

    def release(self) -> None:
        self._stroke = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConditionError(f"unknown source {self.source!r}; expected one of {', '.join(SOURCES)}")
        if self.buildings is None:
            self.buildings = np.zeros((self.size, self.size), np.float32)
        if self.transmitter is None and self.source == "radio":
            self.transmitter = (self.size / 2, self.size / 2)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.size, self.size)

    # Radio -------------------------------------------------------------------------------------------
    def paint(self, x: float, y: float, radius: float, value: float) -> None:
        """Set the building mask to ``value`` (1 paints, 0 erases) within ``radius`` cells of (x, y)."""
        ix, iy = np.ogrid[: self.size, : self.size]
        inside = (ix + 0.5 - x) ** 2 + (iy + 0.5 - y) ** 2 <= max(radius, 0.5) ** 2
        self.buildings[inside] = value

    def paint_stroke(
        self, a: tuple[float, float], b: tuple[float, float], radius: float, value: float
    ) -> None:
        """Paint every half cell along the segment from ``a`` to ``b``, so fast strokes leave no gaps."""
        for x, y in _segment_cells(a, b):
            self.paint(float(x), float(y), radius, value)

    def place_transmitter(self, x: float, y: float) -> None:
        """Put the transmitter at cell coordinates (x, y), clipped to the grid."""
        self.transmitter = (float(np.clip(x, 0, self.size - 1e-3)), float(np.clip(y, 0, self.size - 1e-3)))

    def transmitter_map(self) -> np.ndarray:
        """(nx, ny) Gaussian blob of peak 1 at the transmitter, as the data generator draws it (zeros
        without one)."""
        from fieldcast.engine.systems.thermal_imaging.city import transmitter_map

        if self.transmitter is None:
            return np.zeros(self.shape, np.float32)
        return transmitter_map(self.shape, self.transmitter)

    # Infrared ----------------------------------------------------------------------------------------
    def add_path_point(self, x: float, y: float, start: bool = False) -> bool:
        """Start a new path at (x, y) (``start``) or extend it; True if the point was kept."""
        point = (float(np.clip(x, 0, self.size - 1e-3)), float(np.clip(y, 0, self.size - 1e-3)))
        if start:
            self.path = [point]
            return True
        if self.path and np.hypot(point[0] - self.path[-1][0], point[1] - self.path[-1][1]) < MIN_PATH_STEP:
            return False
        self.path.append(point)
        return True

    # Both --------------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.buildings[:] = 0.0
        self.path = []
        if self.source == "radio":
            self.transmitter = (self.size / 2, self.size / 2)

    def problem(self) -> str | None:
        """Why this drawing is not a condition yet (None when it is)."""
        if self.source == "radio":
            if self.transmitter is None:
                return "place the transmitter (click with the Transmitter tool)"
            x, y = self.transmitter
            if self.buildings[int(x), int(y)] > 0.5:
                return "the transmitter is inside a building: move it to the street"
            return None
        if len(self.path) < 2:
            return "draw the laser path: press on the plate and drag"
        return None

    def radio_condition(self) -> dict[str, np.ndarray]:
        """The radio condition maps of this drawing."""
        return {"buildings": self.buildings.astype(np.float32), "transmitter": self.transmitter_map()}


class DatasetConditions:
    """The (condition, target) samples of a ``thermal-imaging`` dataset, read one at a time.

    Raises :class:`ConditionError` naming the file when it is not readable or not a generative dataset.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        from fieldcast.engine.data.reader import open_dataset
        from fieldcast.engine.data.store import DatasetError

        self.path = Path(path)
        try:
            self.dataset = open_dataset(self.path)
        except (DatasetError, OSError) as exc:
            raise ConditionError(str(exc) if str(self.path) in str(exc) else f"{self.path}: {exc}") from None
        spec = self.dataset.spec
        self.source = str(spec.extra.get("source", ""))
        targets = [f.name for f in spec.fields_with_role("state")]
        self.conditions = [c.name for c in spec.channels("conditioning")]
        if spec.kind != "generative" or len(targets) != 1 or not self.conditions:
            self.dataset.close()
            raise ConditionError(
                f"{self.path}: a {spec.name} dataset ({spec.kind}), not conditions and targets of a "
                "generative model"
            )
        self.target = targets[0]
        self.units = spec.field(self.target).units

    def __len__(self) -> int:
        return self.dataset.n_trajectories * self.dataset.n_frames

    def position(self, index: int) -> tuple[int, int]:
        """(trajectory, frame) of sample ``index``."""
        return divmod(int(index), self.dataset.n_frames)

    def read(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Sample ``index``: its condition maps and its target."""
        from fieldcast.engine.data.store import DatasetError

        if not 0 <= index < len(self):
            raise ConditionError(f"{self.path}: no sample {index} (it holds {len(self)})")
        traj, frame = self.position(index)
        try:
            condition = {c: self.dataset.read_frame(traj, frame, c) for c in self.conditions}
            target = self.dataset.read_frame(traj, frame, self.target)
        except (DatasetError, OSError, ValueError, KeyError) as exc:
            text = str(exc)
            raise ConditionError(text if str(self.path) in text else f"{self.path}: {text}") from None
        return condition, target

    def close(self) -> None:
        self.dataset.close()
