"""Run every bad input and fault of the reliability suite and write ``docs/RELIABILITY.md``.

Usage::

    python tools/reliability_report.py [--out docs/RELIABILITY.md]

It builds the bad-file corpus, feeds each case to its ``fieldcast`` command, kills checkpoint, metrics and
dataset writers at random moments, checks the source rules, and runs the GUI-drop and training-fault tests
(pytest, under Xvfb through pytest-xvfb). The helpers are the ones the tests in ``tests/reliability`` use.
The summary line says "nothing lost, nothing crashed" only when every row passed.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from reliability_cases import (  # noqa: E402
    MARKER_NAME,
    KillServer,
    build_corpus,
    check_checkpoint_folder,
    check_dataset,
    check_metrics,
    run_cli_cases,
)
from source_rules import ALLOWED_SESSION_MODULES, RULES, package_sources, session_modules  # noqa: E402

Row = tuple[str, str, int, str, bool]  # (what, consumer, times, result, passed)

PYTEST_GROUPS = {
    "GUI: bad files dropped on the main window": ["tests/reliability/test_bad_corpus_gui.py"],
    "training faults": [
        "tests/reliability/test_training_faults.py",
        "tests/training/test_trainer.py::test_nan_stops_the_run_and_keeps_the_last_good_checkpoint",
        "tests/training/test_trainer.py::test_resume_equals_an_uninterrupted_run_bit_for_bit",
    ],
}


def corpus_rows(scratch: Path) -> list[Row]:
    folder = scratch / "corpus"
    cases = build_corpus(folder)
    rows = []
    for r in run_cli_cases(cases, scratch / "cli"):
        if r.problem:
            result = f"WRONG: {r.problem}"
        else:
            result = f"exit {r.code}: `{_short(r.message)}`"
        what = f"`{r.case.id}`" + (f" ({r.case.note})" if r.case.note else "")
        rows.append((what, f"`{' '.join(r.case.argv[:1])}`", 1, result, not r.problem))
    executed = (folder / MARKER_NAME).exists()
    rows.append(
        (
            "hostile payloads (pickles in .pt, .npz, YAML tags)",
            "all of the above",
            len(cases),
            "payload EXECUTED" if executed else "never executed (no marker file)",
            not executed,
        )
    )
    return rows


def _short(text: str, n: int = 120) -> str:
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= n else text[: n - 1] + "…"


def kill_rows(scratch: Path, checkpoint_kills: int = 60) -> list[Row]:
    rows = []
    rng = random.Random(11)
    folder, step, fallbacks, failures = scratch / "ckpt", 0, 0, []
    with KillServer("checkpoint", folder) as server:
        for _ in range(checkpoint_kills):
            server.kill_after(rng.uniform(0.02, 0.25), start=step + 1)
            if not (folder / "last.json").exists() and not (folder / "last.prev.json").exists():
                continue
            try:
                new = check_checkpoint_folder(folder, step)
            except (AssertionError, ValueError) as exc:
                failures.append(str(exc))
                continue
            from fieldcast.training.checkpoint import last_complete

            fallbacks += last_complete(folder, "last").name.startswith("last.prev")
            step = new
    result = (
        f"last complete checkpoint loaded every time (reached step {step}; "
        f"{fallbacks} kills landed mid-write and the previous checkpoint was used)"
    )
    rows.append(
        (
            "SIGKILL while `save_checkpoint` writes in a loop (random delay 20–250 ms)",
            "`load_checkpoint` + `load_train_state`",
            checkpoint_kills,
            f"FAILED: {failures[0]}" if failures else result,
            not failures,
        )
    )
    rng, count, failures = random.Random(5), 0, []
    with KillServer("metrics", scratch / "metrics") as server:
        for _ in range(12):
            server.kill_after(rng.uniform(0.01, 0.08))
            try:
                count = check_metrics(scratch / "metrics" / "metrics.jsonl", count)
            except (AssertionError, ValueError) as exc:
                failures.append(str(exc))
    rows.append(
        (
            "SIGKILL while `metrics.jsonl` is appended (torn last line)",
            "`read_metrics`",
            12,
            f"FAILED: {failures[0]}" if failures else f"every complete record read ({count} at the end)",
            not failures,
        )
    )
    rng, seen, failures = random.Random(3), [], []
    gen = scratch / "gen" / "gen.h5"
    with KillServer("dataset", gen.parent) as server:
        for seed in range(5):
            server.kill_after(rng.uniform(0.6, 1.6), start=seed)
            if gen.exists():
                try:
                    seen.append(check_dataset(gen))
                except (AssertionError, ValueError) as exc:
                    failures.append(str(exc))
                gen.unlink()
    rows.append(
        (
            "SIGKILL during `generate_dataset` (smoke, 40 trajectories)",
            "`open_dataset` + `validate_dataset`",
            5,
            f"FAILED: {failures[0]}"
            if failures
            else f"readable, only complete trajectories (kept {', '.join(map(str, seen))})",
            not failures and bool(seen),
        )
    )
    return rows


def rule_rows() -> list[Row]:
    sources = list(package_sources())
    rows = []
    for name, check in RULES.items():
        broken = [f"{rel} {p}" for rel, src in sources for p in check(src)]
        result = f"FAILED: {broken[0]}" if broken else f"holds in all {len(sources)} modules"
        rows.append((f"rule: {name}", "ast scan of `fieldcast/`", 1, result, not broken))
    found = session_modules()
    rows.append(
        (
            "rule: modules creating `InferenceSession`",
            "ast scan of `fieldcast/`",
            1,
            ", ".join(sorted(found)),
            found == ALLOWED_SESSION_MODULES,
        )
    )
    return rows


def pytest_rows() -> list[Row]:
    rows = []
    for label, targets in PYTEST_GROUPS.items():
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets]
            cmd += ["-o", "junit_family=xunit2", f"--junitxml={report}"]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            for name, outcome in _junit_outcomes(report):
                rows.append((f"{label}: `{name}`", "pytest", 1, outcome, outcome == "passed"))
            if proc.returncode not in (0, 1):
                rows.append((label, "pytest", 1, f"pytest exit code {proc.returncode}", False))
    return rows


def _junit_outcomes(path: Path) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    if not path.exists():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        out.append((case.get("name", "?"), "failed" if failed else "skipped" if skipped else "passed"))
    return out


def render(rows: list[Row], seconds: float) -> str:
    ok = all(r[4] for r in rows)
    total = sum(r[2] for r in rows)
    summary = (
        "nothing lost, nothing crashed"
        if ok
        else f"{sum(not r[4] for r in rows)} of {len(rows)} checks FAILED: see the rows marked ✗"
    )
    lines = [
        "# Reliability",
        "",
        "Generated by `python tools/reliability_report.py` (do not edit by hand). The same checks run in",
        "`make test` as `tests/reliability/`. Bad files come from `tools/make_bad_corpus.py`.",
        "",
        f"**Summary: {summary}.** {len(rows)} checks, {total} trials, {seconds:.0f} s.",
        "",
        "| | bad input or fault | consumer | times | result |",
        "|---|---|---|---|---|",
    ]
    for what, consumer, times, result, passed in rows:
        lines.append(f"| {'✓' if passed else '✗'} | {what} | {consumer} | {times} | {result} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fieldcast-reliability-") as tmp:
        scratch = Path(tmp)
        rows = corpus_rows(scratch) + kill_rows(scratch) + rule_rows() + pytest_rows()
    text = render(rows, time.monotonic() - t0)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(text.split("\n")[5])
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
