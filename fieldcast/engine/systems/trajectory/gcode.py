"""A G-code reader for printer toolpaths: moves, arcs, modes, feed rates, accelerations and layers.

The reader turns the motion of a slicer's output (PrusaSlicer, OrcaSlicer/SuperSlicer, Cura; Marlin, Klipper
and RepRapFirmware flavours) into a :class:`Toolpath`: a polyline of segments with their feed rate,
acceleration, extrusion flag, layer and source line. Arcs (G2/G3, centre ``I``/``J`` or radius ``R`` forms)
are cut into chords the way firmware does, so that every later stage only sees straight segments.

Units are millimetres and seconds throughout (feed rates in G-code are mm/min and are converted). Commands
that do not move the head (temperatures, fans, tool changes ...) are skipped. Anything malformed raises
:class:`GCodeError` with ``PATH:LINE: problem``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["GCodeError", "Toolpath", "parse_gcode", "read_gcode"]

MAX_FILE_BYTES = (
    256 << 20
)  # a 256 MiB print is already huge; bigger files are refused, not parsed for minutes
MAX_LINE_CHARS = 4096
MAX_COORD_MM = 1.0e5  # 100 m: beyond any printer, so the number is a corrupt file rather than a toolpath
MAX_FEED_MM_MIN = 1.0e6
MAX_ACCEL = 1.0e6  # mm/s²
MAX_SEGMENTS = 20_000_000
# Arcs become chords no longer than this and deviating less than _ARC_TOLERANCE from the true arc.
_ARC_SEGMENT_MM = 1.0
_ARC_TOLERANCE_MM = 0.002
_ARC_RADIUS_MISMATCH_MM = 0.05  # start and end radius of an I/J arc may differ by this (slicers round)

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?")
_LAYER_MARKERS = (";LAYER:", ";LAYER_CHANGE")
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


class GCodeError(ValueError):
    """Malformed or unsupported G-code; the message reads ``PATH:LINE: problem``."""


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


class _State:
    """The modal state of the interpreter while it walks the file."""

    def __init__(self) -> None:
        self.pos = [0.0, 0.0, 0.0]
        self.e = 0.0
        self.absolute = True
        self.absolute_e = True
        self.scale = 1.0  # 25.4 after G20
        self.feed = 50.0  # mm/s until the file sets one
        self.accel_print = math.nan
        self.accel_travel = math.nan
        self.layer = 0
        self.markers = 0
        self.pending_dwell = 0.0
        self.settings: dict[str, float] = {}
        self.rows: list[tuple] = []
        self.verts: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]


def _fail(where: str, problem: str) -> GCodeError:
    return GCodeError(f"{where}: {problem}")


def _words(text: str, where: str) -> dict[str, float]:
    """Letter → number of one command line (comments already removed)."""
    words: dict[str, float] = {}
    pos = 0
    for match in _WORD.finditer(text):
        gap = text[pos : match.start()].strip()
        if gap:
            raise _fail(where, f"cannot read {gap!r} in {text.strip()!r}")
        pos = match.end()
        letter, number = match.group(1).upper(), match.group(2)
        if number is None:
            if len(match.group(0)) == 1 and text[match.end() : match.end() + 1].isalpha():
                raise _fail(where, f"cannot read {text[match.start() :].split()[0]!r} in {text.strip()!r}")
            words[letter] = math.nan  # a bare axis letter, as in "G28 X"
            continue
        value = float(number)
        if not math.isfinite(value) or abs(value) > MAX_COORD_MM * 100:
            raise _fail(where, f"absurd number {number} for {letter}")
        if letter in words and letter not in "GM":
            raise _fail(where, f"{letter} is given twice")
        words.setdefault(letter, value)
    tail = text[pos:].strip()
    if tail:
        raise _fail(where, f"cannot read {tail!r} in {text.strip()!r}")
    return words


def _strip(raw: str) -> tuple[str, str]:
    """Split a line into its command (without line number and checksum) and its comment."""
    comment = ""
    if ";" in raw:
        raw, comment = raw.split(";", 1)
        comment = ";" + comment
    raw = re.sub(r"\([^)]*\)", " ", raw)  # RS-274 style inline comments
    raw = raw.split("*", 1)[0]  # checksum of host-numbered lines
    raw = re.sub(r"^\s*[Nn]\d+", "", raw)
    return raw.strip(), comment.strip()


def _target(st: _State, words: dict[str, float], where: str) -> list[float]:
    out = list(st.pos)
    for i, axis in enumerate("XYZ"):
        if axis in words:
            value = words[axis]
            if math.isnan(value):
                raise _fail(where, f"{axis} has no value")
            value *= st.scale
            out[i] = value if st.absolute else st.pos[i] + value
            if abs(out[i]) > MAX_COORD_MM:
                raise _fail(where, f"{axis} {out[i]:.6g} mm is outside any machine")
    return out


def _set_feed(st: _State, words: dict[str, float], where: str) -> None:
    if "F" in words:
        f = words["F"]
        if not 0.0 < f <= MAX_FEED_MM_MIN:
            raise _fail(where, f"feed rate F{f:g} must be positive and at most {MAX_FEED_MM_MIN:g} mm/min")
        st.feed = f * st.scale / 60.0


def _extrudes(st: _State, words: dict[str, float]) -> bool:
    if "E" not in words or math.isnan(words["E"]):
        return False
    e = words["E"] * st.scale
    delta = e - st.e if st.absolute_e else e
    st.e = e if st.absolute_e else st.e + e
    return delta > 1e-9


def _emit(st: _State, end: list[float], rapid: bool, extrude: bool, line_no: int, dwell: float = 0.0) -> None:
    accel = st.accel_travel if (rapid or not extrude) and not math.isnan(st.accel_travel) else st.accel_print
    st.rows.append((st.feed, accel, extrude, rapid, st.pending_dwell + dwell, st.layer, line_no))
    st.verts.append((end[0], end[1], end[2]))
    st.pending_dwell = 0.0
    st.pos = list(end)
    if len(st.rows) > MAX_SEGMENTS:
        raise GCodeError(f"more than {MAX_SEGMENTS} segments: refusing to simulate such a toolpath")


def _arc(st: _State, words: dict[str, float], clockwise: bool, where: str, line_no: int) -> None:
    """Cut a G2/G3 arc in the XY plane into chords (helical Z is spread linearly)."""
    end = _target(st, words, where)
    x0, y0 = st.pos[0], st.pos[1]
    dx, dy = end[0] - x0, end[1] - y0
    if "R" in words:
        r = words["R"] * st.scale
        chord = math.hypot(dx, dy)
        if chord < 1e-9 or abs(r) < 1e-9:
            raise _fail(where, "an R-form arc needs distinct end points and a non-zero radius")
        if chord > 2 * abs(r) * (1 + 1e-6):
            raise _fail(where, f"radius R{abs(r):g} is smaller than half the chord {chord:.4g} mm")
        h = math.sqrt(max(r * r - chord * chord / 4, 0.0))
        # The centre lies left of the chord for a counter-clockwise arc of under 180° (negative R: over 180°).
        side = (1.0 if not clockwise else -1.0) * (1.0 if r > 0 else -1.0)
        cx = x0 + dx / 2 - side * h * dy / chord
        cy = y0 + dy / 2 + side * h * dx / chord
    elif "I" in words or "J" in words:
        cx = x0 + words.get("I", 0.0) * st.scale
        cy = y0 + words.get("J", 0.0) * st.scale
    else:
        raise _fail(where, "an arc needs I/J (centre offset) or R (radius)")
    r0 = math.hypot(x0 - cx, y0 - cy)
    r1 = math.hypot(end[0] - cx, end[1] - cy)
    if r0 < 1e-6:
        raise _fail(where, "arc centre coincides with its start point")
    if abs(r0 - r1) > _ARC_RADIUS_MISMATCH_MM + 0.001 * r0:
        raise _fail(where, f"arc start radius {r0:.4f} mm and end radius {r1:.4f} mm differ")
    a0 = math.atan2(y0 - cy, x0 - cx)
    a1 = math.atan2(end[1] - cy, end[0] - cx)
    sweep = a1 - a0
    if clockwise and sweep >= -1e-12:
        sweep -= 2 * math.pi
    elif not clockwise and sweep <= 1e-12:
        sweep += 2 * math.pi
    # Chord count: bounded length and bounded sagitta r(1 - cos(φ/2)) ≤ tolerance.
    max_phi = 2 * math.acos(max(1.0 - _ARC_TOLERANCE_MM / r0, -1.0))
    n = max(1, math.ceil(abs(sweep) * r0 / _ARC_SEGMENT_MM), math.ceil(abs(sweep) / max(max_phi, 1e-6)))
    extrude = _extrudes(st, words)
    z0 = st.pos[2]
    for k in range(1, n + 1):
        f = k / n
        if k == n:
            point = end
        else:
            ang = a0 + sweep * f
            rad = r0 + (r1 - r0) * f
            point = [cx + rad * math.cos(ang), cy + rad * math.sin(ang), z0 + (end[2] - z0) * f]
        _emit(st, point, False, extrude, line_no)


def _settings(st: _State, code: str, words: dict[str, float], where: str) -> None:
    """Acceleration, jerk and junction settings (M201/M203/M204/M205/M566)."""
    scale_min = 1.0 / 60.0
    if code == "M204":
        for letter in "PTSR":
            if letter in words and not 0.0 < words[letter] <= MAX_ACCEL:
                raise _fail(where, f"M204 {letter}{words[letter]:g} is not a sensible acceleration")
        if "S" in words:
            st.accel_print = st.accel_travel = words["S"]
        if "P" in words:
            st.accel_print = words["P"]
        if "T" in words:
            st.accel_travel = words["T"]
    elif code == "M205":
        if "J" in words:
            st.settings.setdefault("junction_deviation", words["J"])
        for letter in "XY":
            if letter in words:
                st.settings.setdefault("jerk", words[letter])
    elif code == "M566":  # RepRapFirmware: allowed instantaneous speed change, mm/min
        for letter in "XY":
            if letter in words:
                st.settings.setdefault("jerk", words[letter] * scale_min)
    elif code == "M201":
        values = [words[c] for c in "XY" if c in words]
        if values:
            st.settings.setdefault("max_accel", min(values))
    elif code == "M203":
        values = [words[c] for c in "XY" if c in words]
        if values:
            # Marlin takes mm/s; RepRapFirmware mm/min. Values above 2000 can only be mm/min.
            v = min(values)
            st.settings.setdefault("max_velocity", v * scale_min if v > 2000 else v)


def _klipper(st: _State, text: str) -> None:
    """SET_VELOCITY_LIMIT ACCEL=... SQUARE_CORNER_VELOCITY=... as Klipper-flavoured slicers emit it."""
    for key, value in re.findall(r"([A-Z_]+)\s*=\s*([-+]?[\d.]+)", text.upper()):
        v = float(value)
        if key == "ACCEL" and 0.0 < v <= MAX_ACCEL:
            st.accel_print = st.accel_travel = v
        elif key == "SQUARE_CORNER_VELOCITY":
            st.settings.setdefault("square_corner_velocity", v)
        elif key == "VELOCITY":
            st.settings.setdefault("max_velocity", v)


def _command(st: _State, words: dict[str, float], code: str, where: str, line_no: int) -> None:
    if code in ("G0", "G1"):
        _set_feed(st, words, where)
        end = _target(st, words, where)
        extrude = _extrudes(st, words)
        if end != st.pos:
            _emit(st, end, code == "G0", extrude, line_no)
    elif code in ("G2", "G3"):
        _set_feed(st, words, where)
        _arc(st, words, code == "G2", where, line_no)
    elif code == "G4":
        seconds = words.get("S", 0.0) + words.get("P", 0.0) / 1000.0
        if not 0.0 <= seconds < 86400:
            raise _fail(where, f"dwell of {seconds:g} s")
        st.pending_dwell += seconds
    elif code in ("G90", "G91"):
        st.absolute = code == "G90"
        st.absolute_e = st.absolute  # G90/G91 also set E unless M82/M83 follows
    elif code in ("M82", "M83"):
        st.absolute_e = code == "M82"
    elif code in ("G20", "G21"):
        st.scale = 25.4 if code == "G20" else 1.0
    elif code == "G92":
        for i, axis in enumerate("XYZ"):
            if axis in words and not math.isnan(words[axis]):
                st.pos[i] = words[axis] * st.scale
        if "E" in words:
            st.e = 0.0 if math.isnan(words["E"]) else words["E"] * st.scale
        st.verts[-1] = tuple(st.pos)  # the path continues from the redefined origin
    elif code == "G28":
        axes = [a for a in "XYZ" if a in words] or list("XYZ")
        end = [0.0 if a in axes else p for a, p in zip("XYZ", st.pos, strict=True)]
        if end != st.pos:
            _emit(st, end, True, False, line_no)
    elif code in ("G18", "G19"):
        raise _fail(where, f"{code}: only arcs in the XY plane (G17) are supported")
    else:
        _settings(st, code, words, where)


def parse_gcode(text: str, source: str = "<gcode>") -> Toolpath:
    """Parse G-code ``text``; ``source`` names it in error messages (``source:LINE: problem``)."""
    st = _State()
    flavour = ""
    for line_no, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{line_no}"
        if len(raw) > MAX_LINE_CHARS:
            raise _fail(where, f"line longer than {MAX_LINE_CHARS} characters")
        if not flavour and raw.startswith(";") and line_no < 200:
            low = raw.lower().replace(" ", "")
            flavour = next((name for key, name in _FLAVOURS if key in low), "")
        command, comment = _strip(raw)
        if comment.replace(" ", "").upper().startswith(_LAYER_MARKERS):
            # Moves before the first marker (start G-code, purge line) count with the first layer.
            st.markers += 1
            st.layer = st.markers - 1
        if not command:
            continue
        if command[:2].isalpha():
            if command.upper().startswith("SET_VELOCITY_LIMIT"):
                _klipper(st, command)
            continue  # a firmware macro (PRINT_START, EXCLUDE_OBJECT_START ...): no motion we can know
        if command[0].upper() not in "GMT":
            raise _fail(where, f"expected a G, M or T command, got {command!r}")
        if command[0].upper() == "T":
            continue  # tool change
        words = _words(command, where)
        letter = command[0].upper()
        number = words.get(letter)
        if number is None or math.isnan(number):
            raise _fail(where, f"{letter} without a number")
        code = f"{letter}{number:g}"
        _command(st, words, code, where, line_no)
    return _finish(st, flavour, source)


def _finish(st: _State, flavour: str, source: str) -> Toolpath:
    rows = st.rows
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(7)]
    xyz = np.asarray(st.verts, dtype=np.float64).reshape(-1, 3)
    layer = np.asarray(cols[5], dtype=np.int64)
    extrude = np.asarray(cols[2], dtype=bool)
    if not st.markers and rows:
        # No layer comments: number the layers by the distinct heights of extruding moves.
        z = xyz[1:, 2]
        heights = np.unique(np.round(z[extrude], 4)) if extrude.any() else np.unique(np.round(z, 4))
        layer = np.clip(np.searchsorted(heights, np.round(z, 4) - 1e-6), 0, max(len(heights) - 1, 0))
    return Toolpath(
        xyz=xyz,
        feed=np.asarray(cols[0], dtype=np.float64),
        accel=np.asarray(cols[1], dtype=np.float64),
        extrude=extrude,
        rapid=np.asarray(cols[3], dtype=bool),
        dwell=np.asarray(cols[4], dtype=np.float64),
        layer=layer,
        line=np.asarray(cols[6], dtype=np.int64),
        settings=dict(st.settings),
        flavour=flavour,
        source=source,
    )


def read_gcode(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Toolpath:
    """Read and parse a G-code file; refuses files over ``max_bytes`` and files that are not text."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise GCodeError(
            f"{path}:0: file is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit"
        )
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise GCodeError(f"{path}:0: not a text file (binary G-code is not supported)")
    return parse_gcode(data.decode("utf-8", errors="replace"), source=str(path))
