"""A G-code reader for printer toolpaths: moves, arcs, modes, feed rates, accelerations and layers.

The reader turns the motion of a slicer's output (PrusaSlicer, OrcaSlicer/SuperSlicer, Cura; Marlin, Klipper
and RepRapFirmware flavours) into a :class:`Toolpath`: a polyline of segments with their feed rate,
acceleration, extrusion flag, layer and source line. Arcs (G2/G3, centre ``I``/``J`` or radius ``R`` forms)
are cut into chords the way firmware does, so that every later stage only sees straight segments.

Units are millimetres and seconds throughout (feed rates in G-code are mm/min and are converted). Commands
that do not move the head (temperatures, fans, tool changes ...) are skipped. Anything malformed raises
:class:`GCodeError` with ``PATH:LINE: problem``.

A file is read in blocks of lines: the plain ``G0``/``G1`` moves of a block (nearly all of a slicer's
output) as arrays (:mod:`.gcode_moves`), every other command by the line interpreter
(:mod:`.gcode_commands`). :func:`iter_parse_gcode` and :func:`iter_read_gcode` are the same reader as a
job: they yield :class:`~fieldcast.engine.jobs.Progress` in moves after each block, honour a cancel token
between blocks, and return the toolpath.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.systems.trajectory.gcode_commands import (
    MAX_ACCEL,
    MAX_COORD_MM,
    MAX_FEED_MM_MIN,
    MAX_LINE_CHARS,
    MAX_SEGMENTS,
    GCodeError,
    ReaderState,
    interpret_line,
    max_segments,
    segment_problem,
)
from fieldcast.engine.systems.trajectory.gcode_moves import (
    LAYER_MARKER,
    PLAIN_MOVE,
    PlainMoves,
    apply_plain_moves,
)

__all__ = [
    "MAX_ACCEL",
    "MAX_COORD_MM",
    "MAX_FEED_MM_MIN",
    "MAX_FILE_BYTES",
    "MAX_LINE_CHARS",
    "MAX_SEGMENTS",
    "GCodeError",
    "Toolpath",
    "count_moves",
    "iter_parse_gcode",
    "iter_read_gcode",
    "parse_gcode",
    "read_gcode",
]

# A 256 MiB print is already huge; bigger files are refused, not parsed for minutes.
MAX_FILE_BYTES = 256 << 20
# Lines per block: about a hundredth of the file, so progress moves smoothly, within bounds that keep the
# bulk reading efficient (a block of 1024 lines takes about a millisecond) and the cancel checks frequent.
BLOCK_LINES = (1024, 16384)

# A motion command (G0-G3, any spelling), possibly after a line number: what progress counts as a move.
_MOTION = re.compile(r"\s*(?:[Nn]\d+\s*)?[Gg]0*[0-3](?![\d.])")
# An empty line or a comment that is not a layer marker (what the interpreter would skip).
_QUIET = re.compile(rf"(?:;(?!{LAYER_MARKER}).*)?")
_FEW = 4  # runs of up to this many plain moves are left to the interpreter
_FLAVOURS = (
    ("prusaslicer", "PrusaSlicer"),
    ("orcaslicer", "OrcaSlicer"),
    ("superslicer", "SuperSlicer"),
    ("bambustudio", "BambuStudio"),
    ("cura_steamengine", "Cura"),
    (";flavor:", "Cura"),
    ("slic3r", "Slic3r"),
    ("simplify3d", "Simplify3D"),
)


@dataclass
class Toolpath:
    """Straight segments between consecutive vertices, with what the G-code said about each.

    Attributes
    ----------
    xyz : (N + 1, 3) vertex positions in mm, the first being the position before the first move.
    feed : (N,) requested speed of each segment in mm/s.
    accel : (N,) acceleration set by M204/SET_VELOCITY_LIMIT for the segment in mm/s², NaN if none was set.
    extrude : (N,) True where the segment deposits material (E increases while the head moves).
    rapid : (N,) True for G0 moves.
    dwell : (N,) seconds to stand still at the start of the segment (G4 pauses and moves without XY motion).
    layer : (N,) layer index from the slicer's layer comments, or from Z when the file has none.
    line : (N,) 1-based source line of each segment.
    settings : first machine settings found (``junction_deviation`` mm, ``square_corner_velocity`` mm/s,
        ``jerk`` mm/s, ``max_velocity`` mm/s, ``max_accel`` mm/s²).
    flavour : the slicer that wrote the file, from its header comments ("" when unknown).
    """

    xyz: np.ndarray
    feed: np.ndarray
    accel: np.ndarray
    extrude: np.ndarray
    rapid: np.ndarray
    dwell: np.ndarray
    layer: np.ndarray
    line: np.ndarray
    settings: dict[str, float] = field(default_factory=dict)
    flavour: str = ""
    source: str = ""

    @property
    def n_segments(self) -> int:
        return int(self.feed.shape[0])

    def xy_lengths(self) -> np.ndarray:
        """Length of each segment in the XY plane, mm."""
        return np.hypot(*np.diff(self.xyz[:, :2], axis=0).T)

    def layer_count(self) -> int:
        return int(self.layer.max()) + 1 if self.n_segments else 0


def _flavour(lines: list[str]) -> str:
    """The slicer named in the header comments (the first 199 lines), "" when none is."""
    for raw in lines[:199]:
        if raw.startswith(";"):
            low = raw.lower().replace(" ", "")
            name = next((name for key, name in _FLAVOURS if key in low), "")
            if name:
                return name
    return ""


def count_moves(lines: list[str]) -> np.ndarray:
    """(L,) True for the lines that are motion commands (``G0``–``G3``): the unit of the reader's progress."""
    match = _MOTION.match
    return np.fromiter((match(raw) is not None for raw in lines), dtype=bool, count=len(lines))


def _read_block(st: ReaderState, lines: list[str], first_line: int, source: str) -> None:
    """Apply ``lines`` (the first being source line ``first_line``) to ``st`` in file order."""
    matches = list(map(PLAIN_MOVE.fullmatch, lines))
    plain = [i for i, m in enumerate(matches) if m is not None]
    moves = PlainMoves([matches[i].groups("nan") for i in plain], plain, first_line)
    # Everything but plain moves, empty lines and plain comments goes to the interpreter.
    others = [i for i, m in enumerate(matches) if m is None and _QUIET.fullmatch(lines[i]) is None]
    if max(map(len, lines), default=0) > MAX_LINE_CHARS:  # the interpreter refuses them
        others = sorted(set(others) | {i for i, raw in enumerate(lines) if len(raw) > MAX_LINE_CHARS})
    start = 0
    for stop in [*others, len(lines)]:
        span = moves.span(start, stop)
        if span.stop - span.start <= _FEW or not apply_plain_moves(st, moves, span):
            # A few lines are quicker one by one; a rejected run is read again so the interpreter can
            # name the line at fault.
            for j in range(start, stop):
                interpret_line(st, lines[j], first_line + j, source)
        if stop < len(lines):
            interpret_line(st, lines[stop], first_line + stop, source)
        start = stop + 1


def iter_parse_gcode(
    text: str, source: str = "<gcode>", token: CancelToken | None = None, block_lines: int | None = None
) -> Generator[Progress, None, Toolpath]:
    """Parse G-code ``text`` block by block; yields ``Progress("parse", moves, total)``, returns the toolpath.

    ``source`` names the text in error messages (``source:LINE: problem``); ``token`` is checked between
    blocks (:class:`~fieldcast.engine.jobs.Cancelled` is raised when it is set); ``block_lines`` overrides
    the block size (the result does not depend on it).
    """
    lines = text.splitlines()
    if block_lines is None:
        block_lines = min(max(len(lines) // 100, BLOCK_LINES[0]), BLOCK_LINES[1])
    done = np.cumsum(count_moves(lines))
    total = int(done[-1]) if len(lines) else 0
    limit = max_segments()
    if total > limit:  # refused before anything is parsed (arcs are checked as they are cut)
        raise GCodeError(f"{source}:0: {total:,} moves; {segment_problem(total, limit)}")
    st = ReaderState()
    for start in range(0, len(lines), block_lines):
        if token is not None:
            token.raise_if_cancelled()
        block = lines[start : start + block_lines]
        _read_block(st, block, start + 1, source)
        moves = int(done[start + len(block) - 1])
        yield Progress("parse", moves, total, f"{moves:,} of {total:,} moves read")
    return _finish(st, _flavour(lines), source)


def parse_gcode(text: str, source: str = "<gcode>") -> Toolpath:
    """Parse G-code ``text``; ``source`` names it in error messages (``source:LINE: problem``)."""
    return _run(iter_parse_gcode(text, source))


def _run(job: Generator[Progress, None, Toolpath]) -> Toolpath:
    """Drive a reader job to its end and return what it returns."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def _finish(st: ReaderState, flavour: str, source: str) -> Toolpath:
    xyz, feed, accel, extrude, rapid, dwell, layer, line = st.segments.arrays()
    if not st.markers and feed.size:
        # No layer comments: number the layers by the distinct heights of extruding moves.
        z = xyz[1:, 2]
        heights = np.unique(np.round(z[extrude], 4)) if extrude.any() else np.unique(np.round(z, 4))
        layer = np.clip(np.searchsorted(heights, np.round(z, 4) - 1e-6), 0, max(len(heights) - 1, 0))
    return Toolpath(xyz, feed, accel, extrude, rapid, dwell, layer, line, dict(st.settings), flavour, source)


def iter_read_gcode(
    path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES, token: CancelToken | None = None
) -> Generator[Progress, None, Toolpath]:
    """:func:`read_gcode` as a job: yields parse progress in moves, returns the toolpath."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise GCodeError(
            f"{path}:0: file is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit"
        )
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise GCodeError(f"{path}:0: not a text file (binary G-code is not supported)")
    return (yield from iter_parse_gcode(data.decode("utf-8", errors="replace"), str(path), token))


def read_gcode(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Toolpath:
    """Read and parse a G-code file; refuses files over ``max_bytes`` and files that are not text."""
    return _run(iter_read_gcode(path, max_bytes))
