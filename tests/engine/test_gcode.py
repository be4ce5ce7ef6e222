"""G-code reader: modes, arcs, G92, layers, flavours, and line-numbered errors on malformed input.

The reader takes plain ``G0``/``G1`` lines in bulk (:mod:`.gcode_moves`) and everything else line by line;
the tests below hold both to the same results: against the outputs the line-by-line reader and the planner
gave before the bulk path existed (``gcode_reference.npz``), and against the line-by-line reader alone on
texts that switch modes, units and extrusion between runs of plain moves.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from fieldcast.engine.systems.trajectory import gcode
from fieldcast.engine.systems.trajectory.gcode import GCodeError, parse_gcode, read_gcode
from fieldcast.engine.systems.trajectory.planner import MotionLimits, plan_moves, sample_shaped
from fieldcast.engine.systems.trajectory.synthetic_gcode import synthetic_gcode
from fieldcast.resources import resource_path

SAMPLE = resource_path("gcode", "calibration_square_prusaslicer.gcode")
# Outputs of the reader and planner at commit 3aa330f (before the bulk reader and the chunked sampling),
# as :func:`_outputs` computes them: the sample file and a 1,000-move synthetic print.
REFERENCE = Path(__file__).with_name("gcode_reference.npz")
TOOLPATH_FIELDS = ("xyz", "feed", "accel", "extrude", "rapid", "dwell", "layer", "line")


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
    p = read_gcode(SAMPLE)
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


def _outputs(prefix: str, p: gcode.Toolpath) -> dict[str, np.ndarray]:
    """The toolpath's arrays, its plan on an MZV-shaped machine and that plan sampled at 401 times."""
    out = {f"{prefix}_{name}": getattr(p, name) for name in TOOLPATH_FIELDS}
    limits = MotionLimits(shaper="mzv", shaper_freq=30.0)
    dwell = p.dwell + np.where(p.xy_lengths() < 1e-9, 0.01, 0.0)
    plan = plan_moves(p.xyz[:, :2], p.feed, limits, accel=p.accel, dwell=dwell)
    for name in ("v_entry", "v_cruise", "v_exit", "t_start", "t_accel", "t_cruise", "t_decel"):
        out[f"{prefix}_plan_{name}"] = getattr(plan, name)
    t = np.linspace(-0.05, plan.duration + 0.1, 401)
    out[f"{prefix}_sample_t"] = t
    for names, arrays in (
        (("pos", "vel", "acc"), plan.sample(t)),
        (("spos", "svel", "sacc"), sample_shaped(plan, t, limits)),
    ):
        out.update({f"{prefix}_sample_{n}": a for n, a in zip(names, arrays, strict=True)})
    return out


@pytest.mark.parametrize("prefix", ["square", "synthetic"])
def test_toolpath_plan_and_samples_match_the_reference(prefix):
    ref = np.load(REFERENCE)
    if prefix == "square":
        path = read_gcode(SAMPLE)
    else:
        text = synthetic_gcode(1000, seed=7)
        assert hashlib.sha256(text.encode()).hexdigest() == str(ref["synthetic_sha256"]), "generator changed"
        path = parse_gcode(text, source="synthetic.gcode")
    out = _outputs(prefix, path)
    assert set(out) == {k for k in ref.files if k.startswith(f"{prefix}_") and k != "synthetic_sha256"}
    for key, value in out.items():
        expected = ref[key]
        assert value.shape == expected.shape and value.dtype == expected.dtype, key
        if value.dtype.kind == "f":
            np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(value, expected, err_msg=key)


def _mixed_text(seed: int) -> str:
    """Runs of plain moves between mode switches, G92, arcs, dwells, accelerations and layer markers."""
    rng = np.random.default_rng(seed)
    switches = [
        "G91", "G90", "M83", "M82", "G92 E0", "G92 X10 Y5", "G20", "G21", "M204 P900 T2500", "G4 P200",
        "G91\nG2 X2 Y0 I1 J0 E.1\nG3 X-2 Y0 R1", ";LAYER:2", "M73 P10", "T0", "G28 X", "M204 S700",
    ]  # fmt: skip
    lines = ["G21", "G90", "M82"]
    for k in range(40):
        lines.append(switches[k % len(switches)])
        for _ in range(int(rng.integers(1, 12))):
            words = [f"G{int(rng.random() < 0.2)}"]
            for letter, scale in (("X", 20), ("Y", 20), ("Z", 0.5), ("E", 2), ("F", 9000)):
                if rng.random() < 0.6:
                    value = abs(rng.normal(0, scale)) + 1 if letter == "F" else rng.normal(0, scale)
                    words.append(f"{letter}{value:.3f}".replace("0.", ".", int(rng.random() < 0.3)))
            if rng.random() < 0.15:
                words.append(rng.choice([";TYPE:Perimeter", "; note", ";LAYER_CHANGE", "; layer : 4"]))
            lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bulk_moves_read_as_the_line_interpreter_reads_them(monkeypatch, seed):
    texts = [_mixed_text(seed), synthetic_gcode(400, seed=seed)]
    for text in texts:
        bulk = [gcode._run(gcode.iter_parse_gcode(text, block_lines=n)) for n in (None, 7, 64)]
        monkeypatch.setattr(gcode, "_FEW", 10**9)  # every run of plain moves line by line
        lines = parse_gcode(text)
        monkeypatch.undo()
        assert lines.n_segments > 30
        for p in bulk:
            for name in TOOLPATH_FIELDS:
                a, b = getattr(p, name), getattr(lines, name)
                assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name  # bit for bit
            assert (p.settings, p.flavour) == (lines.settings, lines.flavour)


def test_relative_runs_keep_every_bit_of_the_position(monkeypatch):
    text = "G92 X-0 Y0\nG91\n" + "G1 Y1 E.1\n" * 8  # x stays -0.0: the runs add nothing to it
    bulk = parse_gcode(text)
    monkeypatch.setattr(gcode, "_FEW", 10**9)
    lines = parse_gcode(text)
    assert np.signbit(lines.xyz[:, 0]).all() and bulk.xyz.tobytes() == lines.xyz.tobytes()


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("G1 X1 Y2 F0", "feed rate F0"),
        ("G1 X1 F-5", "feed rate F-5"),
        ("G1 X123456789", "absurd number"),
        ("G1 X99999 Y1", None),  # fine in absolute mode ...
        ("G1 X1 ;" + "x" * 5000, "longer than"),
    ],
)
def test_errors_inside_runs_of_plain_moves_name_their_line(monkeypatch, bad, problem):
    good = [f"G1 X{i} Y{i % 3} E{i * 0.1:.1f}" for i in range(1, 20)]
    text = "\n".join([*good[:9], bad, *good[9:]]) + "\n"
    if problem is None:
        assert parse_gcode(text).xyz[10, 0] == 99999.0
        relative = "G91\n" + "\n".join(["G1 X1"] * 6 + ["G1 X60000"] * 2 + ["G1 X1"] * 6) + "\n"
        with pytest.raises(GCodeError, match=r"^rel.gcode:9: X 120006 mm is outside any machine$"):
            parse_gcode(relative, source="rel.gcode")  # ... and the running sum of relative moves is checked
        return
    with pytest.raises(GCodeError) as bulk:
        parse_gcode(text, source="part.gcode")
    monkeypatch.setattr(gcode, "_FEW", 10**9)
    with pytest.raises(GCodeError) as lines:
        parse_gcode(text, source="part.gcode")
    assert str(bulk.value) == str(lines.value) and str(bulk.value).startswith("part.gcode:10: ")
    assert problem in str(bulk.value)
