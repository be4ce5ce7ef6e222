"""G-code reader: modes, arcs, G92, layers, flavours, and line-numbered errors on malformed input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fieldcast.engine.systems.trajectory.gcode import GCodeError, parse_gcode, read_gcode
from fieldcast.resources import resource_path


def test_absolute_and_relative_moves_with_feed_in_mm_per_s():
    p = parse_gcode("G90\nG1 X10 Y0 F6000\nG91\nG1 X5 Y5\nG1 X-5\nG90\nG0 X0 Y0 F12000\n")
    np.testing.assert_allclose(p.xyz[:, :2], [[0, 0], [10, 0], [15, 5], [10, 5], [0, 0]])
    np.testing.assert_allclose(p.feed, [100.0, 100.0, 100.0, 200.0])
    assert p.rapid.tolist() == [False, False, False, True]
    assert p.line.tolist() == [2, 4, 5, 7]


def test_g92_redefines_position_and_extrusion_modes():
    text = "M82\nG92 E0\nG1 X10 E1\nG1 X20 E1\nG92 X0 Y0\nG1 X5 E2\nM83\nG1 X6 E0.1\nG1 X7 E-0.5\n"
    p = parse_gcode(text)
    # After G92 X0 the next move starts from the new origin.
    np.testing.assert_allclose(p.xyz[-4:, 0], [0.0, 5.0, 6.0, 7.0])
    assert p.extrude.tolist() == [True, False, True, True, False]


def test_inches_and_line_numbers_with_checksums():
    p = parse_gcode("N1 G20*12\nN2 G1 X1 Y1 F60*99 ; comment\n")
    np.testing.assert_allclose(p.xyz[-1, :2], [25.4, 25.4])
    assert p.feed[0] == pytest.approx(25.4)


@pytest.mark.parametrize(
    "arc",
    ["G2 X10 Y0 I5 J0", "G2 X10 Y0 R5", "G3 X10 Y0 I5 J0", "G3 X10 Y0 R-5"],
)
def test_semicircle_arc_length_and_end_point(arc):
    p = parse_gcode(f"G1 X0 Y0\n{arc}\n")
    np.testing.assert_allclose(p.xyz[-1, :2], [10.0, 0.0], atol=1e-12)
    assert p.xy_lengths().sum() == pytest.approx(5 * math.pi, rel=2e-4)  # chords within 2 µm sagitta
    # Clockwise from (0, 0) around (5, 0) passes over the top; counter-clockwise under it.
    mid_y = p.xyz[len(p.xyz) // 2, 1]
    assert (mid_y > 0) == arc.startswith("G2")
    assert np.allclose(np.hypot(p.xyz[:, 0] - 5, p.xyz[:, 1]), 5.0)


def test_full_circle_and_short_r_arc():
    p = parse_gcode("G1 X10 Y0\nG2 X10 Y0 I-10 J0\n")
    assert p.xy_lengths()[1:].sum() == pytest.approx(20 * math.pi, rel=2e-4)
    q = parse_gcode("G1 X0 Y0\nG3 X2 Y0 R10\n")  # minor arc: centre below the chord for G3
    theta = 2 * math.asin(1 / 10)
    assert q.xy_lengths().sum() == pytest.approx(10 * theta, rel=1e-4)
    assert q.xyz[:, 1].min() < 0


def test_accelerations_jerk_junction_and_klipper_settings():
    text = (
        "M204 P1500 T3000\nM205 J0.02\nG1 X10 E1\nG1 X20\nM204 S800\nG1 X30 E1\n"
        "SET_VELOCITY_LIMIT ACCEL=2500 SQUARE_CORNER_VELOCITY=5\nG1 X40 E1\nM566 X600\n"
    )
    p = parse_gcode(text)
    assert p.accel.tolist() == [1500.0, 3000.0, 800.0, 2500.0]
    assert p.settings["junction_deviation"] == 0.02
    assert p.settings["square_corner_velocity"] == 5.0
    assert p.settings["jerk"] == pytest.approx(10.0)


def test_layers_from_comments_and_from_z():
    cura = (
        ";FLAVOR:Marlin\n;Generated with Cura_SteamEngine 5.6\n"
        "G1 X1\n;LAYER:0\nG1 X2 E1\n;LAYER:1\nG1 Z0.4\nG1 X3 E1\n"
    )
    p = parse_gcode(cura)
    assert p.flavour == "Cura"
    assert p.layer.tolist() == [0, 0, 1, 1]
    plain = "M83\nG1 Z0.2\nG1 X1 E1\nG1 Z0.4\nG1 X2 E1\nG1 Z0.6\nG1 X3 E1\n"
    assert parse_gcode(plain).layer.tolist() == [0, 0, 1, 1, 2, 2]


def test_sample_file_is_a_three_layer_prusaslicer_print():
    p = read_gcode(resource_path("gcode", "calibration_square_prusaslicer.gcode"))
    assert p.flavour == "PrusaSlicer"
    assert p.layer_count() == 3
    assert p.extrude.sum() > 100
    assert np.all(np.isfinite(p.xyz))


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("G1 X1\nG1 X1.2.3\n", 2, "cannot read"),
        ("G1 X1\n\nG1 Xabc\n", 3, "cannot read"),
        ("G1 X1 X2\n", 1, "twice"),
        ("G2 X10 Y0\n", 1, "I/J"),
        ("G1 X0\nG2 X10 Y0 R2\n", 2, "smaller than half the chord"),
        ("G2 X10 Y0 I3 J0\n", 1, "radius"),
        ("G1 X1e9\n", 1, "absurd"),
        ("G1 X999999\n", 1, "outside any machine"),
        ("G1 X1 F0\n", 1, "feed rate"),
        ("G1 X1 F-10\n", 1, "feed rate"),
        ("M204 S0\n", 1, "acceleration"),
        ("G18\n", 1, "XY plane"),
        ("X10 Y10\n", 1, "expected a G, M or T"),
        ("G X1\n", 1, "without a number"),
        ("G1 X" + "1" * 5000 + "\n", 1, "longer than"),
    ],
)
def test_malformed_gcode_names_file_and_line(text, line, problem):
    with pytest.raises(GCodeError) as info:
        parse_gcode(text, source="part.gcode")
    message = str(info.value)
    assert message.startswith(f"part.gcode:{line}: "), message
    assert problem in message


def test_file_limits(tmp_path):
    big = tmp_path / "big.gcode"
    big.write_text("G1 X1\n" * 100)
    with pytest.raises(GCodeError, match="limit"):
        read_gcode(big, max_bytes=100)
    binary = tmp_path / "print.bgcode"
    binary.write_bytes(b"GCDE\x00\x01\x00\x00")
    with pytest.raises(GCodeError, match="not a text file"):
        read_gcode(binary)
