"""The G-code interpreter, one command line at a time: modes, arcs, G92, homing, dwells and machine settings.

:mod:`.gcode` sends every line here that is not a plain ``G0``/``G1`` move (those go through
:mod:`.gcode_moves` in bulk). The interpreter's modal state (:class:`ReaderState`) is shared by both, and
the segments either of them finds are collected, in file order, by :class:`Segments`.

Units are millimetres and seconds (feed rates in G-code are mm/min and are converted). Anything malformed
raises :class:`GCodeError` with ``SOURCE:LINE: problem``.
"""

from __future__ import annotations

import math
import re

import numpy as np

from fieldcast.engine.limits import format_bytes, memory_budget

__all__ = [
    "MAX_ACCEL",
    "MAX_COORD_MM",
    "MAX_FEED_MM_MIN",
    "MAX_LINE_CHARS",
    "MAX_ARC_CHORDS",
    "MAX_SEGMENTS",
    "SEGMENT_BYTES",
    "GCodeError",
    "ReaderState",
    "Segments",
    "interpret_line",
    "max_segments",
    "segment_problem",
    "is_layer_marker",
]

MAX_LINE_CHARS = 4096
MAX_COORD_MM = 1.0e5  # 100 m: beyond any printer, so the number is a corrupt file rather than a toolpath
MAX_FEED_MM_MIN = 1.0e6
MAX_ACCEL = 1.0e6  # mm/s²
MAX_SEGMENTS = 20_000_000
# Memory one segment costs from parsing to the written dataset (toolpath, plan, simulation bookkeeping),
# measured on a 200k-move import with some margin; the budget allows this many segments.
SEGMENT_BYTES = 1536
# One arc becomes at most this many chords, whatever its radius (a 50 m arc is a crafted file, not a print).
MAX_ARC_CHORDS = 4096
# M-codes the reader interprets; every other M-code (display messages, progress, fans, temperatures, object
# labels ...) is read and ignored, whatever text follows it.
_INTERPRETED_M = frozenset({82, 83, 201, 203, 204, 205, 566})
_M_NUMBER = re.compile(r"[Mm]\s*(\d+)")
# Arcs become chords no longer than this and deviating less than _ARC_TOLERANCE from the true arc.
_ARC_SEGMENT_MM = 1.0
_ARC_TOLERANCE_MM = 0.002
_ARC_RADIUS_MISMATCH_MM = 0.05  # start and end radius of an I/J arc may differ by this (slicers round)

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?")
_LAYER_MARKERS = (";LAYER:", ";LAYER_CHANGE")


class GCodeError(ValueError):
    """Malformed or unsupported G-code; the message reads ``PATH:LINE: problem``."""


class Segments:
    """The segments found so far, in file order: single rows from the interpreter, blocks from bulk moves.

    A segment is its end vertex and ``feed, accel, extrude, rapid, dwell, layer, line`` (see
    :class:`~fieldcast.engine.systems.trajectory.gcode.Toolpath`). Rows are kept as tuples until a block
    arrives, so the order of both kinds is kept without a Python object per bulk move.
    """

    def __init__(self) -> None:
        self.first = (0.0, 0.0, 0.0)  # where the head is before the first segment
        self.rows: list[tuple] = []  # (x, y, z, feed, accel, extrude, rapid, dwell, layer, line)
        self.blocks: list[tuple[np.ndarray, ...]] = []  # (xyz (k, 3), feed, accel, ..., line)
        self.count = 0
        self.limit = max_segments()

    def _over(self) -> GCodeError:
        return GCodeError(segment_problem(self.count, self.limit))

    def add(self, end: list[float], row: tuple) -> None:
        self.rows.append((end[0], end[1], end[2], *row))
        self.count += 1
        if self.count > self.limit:
            raise self._over()

    def add_block(self, block: tuple[np.ndarray, ...]) -> None:
        self.count += len(block[1])
        if self.count > self.limit:
            raise self._over()
        self._flush()
        self.blocks.append(block)

    def set_last_vertex(self, pos: list[float]) -> None:
        """G92: the path continues from the redefined position."""
        if self.rows:
            self.rows[-1] = (pos[0], pos[1], pos[2], *self.rows[-1][3:])
        elif self.blocks:
            self.blocks[-1][0][-1] = pos
        else:
            self.first = (pos[0], pos[1], pos[2])

    def _flush(self) -> None:
        if not self.rows:
            return
        cols = list(zip(*self.rows, strict=True))
        self.rows = []
        self.blocks.append(
            (
                np.column_stack([np.asarray(c, dtype=np.float64) for c in cols[:3]]),
                np.asarray(cols[3], dtype=np.float64),
                np.asarray(cols[4], dtype=np.float64),
                np.asarray(cols[5], dtype=bool),
                np.asarray(cols[6], dtype=bool),
                np.asarray(cols[7], dtype=np.float64),
                np.asarray(cols[8], dtype=np.int64),
                np.asarray(cols[9], dtype=np.int64),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """``xyz (N + 1, 3), feed, accel, extrude, rapid, dwell, layer, line`` (N,) of everything so far."""
        self._flush()
        first = np.asarray([self.first], dtype=np.float64)
        if not self.blocks:
            empty = (np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0))
            return (first, *empty, np.zeros(0, np.int64), np.zeros(0, np.int64))
        cols = list(zip(*self.blocks, strict=True))
        return (np.concatenate([first, *cols[0]]), *(np.concatenate(c) for c in cols[1:]))


class ReaderState:
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
        self.segments = Segments()


def max_segments() -> int:
    """Segments a toolpath may have: :data:`MAX_SEGMENTS`, fewer when the memory budget is smaller."""
    return int(min(MAX_SEGMENTS, memory_budget() // SEGMENT_BYTES))


def segment_problem(count: int, limit: int) -> str:
    """Why a toolpath of ``count`` segments is refused (more than ``limit``)."""
    return (
        f"{count:,} segments or more: simulating them needs about "
        f"{format_bytes(count * SEGMENT_BYTES)}, over the limit of {limit:,} segments "
        f"({format_bytes(memory_budget())} memory budget; set FIELDCAST_MEMORY_BUDGET_MB to allow more)"
    )


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


def is_layer_marker(comment: str) -> bool:
    """True for a slicer's layer-change comment (``;LAYER:3``, ``;LAYER_CHANGE``), spaces ignored."""
    return comment.replace(" ", "").upper().startswith(_LAYER_MARKERS)


def _target(st: ReaderState, words: dict[str, float], where: str) -> list[float]:
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


def _set_feed(st: ReaderState, words: dict[str, float], where: str) -> None:
    if "F" in words:
        f = words["F"]
        if not 0.0 < f <= MAX_FEED_MM_MIN:
            raise _fail(where, f"feed rate F{f:g} must be positive and at most {MAX_FEED_MM_MIN:g} mm/min")
        st.feed = f * st.scale / 60.0


def _extrudes(st: ReaderState, words: dict[str, float]) -> bool:
    if "E" not in words or math.isnan(words["E"]):
        return False
    e = words["E"] * st.scale
    delta = e - st.e if st.absolute_e else e
    st.e = e if st.absolute_e else st.e + e
    return delta > 1e-9


def _emit(st: ReaderState, end: list[float], rapid: bool, extrude: bool, line_no: int) -> None:
    accel = st.accel_travel if (rapid or not extrude) and not math.isnan(st.accel_travel) else st.accel_print
    st.segments.add(end, (st.feed, accel, extrude, rapid, st.pending_dwell + 0.0, st.layer, line_no))
    st.pending_dwell = 0.0
    st.pos = list(end)


def _arc(st: ReaderState, words: dict[str, float], clockwise: bool, where: str, line_no: int) -> None:
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
    n = min(n, MAX_ARC_CHORDS)
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


def _settings(st: ReaderState, code: str, words: dict[str, float], where: str) -> None:
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


def _klipper(st: ReaderState, text: str) -> None:
    """SET_VELOCITY_LIMIT ACCEL=... SQUARE_CORNER_VELOCITY=... as Klipper-flavoured slicers emit it."""
    for key, value in re.findall(r"([A-Z_]+)\s*=\s*([-+]?[\d.]+)", text.upper()):
        v = float(value)
        if key == "ACCEL" and 0.0 < v <= MAX_ACCEL:
            st.accel_print = st.accel_travel = v
        elif key == "SQUARE_CORNER_VELOCITY":
            st.settings.setdefault("square_corner_velocity", v)
        elif key == "VELOCITY":
            st.settings.setdefault("max_velocity", v)


def _command(st: ReaderState, words: dict[str, float], code: str, where: str, line_no: int) -> None:
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
        st.segments.set_last_vertex(st.pos)
    elif code == "G28":
        axes = [a for a in "XYZ" if a in words] or list("XYZ")
        end = [0.0 if a in axes else p for a, p in zip("XYZ", st.pos, strict=True)]
        if end != st.pos:
            _emit(st, end, True, False, line_no)
    elif code in ("G18", "G19"):
        raise _fail(where, f"{code}: only arcs in the XY plane (G17) are supported")
    else:
        _settings(st, code, words, where)


def interpret_line(st: ReaderState, raw: str, line_no: int, source: str) -> None:
    """Apply one source line (1-based ``line_no``) to ``st``; raises :class:`GCodeError` naming it."""
    where = f"{source}:{line_no}"
    if len(raw) > MAX_LINE_CHARS:
        raise _fail(where, f"line longer than {MAX_LINE_CHARS} characters")
    command, comment = _strip(raw)
    if is_layer_marker(comment):
        # Moves before the first marker (start G-code, purge line) count with the first layer.
        st.markers += 1
        st.layer = st.markers - 1
    if not command:
        return
    if command[:2].isalpha():
        if command.upper().startswith("SET_VELOCITY_LIMIT"):
            _klipper(st, command)
        return  # a firmware macro (PRINT_START, EXCLUDE_OBJECT_START ...): no motion we can know
    if command[0].upper() not in "GMT":
        raise _fail(where, f"expected a G, M or T command, got {command!r}")
    if command[0].upper() == "T":
        return  # tool change
    if command[0].upper() == "M":
        code = _M_NUMBER.match(command)
        if code is None:
            raise _fail(where, "M without a number")
        if int(code.group(1)) not in _INTERPRETED_M:
            return  # M117 Printing..., M73 P10, M486 S1 A"part", M106 ...: no motion, text allowed
    words = _words(command, where)
    letter = command[0].upper()
    number = words.get(letter)
    if number is None or math.isnan(number):
        raise _fail(where, f"{letter} without a number")
    _command(st, words, f"{letter}{number:g}", where, line_no)
