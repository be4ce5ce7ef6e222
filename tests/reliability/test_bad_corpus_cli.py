"""Every file of the bad corpus fed to the command that consumes it, each in its own process.

A case passes when the command answers as the corpus says (``tools/make_bad_corpus.py``): exit code 2 and
one stderr line naming the file and the problem, or a description naming the problem; never a traceback,
never a hang, and never the marker file a hostile payload would write if it ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_cases import MARKER_NAME, Case, build_corpus, run_cli_cases

# The list of bad inputs: each family must be in the corpus.
REQUIRED = {
    "h5-truncated",
    "h5-bitflip",
    "h5-text-file",
    "well-missing",
    "well-wrong-rank",
    "well-nan",
    "well-inf",
    "well-zero-length",
    "well-enormous",
    "npz-object",
    "pt-pickle-payload",
    "st-offsets-beyond-file",
    "st-absurd-header-length",
    "onnx-foreign",
    "onnx-truncated",
    "onnx-external-parent",
    "onnx-external-symlink",
    "onnx-wrong-inputs",
    "gcode-garbage",
    "gcode-huge-numbers",
    "recipe-wrong-type",
    "recipe-unknown-key",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Case]]:
    folder = tmp_path_factory.mktemp("cli-corpus")
    return folder, build_corpus(folder)


def test_the_corpus_covers_every_kind_of_bad_input(corpus):
    _, cases = corpus
    missing = {prefix for prefix in REQUIRED if not any(c.id.startswith(prefix) for c in cases)}
    assert not missing
    assert all(Path(c.path).exists() for c in cases)


def test_every_bad_file_gets_one_clear_line_and_nothing_runs(corpus, tmp_path):
    folder, cases = corpus
    results = run_cli_cases(cases, tmp_path)
    wrong = [f"{r.case.id}: {r.problem}\n    stderr: {r.stderr.strip()[-600:]}" for r in results if r.problem]
    assert not wrong, "\n".join(wrong)
    for r in results:
        if r.case.expect == "rejected":
            line = r.stderr.strip()
            assert line.count(Path(r.case.path).name) >= 1 and "\n" not in line
    assert not (folder / MARKER_NAME).exists(), "a payload from a corpus file was executed"
    # Nothing was half-written where a command was asked to write.
    leftovers = [p for p in tmp_path.rglob("*.h5")]
    assert not leftovers, leftovers
