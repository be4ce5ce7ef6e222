"""Run every bad and hostile input and every fault of the reliability suite; write ``docs/RELIABILITY.md``.

Usage::

    nice -n 15 python tools/reliability_report.py [--out FILE] [--memory-mb 2048] [--timeout 60]

It builds the bad-file corpus (``tools/make_bad_corpus.py``) and the hostile corpus
(``tools/hostile_corpus.py``), feeds each case to its ``fieldcast`` command in a subprocess whose address
space is capped (``RLIMIT_AS``, default 2 GB) and whose wall time is capped (default 60 s), and records
each run's peak resident memory and wall time. Each run is judged ``clean``, ``traceback``, ``accepted_bad``
(a bad input not refused), ``over_budget`` (it ran into the memory cap), ``hang`` (killed at the time cap)
or ``wrong`` (another wrong answer). Then it kills checkpoint, metrics and dataset writers at random
moments, checks the source rules, and runs the GUI-drop and training-fault tests (pytest, under Xvfb
through pytest-xvfb); ``--skip-faults`` leaves those out. The last soak result (``benchmarks/soak.py``
writes ``docs/soak.json``) is shown too.

Prints ``RESULT runs=… clean=… traceback=… accepted_bad=… over_budget=… hangs=… max_rss_mb=…`` and exits
0 only when every run was clean and every check passed.
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
sys.path.insert(0, str(ROOT / "tools"))

from hostile_corpus import build_hostile_corpus  # noqa: E402
from reliability_cases import (  # noqa: E402
    MARKER_NAME,
    CliResult,
    KillServer,
    build_corpus,
    check_checkpoint_folder,
    check_dataset,
    check_metrics,
    run_cli_cases,
)
from source_rules import (  # noqa: E402
    ALLOWED_SESSION_MODULES,
    IN_PLACE_WRITERS,
    RULES,
    check_atomic_writes,
    package_sources,
    session_modules,
)

Row = tuple[str, str, int, str, bool]  # (what, consumer, times, result, passed)

PYTEST_GROUPS = {
    "GUI: bad files dropped on the main window": ["tests/reliability/test_bad_corpus_gui.py"],
    "GUI: hostile files dropped on the main window": ["tests/reliability/test_hostile_gui.py"],
    "GUI: a model that takes minutes to open": ["tests/app/play/test_model_opening_gui.py"],
    "run folders read with bounds": ["tests/reliability/test_run_folder_bounds.py"],
    "training faults": [
        "tests/reliability/test_training_faults.py",
        "tests/training/test_trainer.py::test_nan_stops_the_run_and_keeps_the_last_good_checkpoint",
        "tests/training/test_trainer.py::test_resume_equals_an_uninterrupted_run_bit_for_bit",
    ],
}


VERDICTS = ("clean", "traceback", "accepted_bad", "over_budget", "hang", "wrong")


def corpus_runs(
    scratch: Path, max_bytes: int, timeout: float, workers: int
) -> tuple[list[CliResult], list[Row]]:
    """Every case of both corpora through its command under the caps; the runs and the payload row."""
    bad = build_corpus(scratch / "corpus")
    hostile = build_hostile_corpus(scratch / "hostile")
    results = run_cli_cases(bad + hostile, scratch / "cli", workers, timeout, max_bytes)
    executed = (scratch / "corpus" / MARKER_NAME).exists()
    payload = (
        "hostile payloads (pickles in .pt, .npz, YAML tags)",
        "all of the above",
        len(bad),
        "payload EXECUTED" if executed else "never executed (no marker file)",
        not executed,
    )
    return results, [payload]


def summary_line(results: list[CliResult]) -> str:
    """``RESULT runs=… clean=… traceback=… accepted_bad=… over_budget=… hangs=… max_rss_mb=…``."""
    count = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    peak = max((r.max_rss_mb for r in results), default=0.0)
    line = (
        f"RESULT runs={len(results)} clean={count['clean']} traceback={count['traceback']} "
        f"accepted_bad={count['accepted_bad']} over_budget={count['over_budget']} hangs={count['hang']} "
        f"max_rss_mb={peak:.0f}"
    )
    return line + (f" wrong={count['wrong']}" if count["wrong"] else "")


def _answer(r: CliResult) -> str:
    if r.problem:
        return f"WRONG: {r.problem}"
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip() and "ETA" not in ln]
    if r.case.expect == "accepted":
        return f"exit {r.code}: read and written"
    if r.case.expect == "reported":
        return f"exit {r.code}: `{_short(r.message)}`"
    return f"exit {r.code}: `{_short(lines[-1] if lines else r.message)}`"


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
    scale = 1.0  # grows while the writer is killed before it created the file (a busy machine)
    with KillServer("dataset", gen.parent) as server:
        for seed in range(5):
            server.kill_after(scale * rng.uniform(0.6, 1.6), start=seed)
            if not gen.exists():
                scale = min(scale * 2, 16.0)
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
        # The modules allowed to write in place, each with its reason (as tests/reliability/test_rules.py).
        exempt = IN_PLACE_WRITERS if check is check_atomic_writes else {}
        broken = [f"{rel} {p}" for rel, src in sources if rel not in exempt for p in check(src)]
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


def render(
    results: list[CliResult], rows: list[Row], seconds: float, caps: tuple[int, float], soak: dict | None
) -> str:
    ok = all(r[4] for r in rows) and all(r.verdict == "clean" for r in results)
    result_line = summary_line(results)
    failed_runs = sum(r.verdict != "clean" for r in results)
    failed_rows = sum(not r[4] for r in rows)
    summary = (
        "nothing lost, nothing crashed, nothing over budget"
        if ok
        else f"{failed_runs} runs and {failed_rows} checks FAILED: see the rows marked ✗"
    )
    mem_mb, timeout = caps
    lines = [
        "# Reliability",
        "",
        "Generated by `nice -n 15 python tools/reliability_report.py` (do not edit by hand). The same",
        "checks run in `make test` as `tests/reliability/`. Bad files come from `tools/make_bad_corpus.py`,",
        "hostile ones (small files declaring huge sizes, data kept in other files, deep nesting, values no",
        "physics allows) from `tools/hostile_corpus.py`.",
        "",
        f"**Summary: {summary}.** {len(results)} command runs, {len(rows)} further checks, {seconds:.0f} s.",
        "",
        "```",
        result_line,
        "```",
        "",
        f"Every run is a `fieldcast` subprocess with its address space capped at {mem_mb} MB",
        f"(`RLIMIT_AS`) and its wall time at {timeout:g} s; *max RSS* is its peak resident memory, *wall*",
        "its duration on a shared two-core machine (most of it is the interpreter and torch starting).",
        "Verdicts: `clean` (the",
        "expected answer: one line naming the file and the problem, exit 2; or a description naming the",
        "problem; or a valid file read), `traceback`, `accepted_bad`, `over_budget` (it ran into the memory",
        "cap), `hang` (killed at the time cap), `wrong`.",
        "",
        "## Every input through every command that reads it",
        "",
        "| | case | command | verdict | wall s | max RSS MB | answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        what = f"`{r.case.id}`" + (f" ({_short(r.case.note, 90)})" if r.case.note else "")
        mark = "✓" if r.verdict == "clean" else "✗"
        lines.append(
            f"| {mark} | {what} | `{r.case.argv[0]}` | {r.verdict} | {r.seconds:.1f} | {r.max_rss_mb:.0f} "
            f"| {_answer(r)} |"
        )
    if rows:
        lines += [
            "",
            "## Payloads, killed writers, source rules, window and training faults",
            "",
            "| | bad input or fault | consumer | times | result |",
            "|---|---|---|---|---|",
        ]
        for what, consumer, times, result, passed in rows:
            lines.append(f"| {'✓' if passed else '✗'} | {what} | {consumer} | {times} | {result} |")
    lines += [
        "",
        "Readers check every size a file declares against a memory budget before allocating: a quarter of",
        "the memory the process may use (the machine's, or less under an address-space limit; 320 MiB under",
        "the 2 GB cap above), one frame at most an eighth of it; `FIELDCAST_MEMORY_BUDGET_MB` sets it.",
    ]
    lines += ["", "## Soak: training and a Play rollout together", ""]
    if soak:
        passed = bool(soak.get("targets_met"))
        load = soak.get("load_avg_mean")
        machine = f" (machine load average {load:.1f} at nice {soak.get('nice', '?')})" if load else ""
        lines += [
            f"`{soak.get('command', 'python benchmarks/soak.py')}` on {soak.get('date', '?')}{machine}: "
            f"{soak.get('minutes', 0):.1f} minutes, RSS growth after warm-up "
            f"**{soak.get('rss_growth_mb', float('nan')):.1f} MB** (target < 100), event-loop lateness p99 "
            f"**{soak.get('loop_p99_ms', float('nan')):.1f} ms** (target < 50), max "
            f"{soak.get('loop_max_ms', float('nan')):.1f} ms; file descriptors "
            f"{soak.get('fd_growth', float('nan')):+.0f} and threads "
            f"{soak.get('thread_growth', float('nan')):+.0f} "
            f"between idle restarts of training (target at most +2 each), "
            f"{soak.get('errors', float('nan')):.0f} error(s) (target 0); "
            f"{soak.get('training_runs', 0):.0f} training run(s). "
            f"{'Every target met.' if passed else 'A target was MISSED.'}",
            "",
            f"`{soak.get('result', '')}`",
        ]
        worst = soak.get("loop_p99_worst_interval_ms")
        if worst is not None and "worst" not in soak.get("conditions", ""):
            lines += ["", f"Worst 5-second interval after warm-up: p99 {worst:.1f} ms."]
        if soak.get("autogroup"):
            lines += ["", f"Scheduler group of the soak: `{soak['autogroup']}`."]
        if soak.get("other_processes"):
            lines += ["", "Other processes over the soak (share of one CPU):", ""]
            lines += [f"- `{row}`" for row in soak["other_processes"][:12]]
        if soak.get("conditions"):
            lines += ["", str(soak["conditions"])]
    else:
        lines.append(
            "No soak result yet: run `python benchmarks/soak.py --minutes 30` (it writes `docs/soak.json`)."
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    parser.add_argument("--json", type=Path, help="also write every run and check as JSON here")
    parser.add_argument(
        "--memory-mb", type=int, default=2048, help="address-space cap per run (default 2048)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="wall-time cap per run in s (default 60)")
    parser.add_argument("--workers", type=int, default=1, help="runs at once (default 1: fair wall times)")
    parser.add_argument(
        "--skip-faults", action="store_true", help="only the command runs (no kills, rules or pytest)"
    )
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fieldcast-reliability-") as tmp:
        scratch = Path(tmp)
        results, rows = corpus_runs(scratch, args.memory_mb << 20, args.timeout, args.workers)
        if not args.skip_faults:
            rows += kill_rows(scratch) + rule_rows() + pytest_rows()
    soak_file = ROOT / "docs" / "soak.json"
    soak = json.loads(soak_file.read_text()) if soak_file.exists() else None
    text = render(results, rows, time.monotonic() - t0, (args.memory_mb, args.timeout), soak)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        runs = [
            {
                "id": r.case.id,
                "argv": r.case.argv,
                "verdict": r.verdict,
                "exit": r.code,
                "seconds": round(r.seconds, 2),
                "max_rss_mb": round(r.max_rss_mb, 1),
                "problem": r.problem,
            }
            for r in results
        ]
        args.json.write_text(json.dumps({"runs": runs, "checks": rows}, indent=1))
    for r in results:
        if r.verdict != "clean":
            print(f"{r.verdict}: {r.case.id}: {r.problem}", file=sys.stderr)
    print(summary_line(results))
    ok = all(r[4] for r in rows) and all(r.verdict == "clean" for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
