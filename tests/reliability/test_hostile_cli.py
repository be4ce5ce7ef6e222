"""A sample of the hostile corpus through the real command under the report's caps: 2 GB, 60 s.

The whole corpus (``tools/hostile_corpus.py``, every case through every command) runs in
``tools/reliability_report.py``; this keeps the cheap G-code and recipe classes in the test suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reliability_cases import ROOT, run_cli_cases

sys.path.insert(0, str(ROOT / "tools"))

from hostile_corpus import _gcode_cases, _recipe_cases

PICK = {"gcode-feed-1e-4", "gcode-M117-and-friends", "gcode-arcs-50m-radius", "recipe-alias-bomb"}


def test_hostile_gcode_and_recipes_are_refused_in_one_line_within_the_caps(tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    cases = [
        c
        for c in _gcode_cases(folder, large=False) + _recipe_cases(folder, folder / "absent.h5")
        if c.id in PICK
    ]
    assert {c.id for c in cases} == PICK
    results = run_cli_cases(cases, tmp_path / "runs", workers=2, timeout=60.0, max_bytes=2 << 30)
    wrong = [
        f"{r.case.id}: {r.verdict} {r.problem} | {r.stderr.strip()[-300:]}"
        for r in results
        if r.verdict != "clean"
    ]
    assert not wrong, "\n".join(wrong)
    for r in results:
        assert 0 < r.max_rss_mb < 2048 and r.seconds < 60
    accepted = next(r for r in results if r.case.expect == "accepted")
    assert Path(accepted.case.argv[3].replace("{out}", str(tmp_path / "runs" / accepted.case.id))).exists()
