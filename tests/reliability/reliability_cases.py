"""Helpers shared by the reliability tests and ``tools/reliability_report.py``.

- :func:`corpus` builds the bad-file corpus (``tools/make_bad_corpus.py``);
- :func:`run_cli_case` feeds one case to the ``fieldcast`` command in a subprocess and judges the outcome;
- :class:`KillServer` forks writer processes (checkpoints, metrics, datasets) and SIGKILLs them at chosen
  moments, so a test can check what a killed writer leaves behind.

This file is also the kill server itself: ``python reliability_cases.py serve KIND FOLDER``.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from make_bad_corpus import MARKER_NAME, Case, build_corpus  # noqa: E402

__all__ = [
    "MARKER_NAME",
    "ROOT",
    "Case",
    "CliResult",
    "KillServer",
    "build_corpus",
    "check_checkpoint_folder",
    "check_dataset",
    "check_metrics",
    "judge_cli",
    "run_cli_case",
    "run_cli_cases",
]

FIELDCAST = [sys.executable, "-m", "fieldcast.app.cli"]


@dataclass
class CliResult:
    """What one corpus case did on the command line; ``problem`` is empty when the outcome is right.

    ``max_rss_mb`` is the peak resident memory of the command's process tree (0 when not measured);
    ``verdict`` classifies the outcome for the reliability report: ``clean``, ``traceback``,
    ``accepted_bad`` (a bad input not refused), ``over_budget`` (killed or refused by the memory cap),
    ``hang`` (no answer in time) or ``wrong`` (any other wrong answer).
    """

    case: Case
    code: int
    stdout: str
    stderr: str
    seconds: float
    problem: str = ""
    max_rss_mb: float = 0.0
    verdict: str = "clean"

    @property
    def message(self) -> str:
        """The line a user reads: the stderr line, or the problem line of a description."""
        if self.stderr.strip():
            return self.stderr.strip().splitlines()[-1]
        hits = [ln.strip() for ln in self.stdout.splitlines() if self.case.keyword.lower() in ln.lower()]
        return hits[0] if hits and self.case.keyword else ""


# Progress lines a command may write on stderr besides its one-line answer (pipes get them every few s).
_PROGRESS = re.compile(r"\[[#.]+\] \d+/\d+ ETA |^\S+ \d+ \(\d+:\d\d(:\d\d)?\)")
MAX_LINE_CHARS = 2000


# Status lines ``fieldcast train`` writes before its data is read (a stage starting, the split in use).
_TRAIN_STATUS = re.compile(r"^stage \d+/\d+ \S+: start\b|^\w+: .*; split .*")


def _answer_lines(stderr: str, command: str = "") -> list[str]:
    """stderr without progress-bar lines (and, for ``train``, its stage and data status lines)."""
    out = []
    for ln in stderr.splitlines():
        text = ln.strip()
        if not text or _PROGRESS.search(text):
            continue
        if command == "train" and _TRAIN_STATUS.search(text):
            continue
        out.append(text)
    return out


def judge_cli(case: Case, code: int, stdout: str, stderr: str) -> str:
    """Why the outcome is wrong for ``case`` ('' when right)."""
    if "Traceback" in stderr or "Traceback" in stdout:
        return "traceback"
    longest = max((len(ln) for ln in (stdout + "\n" + stderr).splitlines()), default=0)
    if longest > MAX_LINE_CHARS:
        return f"an output line of {longest} characters"
    if case.expect == "accepted":
        lines = _answer_lines(stderr)
        if code != 0:
            return f"exit code {code}, expected 0 (a valid input was refused: {lines[-1] if lines else ''})"
        return ""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if case.expect == "rejected":
        lines = _answer_lines(stderr, case.argv[0])
    name = Path(case.path).name
    rejected_ok = code == 2 and len(lines) == 1 and name in lines[0]
    must_not_exist = case.extra.get("must_not_exist") if case.extra else None
    if must_not_exist and Path(must_not_exist).exists():
        return f"{Path(must_not_exist).name} was written"
    if case.expect == "rejected":
        if code != 2:
            return f"exit code {code}, expected 2"
        if len(lines) != 1:
            return f"{len(lines)} stderr lines, expected 1"
        if name not in lines[0]:
            return f"stderr does not name {name}"
        if case.keyword and case.keyword.lower() not in lines[0].lower():
            return f"stderr does not say {case.keyword!r}"
        return ""
    if case.expect == "reported":
        if code != 0 or lines:
            return f"exit code {code} with {len(lines)} stderr lines, expected a description"
        if name not in stdout or case.keyword.lower() not in stdout.lower():
            return f"the description does not name {name} and {case.keyword!r}"
        return ""
    if case.expect == "survived":
        if rejected_ok or (code == 0 and not lines and name in stdout):
            return ""
        return f"exit code {code} with {len(lines)} stderr lines"
    return f"unknown expectation {case.expect!r}"


def _limit_memory(max_bytes: int | None):
    """A ``preexec_fn`` capping the child's address space (the cap is inherited by its own children)."""
    if not max_bytes:
        return None

    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))

    return apply


def _read_all(stream, sink: list[bytes]) -> None:
    for chunk in iter(lambda: stream.read(65536), b""):
        sink.append(chunk)
    stream.close()


def run_cli_case(case: Case, scratch: Path, timeout: float = 60.0, max_bytes: int | None = None) -> CliResult:
    """Run ``fieldcast <case.argv>`` in a subprocess (working folder ``scratch``) and judge it.

    ``max_bytes`` caps the process's address space (``RLIMIT_AS``); the peak resident memory and the wall
    time of the run are recorded. A run still going after ``timeout`` seconds is killed and judged a hang.
    """
    import threading

    out = scratch / case.id.replace("@", "_")
    out.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{out}", str(out)) for a in case.argv]
    env = {**os.environ, "FIELDCAST_HOME": str(out / "home"), "PYTHONWARNINGS": "ignore"}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*FIELDCAST, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=out,
        env=env,
        preexec_fn=_limit_memory(max_bytes),
        start_new_session=True,
    )
    sinks: tuple[list[bytes], list[bytes]] = ([], [])
    readers = [
        threading.Thread(target=_read_all, args=(stream, sink), daemon=True)
        for stream, sink in zip((proc.stdout, proc.stderr), sinks, strict=True)
    ]
    for r in readers:
        r.start()
    status, rusage, hung = None, None, False
    while status is None:
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, rusage = st, ru
            break
        if time.monotonic() - t0 > timeout:
            hung = True
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t0
    for r in readers:
        r.join(10)
    stdout = b"".join(sinks[0]).decode("utf-8", errors="replace")
    stderr = b"".join(sinks[1]).decode("utf-8", errors="replace")
    rss_mb = rusage.ru_maxrss / 1024.0 if rusage is not None else 0.0
    if hung:
        return CliResult(
            case, -1, stdout, stderr, seconds, f"no answer within {timeout:g} s (hang)", rss_mb, "hang"
        )
    problem = judge_cli(case, proc.returncode, stdout, stderr)
    return CliResult(
        case,
        proc.returncode,
        stdout,
        stderr,
        seconds,
        problem,
        rss_mb,
        classify(case, proc.returncode, stderr, problem),
    )


def classify(case: Case, code: int, stderr: str, problem: str) -> str:
    """The report's verdict for a judged run (see :class:`CliResult`)."""
    if not problem:
        return "clean"
    if problem == "traceback":
        over = "MemoryError" in stderr or "Unable to allocate" in stderr or "std::bad_alloc" in stderr
        return "over_budget" if over else "traceback"
    if code < 0 or "needs more memory than this machine" in stderr or "bad_alloc" in stderr:
        return "over_budget"  # killed by a signal, or it ran into the memory cap
    if case.expect in ("rejected", "reported") and code in (0, 1) and not _answer_lines(stderr):
        return "accepted_bad"
    return "wrong"


def run_cli_cases(
    cases: Iterable[Case],
    scratch: Path,
    workers: int = 2,
    timeout: float = 60.0,
    max_bytes: int | None = None,
) -> list[CliResult]:
    """Every case through :func:`run_cli_case`, ``workers`` at a time, in the order given."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda c: run_cli_case(c, scratch, timeout, max_bytes), cases))


# ------------------------------------------------------------------------------------------------ checks


def check_checkpoint_folder(folder: Path, previous_step: int) -> int:
    """Load the last complete checkpoint of ``folder`` as a resume would; returns its step.

    Raises AssertionError when nothing complete loads, when the weights do not belong to the sidecar's step,
    or when the step went back before ``previous_step`` (a complete checkpoint was lost).
    """
    from fieldcast.training.checkpoint import last_complete, load_checkpoint, load_train_state

    weights = last_complete(folder, "last")
    assert weights is not None, f"{folder}: no complete checkpoint"
    state, sidecar = load_checkpoint(weights)
    step = int(sidecar["step"])
    train = load_train_state(weights.with_suffix(".pt"), expected_step=step)
    assert all(float(v.flatten()[0]) == float(step) for v in state.values()), f"{weights}: weights torn"
    assert float(train["optimizer"]["marker"].flatten()[0]) == float(step), f"{weights}: state torn"
    assert step >= previous_step, f"{folder}: went back from step {previous_step} to {step}"
    return step


def check_metrics(path: Path, previous: int) -> int:
    """``metrics.jsonl`` reads (a torn last line skipped) with contiguous steps; returns the record count."""
    from fieldcast.training.tracking import read_metrics

    if not path.exists():  # killed before its first record
        assert previous == 0, f"{path}: vanished"
        return 0
    steps = [r["step"] for r in read_metrics(path)]
    assert steps == list(range(len(steps))), f"{path}: records out of order"
    assert len(steps) >= previous, f"{path}: lost records ({previous} -> {len(steps)})"
    return len(steps)


def check_dataset(path: Path) -> int:
    """The dataset a killed generation left opens and holds only complete, finite trajectories (count).

    The one problem validation may report is the interruption itself.
    """
    import numpy as np

    from fieldcast.engine.data import open_dataset, validate_dataset

    with open_dataset(path) as ds:
        problems = validate_dataset(ds)
        assert all("interrupted" in p for p in problems), problems
        n = ds.n_trajectories
        for i in range(n):
            window = ds.read_window(i, 0, ds.n_frames)
            assert np.isfinite(window).all(), f"{path}: trajectory {i} is not complete"
            assert np.abs(window).sum() > 0, f"{path}: trajectory {i} is empty"
    return n


# ------------------------------------------------------------------------------------------------ kill server


class KillServer:
    """A helper process that forks writers of ``kind`` into ``folder`` and SIGKILLs them on request.

    Forking from one process that has already imported torch makes each round cost milliseconds instead
    of an interpreter start. Use as a context manager; :meth:`kill_after` returns once the writer is dead.
    """

    def __init__(self, kind: str, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", kind, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert self._read() == "ready"

    def _read(self) -> str:
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"kill server ended (exit code {self.proc.wait(10)})")
        return line

    def kill_after(self, seconds: float, start: int = 0) -> str:
        """Start a writer from step ``start``, SIGKILL it after ``seconds``; returns the server's note."""
        self.proc.stdin.write(f"{seconds:.4f} {start}\n")
        self.proc.stdin.flush()
        return self._read()

    def __enter__(self) -> KillServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)
        self.proc.stdout.close()


def _checkpoint_writer(folder: Path, start: int) -> None:
    import torch

    from fieldcast.training.checkpoint import save_checkpoint
    from fieldcast.training.models import build_model

    torch.set_num_threads(1)
    model = build_model("unet", {"in_channels": 2, "out_channels": 1, "depth": 1, "base_width": 4})
    step = start
    while True:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(step))
        state = {"optimizer": {"marker": torch.full((256,), float(step))}, "loop": {"step": step}}
        save_checkpoint(folder, "last", model, {"step": step, "epoch": 0}, state)
        step += 1


def _metrics_writer(folder: Path, start: int) -> None:
    from fieldcast.training.tracking import MetricsWriter, read_metrics

    path = folder / "metrics.jsonl"
    n = sum(1 for _ in read_metrics(path)) if path.exists() else 0
    writer = MetricsWriter(path)  # appends after whatever the killed writer left, as a resumed run does
    pad = "x" * random.choice((0, 100, 20_000, 70_000))  # long lines take several write() calls
    while True:
        writer.write({"kind": "step", "step": n, "loss": 1.0 / (n + 1), "pad": pad})
        n += 1


def _dataset_writer(folder: Path, start: int) -> None:
    from fieldcast.engine.generation import generate_dataset

    for _ in generate_dataset("smoke", folder / "gen.h5", trajectories=40, frames=6, size=16, seed=start):
        pass
    time.sleep(3600)  # finished before the kill: wait for it like a writer still busy


_WRITERS = {"checkpoint": _checkpoint_writer, "metrics": _metrics_writer, "dataset": _dataset_writer}


def _serve(kind: str, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "checkpoint":
        # Imported once here, so every forked writer starts at once instead of importing torch.
        import fieldcast.training.checkpoint
    elif kind == "metrics":
        import fieldcast.training.tracking
    elif kind == "dataset":
        import fieldcast.engine.generation  # noqa: F401
    print("ready", flush=True)
    for line in sys.stdin:
        seconds, start = float(line.split()[0]), int(line.split()[1])
        pid = os.fork()
        if pid == 0:
            try:
                _WRITERS[kind](folder, start)
            finally:
                os._exit(0)
        if kind == "dataset":
            # The clock starts when the file appears: a generation's start-up time swings with the load
            # of the machine (on a busy one it outlasted every kill time and nothing was ever written).
            end = time.monotonic() + 60.0
            while not (folder / "gen.h5").exists() and time.monotonic() < end:
                time.sleep(0.005)
        time.sleep(seconds)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps({"killed": killed, "status": status}), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2], Path(sys.argv[3])))
    print("usage: python reliability_cases.py serve KIND FOLDER", file=sys.stderr)
    sys.exit(2)
