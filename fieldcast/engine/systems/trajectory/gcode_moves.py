"""Plain ``G0``/``G1`` lines in bulk: the bulk of every slicer file, read as arrays instead of line by line.

A *plain move* is a line the way slicers write nearly all of them, ``G1 X12.5 Y.75 E.0321 F1800`` with
optional ``;comment``: ``G0`` or ``G1``, then any of X, Y, Z, E, F in that order, upper case, one or more
spaces apart, plain decimals. A run of such lines between two other commands shares one modal state
(units, absolute/relative modes, accelerations), so positions, feeds and extrusion follow from forward
fills and cumulative sums over the run. The arithmetic is the interpreter's (:mod:`.gcode_commands`),
element for element, so both give the same toolpath; any line the bulk path would have to reject is
handed back to the interpreter, which raises the exact error.
"""

from __future__ import annotations

import math
import re

import numpy as np

from fieldcast.engine.systems.trajectory.gcode_commands import (
    MAX_COORD_MM,
    MAX_FEED_MM_MIN,
    ReaderState,
)

__all__ = ["LAYER_MARKER", "PLAIN_MOVE", "PlainMoves", "apply_plain_moves"]

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+))"
#: what follows the ``;`` of a layer-change comment (``LAYER:3``, ``LAYER_CHANGE``; any case, spaces anywhere)
LAYER_MARKER = r" *[Ll] *[Aa] *[Yy] *[Ee] *[Rr] *(?::|_ *[Cc] *[Hh] *[Aa] *[Nn] *[Gg] *[Ee])"
#: groups: code digit, X, Y, Z, E, F; a comment may follow unless it marks a layer change
PLAIN_MOVE = re.compile(
    rf"G([01])(?: +X{_NUM})?(?: +Y{_NUM})?(?: +Z{_NUM})?(?: +E{_NUM})?(?: +F{_NUM})?"
    rf" *(?:;(?!{LAYER_MARKER}).*)?"
)


class PlainMoves:
    """The plain moves of a block of lines as columns: ``rapid``, ``words`` (k, 5: X Y Z E F, NaN = absent).

    ``index`` is each move's position in the block (for the runs between other commands), ``line`` its
    1-based source line.
    """

    def __init__(self, groups: list[tuple[str, ...]], index: list[int], first_line: int) -> None:
        self.index = np.asarray(index, dtype=np.int64)
        self.line = self.index + first_line
        if groups:
            cols = list(zip(*groups, strict=True))
            self.rapid = np.asarray(cols[0], dtype="U1") == "0"
            # "nan" stands for an absent word; NumPy reads decimals exactly as float() does.
            self.words = np.column_stack([np.asarray(c, dtype=np.float64) for c in cols[1:]])
        else:
            self.rapid = np.zeros(0, bool)
            self.words = np.zeros((0, 5))

    def span(self, start: int, stop: int) -> slice:
        """The moves whose block position lies in ``[start, stop)``."""
        lo, hi = np.searchsorted(self.index, (start, stop))
        return slice(int(lo), int(hi))


def _running_sum(start: float, steps: np.ndarray) -> np.ndarray:
    """``start + s0``, ``start + s0 + s1`` ... added one after the other, as the interpreter does."""
    return np.cumsum(np.concatenate(([start], steps)))[1:]


def apply_plain_moves(st: ReaderState, moves: PlainMoves, sl: slice) -> bool:
    """Apply the plain moves ``sl`` of ``moves`` (consecutive in the file) to ``st``.

    Returns False, changing nothing, when a move holds something the interpreter must judge (a number
    out of range); the caller then feeds those lines to the interpreter, which raises the error.
    """
    words, rapid, line = moves.words[sl], moves.rapid[sl], moves.line[sl]
    k = len(line)
    if k == 0:
        return True
    given = ~np.isnan(words)
    f = words[:, 4]
    with np.errstate(invalid="ignore"):
        absurd = np.any(np.abs(words) > MAX_COORD_MM * 100)
        if absurd or np.any(given[:, 4] & ~((f > 0.0) & (f <= MAX_FEED_MM_MIN))):
            return False
    scaled = words * st.scale  # X Y Z E F as the interpreter scales them, F then in mm/s
    scaled[:, 4] /= 60.0
    # Every column's latest given value (the state before the run until the first one) ...
    latest = np.where(given, np.arange(k)[:, None], -1)
    np.maximum.accumulate(latest, axis=0, out=latest)
    before = np.array([*st.pos, st.e, st.feed])
    filled = np.where(latest >= 0, np.take_along_axis(scaled, np.maximum(latest, 0), axis=0), before)
    # ... or, in relative modes, the running sum of the steps.
    for a, absolute in enumerate((st.absolute, st.absolute, st.absolute, st.absolute_e)):
        if not absolute:
            # -0.0 for an absent word: adding it leaves every number as it was, -0.0 included.
            filled[:, a] = _running_sum(before[a], np.where(given[:, a], scaled[:, a], -0.0))
    pos, feed, e_state = filled[:, :3], filled[:, 4], filled[:, 3]
    if np.any(given[:, :3] & (np.abs(pos) > MAX_COORD_MM)):
        return False
    e, has_e = scaled[:, 3], given[:, 3]
    delta = e - np.concatenate(([st.e], e_state[:-1])) if st.absolute_e else e
    with np.errstate(invalid="ignore"):
        extrude = has_e & (delta > 1e-9)
    previous = np.vstack([before[None, :3], pos[:-1]])
    moved = np.flatnonzero(np.any(pos != previous, axis=1))
    if moved.size:
        ext, rap = extrude[moved], rapid[moved]
        if math.isnan(st.accel_travel):
            accel = np.full(moved.size, st.accel_print)
        else:
            accel = np.where(rap | ~ext, st.accel_travel, st.accel_print)
        dwell = np.zeros(moved.size)
        dwell[0] = st.pending_dwell + 0.0
        st.pending_dwell = 0.0
        layer = np.full(moved.size, st.layer, dtype=np.int64)
        st.segments.add_block((pos[moved], feed[moved], accel, ext, rap, dwell, layer, line[moved]))
    st.pos = pos[-1].tolist()
    st.feed = float(feed[-1])
    st.e = float(e_state[-1])
    return True
