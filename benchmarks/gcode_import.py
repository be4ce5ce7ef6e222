"""Importing a long G-code file: seconds for a 100,000-move print, stage by stage, and its progress events.

A slicer-like print (:func:`fieldcast.engine.systems.trajectory.synthetic_gcode.synthetic_gcode`: layers of
perimeters with arc corners, cylinders cut into short chords, solid and gyroid-like infill, retractions and
travels; deterministic in ``--seed``) is written to a temporary folder and imported ``--repeats`` times with
:func:`~fieldcast.engine.data.importers.gcode.import_gcode`, the job ``fieldcast import`` runs: parse, plan
and simulate on the reference printer at 1 kHz, write the 100 Hz trajectory. Each stage's time is taken from
the job's own progress events. The figures are medians over the repeats, as wall-clock and as CPU time of
the process (the second is less sensitive to other work on a shared machine); the load average is printed
beside them.

Usage::

    python benchmarks/gcode_import.py [--moves 100000] [--seed 0] [--repeats 3] [--profile]

``--profile`` adds a profile of one more import (the functions with the most time of their own). The last
line is ``RESULT moves=… seconds=… moves_per_s=…``: moves are the toolpath segments the simulation runs
(arcs cut into chords, as the Play page counts them), seconds the median wall-clock time of the import.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from fieldcast.engine.data.importers.gcode import import_gcode
from fieldcast.engine.jobs import Progress
from fieldcast.engine.systems.trajectory.gcode import count_moves, read_gcode
from fieldcast.engine.systems.trajectory.synthetic_gcode import write_synthetic_gcode

TARGET_S = 20.0


def import_once(src: Path, out: Path) -> dict[str, float]:
    """One import: wall and CPU seconds, seconds per stage, and how many progress events each stage sent."""
    stage_time: dict[str, float] = {}
    events: dict[str, int] = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    last, stage = wall0, None
    for event in import_gcode(src, out):
        now = time.perf_counter()
        if isinstance(event, Progress):
            if event.stage != stage:  # the previous stage ended with this stage's first event
                stage = event.stage
            stage_time[stage] = stage_time.get(stage, 0.0) + (now - last)
            events[stage] = events.get(stage, 0) + 1
        last = now
    result = {"wall": time.perf_counter() - wall0, "cpu": time.process_time() - cpu0}
    result.update({f"{k}_s": v for k, v in stage_time.items()})
    result.update({f"{k}_events": float(v) for k, v in events.items()})
    out.unlink()
    return result


def profile_once(src: Path, out: Path, top: int = 12) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in import_gcode(src, out):
        pass
    profiler.disable()
    out.unlink()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--moves", type=int, default=100_000, help="XY moves of the synthetic print")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="also profile one import")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="fieldcast-gcode-") as tmp:
        src = write_synthetic_gcode(Path(tmp) / "print.gcode", args.moves, args.seed)
        text = src.read_text()
        lines = text.splitlines()
        toolpath = read_gcode(src)
        print(
            f"file: {src.stat().st_size / 2**20:.1f} MiB, {len(lines):,} lines, "
            f"{int(count_moves(lines).sum()):,} motion commands, {toolpath.n_segments:,} segments "
            f"(arcs cut into chords), {toolpath.layer_count()} layers"
        )
        runs = []
        for k in range(args.repeats):
            run = import_once(src, Path(tmp) / "out.h5")
            runs.append(run)
            stages = ", ".join(f"{s} {run[f'{s}_s']:.2f} s" for s in ("parse", "simulate", "write"))
            print(
                f"import {k + 1}/{args.repeats}: {run['wall']:.2f} s wall, {run['cpu']:.2f} s CPU "
                f"({stages}); load average {os.getloadavg()[0]:.1f}"
            )
        median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            "progress events per import: "
            + ", ".join(f"{s} {int(median[f'{s}_events'])}" for s in ("parse", "simulate", "write"))
        )
        print(
            f"median of {args.repeats}: {median['wall']:.2f} s wall, {median['cpu']:.2f} s CPU; "
            f"parse {median['parse_s']:.2f} s, simulate {median['simulate_s']:.2f} s, "
            f"write {median['write_s']:.2f} s; {median['wall'] / TARGET_S:.2f} of the {TARGET_S:.0f} s target"
        )
        if args.profile:
            print(profile_once(src, Path(tmp) / "out.h5"))
    moves, seconds = toolpath.n_segments, median["wall"]
    print(f"RESULT moves={moves} seconds={seconds:.2f} moves_per_s={moves / seconds:.0f}")


if __name__ == "__main__":
    main()
