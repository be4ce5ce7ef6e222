"""Soak: training and a Play rollout together in the real window for M minutes; memory and loop latency.

The main window is built as the app builds it, with the Train panel training a tiny smoke recipe on a small
generated dataset (restarted whenever a run ends) while the Play panel plays the shipped default model (or
the reference solver when no model is shipped). Every few seconds the process RSS, open file descriptors
and threads are sampled, with the event loop's lateness over that interval; a 10 ms heartbeat timer measures
how late the event loop serves it. Every error the window would show is counted: a failed training run, a
Play stepper error, an unhandled exception in any thread, a Qt warning.

Run: ``python benchmarks/soak.py --minutes 30``; without a display it re-runs itself under ``xvfb-run``.
``--no-play`` pauses Play and shows the Train panel instead: what watching a training costs the window.
Ends with ``RESULT minutes=... rss_growth_mb=... loop_p99_ms=... fd_growth=... thread_growth=... errors=...``
(targets: growth under 100 MB over 30 minutes, p99 under 50 ms, no error, and no descriptor or thread left
behind by the training runs: both are counted when a run is about to start, with the trainer idle, and may
not grow by more than 2 from the first such count after warm-up to the last; the exit code is 1 when a
target is missed). ``--report docs/soak.json`` also
writes the figures where ``tools/reliability_report.py`` shows them in ``docs/RELIABILITY.md``.
RSS growth is measured from the end of a warm-up (a tenth of the run, at least 20 s) so one-time
allocations (torch, ONNX Runtime arenas, first plots) are not counted as a leak.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from fieldcast.engine.files import atomic_write

TARGET_GROWTH_MB = 100.0
TARGET_P99_MS = 50.0
TARGET_HANDLE_GROWTH = 2


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _threads() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def _cpu_by_process() -> dict[int, tuple[float, str]]:
    """CPU seconds used so far by every other process, with its command line (Linux; empty elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used: dict[int, tuple[float, str]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            used[int(entry)] = ((int(fields[11]) + int(fields[12])) / ticks, command)
        except (OSError, IndexError, ValueError):
            continue
    return used


def _other_load(before: dict[int, tuple[float, str]], seconds: float) -> list[str]:
    """The other processes that used more than 5 % of a CPU since ``before``: 'NN % command'."""
    rows = []
    for pid, (cpu, command) in _cpu_by_process().items():
        share = (cpu - before.get(pid, (0.0, ""))[0]) / max(seconds, 1e-9)
        if share > 0.05 and command:
            rows.append((share, f"{100 * share:.0f} % {command[:120]}"))
    return [text for _, text in sorted(rows, reverse=True)]


def _autogroup() -> str:
    """This process's scheduler autogroup and its nice value (Linux), e.g. '/autogroup-12 nice -10'."""
    try:
        with open("/proc/self/autogroup", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _ensure_display() -> None:
    """Re-run this script under ``xvfb-run`` when there is no display (offscreen Qt if Xvfb is missing).

    xvfb-run stops its server only after the script has exited, so Qt never loses its X connection.
    """
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return
    if shutil.which("xvfb-run") is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return
    os.execvp(
        "xvfb-run",
        ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", sys.executable, *sys.argv],
    )


def _recipe(name: str) -> dict:
    return {
        "name": name,
        "system": "smoke",
        "data": {"batch_size": 2, "max_train_windows": 16, "max_valid_windows": 4},
        "model": {
            "name": "unet",
            "args": {"depth": 1, "base_width": 8, "norm": "group", "groups": 2, "bottleneck_blocks": 0},
        },
        "rollout": {"steps": 1},
        "train": {"epochs": 20, "log_every": 1, "checkpoint_every": 20, "rollout_test_every": 2},
    }


class Soak:
    """Drives the window for ``seconds``, sampling RSS every ``every`` seconds and the 10 ms heartbeat."""

    def __init__(self, seconds: float, every: float, workdir: Path, play: bool = True) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        from fieldcast.app.main_window import MainWindow
        from fieldcast.app.paths import app_paths
        from fieldcast.app.settings import Settings

        self.seconds, self.workdir, self.with_play = seconds, workdir, play
        self.dataset = self._make_dataset()
        paths = app_paths()
        self.window = MainWindow(paths, Settings(paths.settings_file))
        self.window.resize(1280, 800)
        self.window.show()
        self.play = self.window.panels["play"]
        self.train = self.window.panels["train"]
        self.runs_started = 0
        self.lateness_ms: list[float] = []
        self.rss: list[tuple[float, float]] = []
        # (seconds, RSS MB, open fds, threads, lateness p99 ms over the interval since the previous sample,
        # the machine's load average)
        self.samples: list[tuple[float, float, int, int, float]] = []
        # (seconds, open fds, threads) whenever a training run is about to start with the trainer idle
        self.idle_handles: list[tuple[float, int, int]] = []
        self.errors: list[str] = []
        self._beats_sampled = 0
        self.train.controller.sig_failed.connect(lambda text, *_: self._error(f"training: {text}"))
        self.play.stepper.sig_error.connect(lambda text: self._error(f"play: {text}"))
        self.clock = QElapsedTimer()
        self.clock.start()
        self._last_beat = 0
        self.heartbeat = QTimer(interval=10)
        self.heartbeat.timeout.connect(self._on_beat)
        self.sampler = QTimer(interval=int(every * 1000))
        self.sampler.timeout.connect(self._on_sample)
        self.starter = QTimer(interval=1000)
        self.starter.timeout.connect(self._on_starter)

    def _make_dataset(self) -> Path:
        from fieldcast.engine.generation import generate_dataset

        path = self.workdir / "soak_smoke.h5"
        for _ in generate_dataset("smoke", path, trajectories=4, frames=12, size=32, seed=0):
            pass
        return path

    def _on_beat(self) -> None:
        now = self.clock.nsecsElapsed()
        if self._last_beat:
            self.lateness_ms.append(max(0.0, (now - self._last_beat) / 1e6 - 10.0))
        self._last_beat = now

    def _error(self, text: str) -> None:
        self.errors.append(f"{self.clock.elapsed() / 1000.0:.0f} s: {text}")

    def _on_sample(self) -> None:
        t, mb = self.clock.elapsed() / 1000.0, _rss_mb()
        self.rss.append((t, mb))
        recent = self.lateness_ms[self._beats_sampled :] or [0.0]
        self._beats_sampled = len(self.lateness_ms)
        p99 = float(np.percentile(np.asarray(recent), 99))
        load = os.getloadavg()[0]  # the machine's 1-minute load: lateness means little without it
        self.samples.append((round(t, 1), round(mb, 1), _open_fds(), _threads(), round(p99, 2), load))

    def _on_starter(self) -> None:
        """(Re)start training whenever the controller is idle, and keep Play playing."""
        if self.train.controller.state == "idle":
            self.idle_handles.append((self.clock.elapsed() / 1000.0, _open_fds(), _threads()))
            self.runs_started += 1
            self.train.controller.start([_recipe(f"soak{self.runs_started}")], self.dataset)
        if self.with_play and not self.play.stepper.running:
            self.play.stepper.play()

    def run(self) -> dict[str, float]:
        from PySide6.QtCore import QEventLoop, QTimer

        from fieldcast.app.play.model_picker import default_model_path

        model = default_model_path()
        if self.with_play and model is not None and Path(model).is_file():
            self.play.load_model(str(model))
        if self.with_play:
            self.play.stepper.play()
        else:
            self.play.stepper.pause()
            self.window.show_panel("train")
        self._on_sample()
        for timer in (self.heartbeat, self.sampler, self.starter):
            timer.start()
        loop = QEventLoop()
        QTimer.singleShot(int(self.seconds * 1000), loop.quit)
        loop.exec()
        for timer in (self.heartbeat, self.sampler, self.starter):
            timer.stop()
        self._on_sample()
        self.window.close()  # stops the trainer (after its batch) and the stepper
        warm = max(20.0, 0.1 * self.seconds)
        after = [mb for t, mb in self.rss if t >= warm] or [self.rss[-1][1]]
        late = np.asarray(self.lateness_ms or [0.0])
        idle = [(fds, threads) for t, fds, threads in self.idle_handles if t >= warm] or [(0, 0)]
        windows = [s[4] for s in self.samples if s[0] >= warm] or [0.0]  # (seconds, ..., p99, load)
        return {
            "minutes": self.seconds / 60.0,
            "rss_start_mb": self.rss[0][1],
            "rss_warm_mb": after[0],
            "rss_end_mb": self.rss[-1][1],
            "rss_growth_mb": after[-1] - after[0],
            "loop_p50_ms": float(np.percentile(late, 50)),
            "loop_p99_ms": float(np.percentile(late, 99)),
            "loop_max_ms": float(late.max()),
            "loop_p99_worst_interval_ms": max(windows),
            "fd_growth": float(idle[-1][0] - idle[0][0]),
            "thread_growth": float(idle[-1][1] - idle[0][1]),
            "errors": float(len(self.errors)),
            "training_runs": float(self.runs_started),
            "load_avg_mean": float(np.mean([s[5] for s in self.samples])) if self.samples else 0.0,
        }


def _count_unexpected(soak: Soak) -> None:
    """Count unhandled exceptions (any thread) and Qt warnings as errors: the window would show them."""
    import threading
    import traceback

    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def hook(exc_type, exc, tb) -> None:
        traceback.print_exception(exc_type, exc, tb)
        soak._error(f"unhandled {exc_type.__name__}: {exc}")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    def qt_messages(kind: QtMsgType, context, text: str) -> None:
        print(f"qt: {text}", file=sys.stderr)
        if kind != QtMsgType.QtDebugMsg and kind != QtMsgType.QtInfoMsg:
            soak._error(f"qt: {text}")

    sys.excepthook, threading.excepthook = hook, thread_hook
    soak._qt_handler = qt_messages  # kept alive for as long as Qt may call it
    qInstallMessageHandler(qt_messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (default 30)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--no-play", action="store_true", help="pause Play and watch the Train panel")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write the figures as JSON (docs/soak.json is shown in docs/RELIABILITY.md)",
    )
    args = parser.parse_args(argv)
    command = "python benchmarks/soak.py " + " ".join(sys.argv[1:] if argv is None else argv)
    _ensure_display()
    with tempfile.TemporaryDirectory(prefix="fieldcast-soak-") as tmp:
        os.environ.setdefault("FIELDCAST_HOME", str(Path(tmp) / "home"))
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(sys.argv[:1])
        soak = Soak(args.minutes * 60.0, args.sample, Path(tmp), play=not args.no_play)
        _count_unexpected(soak)
        others = _cpu_by_process()
        r = soak.run()
        others = _other_load(others, r["minutes"] * 60.0)
        app.processEvents()
    print(
        f"rss {r['rss_start_mb']:.0f} MB at start, {r['rss_warm_mb']:.0f} MB after warm-up, "
        f"{r['rss_end_mb']:.0f} MB at the end; loop lateness p50 {r['loop_p50_ms']:.1f} ms, "
        f"max {r['loop_max_ms']:.1f} ms; {r['training_runs']:.0f} training run(s); machine load average "
        f"{r['load_avg_mean']:.1f} on {os.cpu_count()} CPUs at nice {os.nice(0)}"
    )
    for line in soak.errors[:20]:
        print(f"error at {line}")
    result = (
        f"RESULT minutes={r['minutes']:.1f} rss_growth_mb={r['rss_growth_mb']:.1f} "
        f"loop_p99_ms={r['loop_p99_ms']:.1f} fd_growth={r['fd_growth']:.0f} "
        f"thread_growth={r['thread_growth']:.0f} errors={r['errors']:.0f}"
    )
    print(result)
    met = (
        r["rss_growth_mb"] < TARGET_GROWTH_MB
        and r["loop_p99_ms"] < TARGET_P99_MS
        and r["fd_growth"] <= TARGET_HANDLE_GROWTH
        and r["thread_growth"] <= TARGET_HANDLE_GROWTH
        and r["errors"] == 0
    )
    if args.report is not None:
        import datetime
        import json

        record = {
            **r,
            "command": command.strip(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "result": result,
            "targets_met": met,
            "error_messages": soak.errors[:20],
            "samples_columns": ["seconds", "rss_mb", "open_fds", "threads", "loop_p99_ms", "load_avg"],
            "nice": os.nice(0),
            "autogroup": _autogroup(),
            "other_processes": others,
            "cpus": os.cpu_count(),
            "samples": soak.samples,
        }
        atomic_write(args.report, (json.dumps(record, indent=1) + "\n").encode("utf-8"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
