"""First look at a file a user dropped, in a child process with a timeout.

libhdf5 can crash (segfault) or spin forever on crafted files, and it cannot be interrupted from Python.
So the first look runs ``python -m fieldcast.engine.data.probe PATH`` in a subprocess: the parent
survives whatever happens there and turns a crash or a hang into a clear error. The child prints one JSON
line; nothing from the file is ever unpickled.

Where the system can limit a child's CPU time (Linux), the time limit counts the child's CPU seconds, not
the clock's: on a machine busy with training, a valid file may wait minutes for a CPU without being called
damaged, while a reader spinning on a crafted file is still stopped after its CPU seconds. The clock then
only catches a reader that waits without computing (a stalled disk or share), at ten times the limit.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["ProbeResult", "describe_file", "probe_file"]

# Values read per probe when scanning for NaN/Inf: enough to catch a blown-up run, bounded so a large file
# still probes within the timeout.
_SCAN_BYTES = 32 << 20


@dataclass
class ProbeResult:
    """A summary of a file, or why it cannot be used.

    ``ok`` is False when ``error`` is set (the file cannot be opened); ``problems`` lists what is wrong
    with a file that does open (NaN frames, interrupted writing ...). ``format`` is ``well``, ``npz``,
    ``pdebench-flat`` or ``pdebench-grouped``; only ``well`` files open directly, the others import.
    """

    path: str
    ok: bool
    format: str = ""
    system: str = ""
    n_trajectories: int = 0
    n_frames: int = 0
    grid: tuple[int, int] = (0, 0)
    channels: list[str] = field(default_factory=list)
    size_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if not self.ok:
            return self.error or f"{self.path}: unusable"
        return (
            f"{self.system}: {self.n_trajectories} x {self.n_frames} frames, {self.grid[0]}x{self.grid[1]}, "
            f"{len(self.channels)} channels, {self.size_bytes / 2**20:.1f} MiB"
        )


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def describe_file(path: str | os.PathLike, scan_bytes: int = _SCAN_BYTES) -> ProbeResult:
    """Open and summarise ``path`` in this process (what the probe child runs)."""
    from fieldcast.engine.data.importers import detect_format, open_source
    from fieldcast.engine.data.reader import open_dataset
    from fieldcast.engine.data.store import DatasetError
    from fieldcast.engine.data.validate import validate_dataset

    p = Path(path)
    try:
        kind = detect_format(p)
        if kind == "well":
            with open_dataset(p) as ds:
                return ProbeResult(
                    str(p),
                    True,
                    "well",
                    ds.spec.name,
                    ds.n_trajectories,
                    ds.n_frames,
                    ds.grid,
                    ds.channel_names,
                    _size(p),
                    validate_dataset(ds, max_bytes=scan_bytes),
                )
        src = open_source(p)
        return ProbeResult(
            str(p),
            True,
            kind if kind != "npz" else src.format,
            "import needed",
            src.n_trajectories,
            src.n_frames,
            src.grid,
            list(src.channels),
            _size(p),
            [],
        )
    except DatasetError as exc:
        return ProbeResult(str(p), False, size_bytes=_size(p) if p.exists() else 0, error=str(exc))


def _child_command(path: str) -> list[str]:
    return [sys.executable, "-m", "fieldcast.engine.data.probe", path]


#: wall-clock limit as a multiple of the CPU-time limit, where the CPU time is limited
_WALL_FACTOR = 10


def _limit_cpu(pid: int, seconds: float) -> bool:
    """Limit process ``pid`` to ``seconds`` of CPU time, without a core file; False where not possible."""
    try:
        import resource

        limit = max(1, math.ceil(seconds))
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        resource.prlimit(pid, resource.RLIMIT_CPU, (limit, limit + 1))
    except (ImportError, AttributeError, OSError, ValueError):  # not Linux, or the child already ended
        return False
    return True


def probe_file(
    path: str | os.PathLike, timeout: float = 30.0, wall_timeout: float | None = None
) -> ProbeResult:
    """Summarise ``path`` in a subprocess; a crash or a hang there becomes ``ok=False`` with an error line.

    ``timeout`` is the child's CPU seconds where the system limits them (Linux; the wall clock then waits
    ``wall_timeout``, default ten times as long), else wall-clock seconds (plus interpreter start-up). The
    GUI calls it from a worker thread.
    """
    p = str(path)
    proc = subprocess.Popen(
        _child_command(p),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if _limit_cpu(proc.pid, timeout):
        wall = timeout * _WALL_FACTOR if wall_timeout is None else max(timeout, wall_timeout)
    else:
        wall = timeout
    try:
        stdout, stderr = proc.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return ProbeResult(
            p, False, error=f"{p}: reading the file did not finish within {wall:g} s (damaged?)"
        )
    if wall > timeout and proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # the CPU limit
        return ProbeResult(
            p, False, error=f"{p}: reading the file took more than {timeout:g} s of CPU time (damaged?)"
        )
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        if proc.returncode < 0:
            how = f"crashed the reader (signal {-proc.returncode})"
        else:
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            how = f"crashed the reader (exit code {proc.returncode}: {last})"
        return ProbeResult(p, False, error=f"{p}: reading the file {how}")
    try:
        data = json.loads(lines[-1])
        data["grid"] = tuple(data.get("grid", (0, 0)))
        return ProbeResult(**data)
    except (TypeError, ValueError) as exc:
        return ProbeResult(p, False, error=f"{p}: the probe answered garbage ({exc})")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fieldcast.engine.data.probe PATH", file=sys.stderr)
        return 2
    try:
        result = describe_file(args[0])
    except Exception as exc:
        result = ProbeResult(
            args[0], False, error=f"{args[0]}: unexpected error ({type(exc).__name__}: {exc})"
        )
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
