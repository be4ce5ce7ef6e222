"""Long G-code files: reading and importing report progress in moves, and a cancel stops them cleanly.

A 5,000-move synthetic print (layers of perimeters, infill, arcs and retractions) stands in for a long
slicer file; the reader reads it in blocks, so its progress advances many times before it ends.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from fieldcast.app.commands import import_data
from fieldcast.engine.data import ImportReport, import_file, open_dataset
from fieldcast.engine.data.importers.gcode import import_gcode
from fieldcast.engine.jobs import Cancelled, CancelToken, Progress
from fieldcast.engine.systems.trajectory.gcode import iter_read_gcode, read_gcode
from fieldcast.engine.systems.trajectory.synthetic_gcode import synthetic_gcode, write_synthetic_gcode

MOVES = 5_000


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    return write_synthetic_gcode(tmp_path_factory.mktemp("gcode") / "long.gcode", MOVES, seed=1)


def _stage(events, stage: str) -> list[Progress]:
    return [e for e in events if isinstance(e, Progress) and e.stage == stage]


def test_synthetic_print_is_deterministic_and_slicer_like():
    text = synthetic_gcode(MOVES, seed=1)
    assert text == synthetic_gcode(MOVES, seed=1) and text != synthetic_gcode(MOVES, seed=2)
    for feature in (";LAYER_CHANGE", "G2 ", "G3 ", "G1 E-.8", "G0 ", "M204 P", " E.", " F"):
        assert feature in text, feature


def test_reading_a_long_file_advances_in_moves(long_file):
    job = iter_read_gcode(long_file)
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as stop:
            toolpath = stop.value
            break
    done = [e.done for e in events]
    assert all(e.stage == "parse" for e in events) and len(events) >= 5
    assert done == sorted(set(done)) and done[0] > 0  # strictly increasing
    assert {e.total for e in events} == {done[-1]} and done[-1] >= MOVES
    assert toolpath.n_segments >= MOVES
    expected = read_gcode(long_file)
    assert toolpath.xyz.tobytes() == expected.xyz.tobytes()


def test_import_reports_parse_simulate_and_write_progress(long_file, tmp_path):
    out = tmp_path / "long.h5"
    events = list(import_gcode(long_file, out))
    assert isinstance(events[-1], ImportReport) and events[-1].system == "trajectory"
    stages = [e.stage for e in events if isinstance(e, Progress)]
    assert stages == sorted(stages, key=["parse", "simulate", "write"].index)  # in this order
    parse = _stage(events, "parse")
    assert len(parse) >= 5 and [e.done for e in parse] == sorted({e.done for e in parse})
    simulate = _stage(events, "simulate")
    segments = read_gcode(long_file).n_segments
    assert (simulate[0].done, simulate[0].total) == (0, segments)
    assert (simulate[-1].done, simulate[-1].total) == (segments, segments)
    assert f"{segments:,} moves" in simulate[0].message
    # The simulation advances stretch by stretch, in moves whose execution has begun.
    done = [e.done for e in simulate]
    assert done == sorted(done) and len(set(done)) >= 4 and {e.total for e in simulate} == {segments}
    write = _stage(events, "write")
    with open_dataset(out) as ds:
        assert write[-1].done == write[-1].total == ds.n_frames
        # The same data as the generic import path writes.
        list(import_file(long_file, tmp_path / "generic.h5"))
        with open_dataset(tmp_path / "generic.h5") as generic:
            np.testing.assert_array_equal(
                ds.read_window(0, 0, ds.n_frames), generic.read_window(0, 0, ds.n_frames)
            )


@pytest.mark.parametrize(("stage", "nth"), [("parse", 2), ("simulate", 0), ("simulate", 2), ("write", 0)])
def test_cancel_stops_the_import_and_leaves_no_file(long_file, tmp_path, stage, nth):
    out = tmp_path / "out" / "long.h5"
    out.parent.mkdir()
    token = CancelToken()
    job = import_gcode(long_file, out, token=token)
    seen = 0
    with pytest.raises(Cancelled):
        for event in job:
            if isinstance(event, Progress) and event.stage == stage:
                if seen == nth:
                    token.cancel()
                seen += 1
            assert not isinstance(event, ImportReport)
    assert list(out.parent.iterdir()) == []  # neither the file nor a temporary part of it
    if stage == "simulate":  # the cancel lands at the next stretch, not at the end of the simulation
        assert seen == nth + 1


def test_generic_import_of_gcode_reports_moves(long_file, tmp_path):
    """The Data panel's import (``import_file``) hands G-code to the G-code job and its move counts."""
    events = list(import_file(long_file, tmp_path / "panel.h5"))
    simulate = _stage(events, "simulate")
    assert len(_stage(events, "parse")) >= 5 and len(simulate) >= 4
    assert simulate[-1].done == simulate[-1].total == read_gcode(long_file).n_segments
    assert isinstance(events[-1], ImportReport) and events[-1].system == "trajectory"


def test_cli_import_of_gcode_draws_its_moves(long_file, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    import_data.add_arguments(parser)
    out = tmp_path / "cli.h5"
    assert import_data.run(parser.parse_args([str(long_file), "--out", str(out)])) == 0
    err = capsys.readouterr().err
    total = read_gcode(long_file).n_segments
    assert "parse [" in err and "moves read" in err and f"simulating {total:,} moves" in err
    assert "samples written" in err and out.exists()
