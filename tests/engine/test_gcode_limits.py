"""G-code a slicer writes is read; toolpaths whose size or duration would exhaust memory are refused first."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.engine.data import DatasetError
from fieldcast.engine.data.importers.gcode import GcodeSource
from fieldcast.engine.limits import BUDGET_ENV
from fieldcast.engine.systems.trajectory.gcode import GCodeError, parse_gcode
from fieldcast.engine.systems.trajectory.gcode_commands import MAX_ARC_CHORDS, max_segments


def test_display_progress_and_object_m_codes_are_ignored():
    text = (
        'M117 Printing...\nM73 P10 R5\nM118 E1 layer 1\nM486 S1 A"left part"\nM862.3 P "MK3S"\n'
        "G21\nG90\nG1 X10 Y10 F3000\nM117 Done: 100%!\nG1 X20 Y10\n"
    )
    path = parse_gcode(text)
    assert path.n_segments == 2
    assert np.allclose(path.xyz[-1, :2], [20, 10])


def test_interpreted_m_codes_are_still_checked():
    with pytest.raises(GCodeError, match="M204"):
        parse_gcode("M204 S-5\nG1 X1 Y1 F600\n")


def test_an_arc_becomes_a_bounded_number_of_chords():
    small = parse_gcode("G21\nG90\nG1 X0 Y0 F3000\nG2 X0 Y0 I10 J0\n")
    assert 63 <= small.n_segments <= 400  # a 10 mm radius circle: 1 mm chords, within tolerance
    huge = parse_gcode("G21\nG90\nG1 X0 Y0 F3000\nG2 X0 Y0 I50000 J0\n")
    assert huge.n_segments == MAX_ARC_CHORDS


def test_too_many_moves_are_refused_before_parsing(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "16")  # 16 MiB: 10,922 segments of 1.5 KiB
    assert max_segments() == 10_922
    text = "G21\nG90\n" + "".join(f"G1 X{i % 100} Y{i % 7} F3000\n" for i in range(50_000))
    with pytest.raises(GCodeError, match=r"50,000 moves; .*over the limit of 10,922 segments"):
        parse_gcode(text)
    parse_gcode(text[: text.index("G1 X0 Y0", 100)])  # the first 100 moves are fine


@pytest.mark.parametrize(
    "body",
    [
        "G1 X10 Y10 F3000\nG1 X60 Y60 F0.0001\n",
        "G1 X10 Y10 F3000\n" + "G4 S86000\nG1 X20 Y20\nG1 X10 Y10\n" * 20,
    ],
    ids=["feed-1e-4", "long-dwells"],
)
def test_a_toolpath_lasting_too_long_is_refused_before_its_arrays_are_sized(tmp_path, body):
    path = tmp_path / "slow.gcode"
    path.write_text("G21\nG90\n" + body)
    with pytest.raises(DatasetError) as info:
        GcodeSource(path)
    text = str(info.value)
    assert text.startswith(f"{path}: the toolpath lasts") and "memory budget" in text
