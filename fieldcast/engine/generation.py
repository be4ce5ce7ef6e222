"""Dataset generation: run a system's reference solver for many trajectories, in parallel, into one file.

Any system works whose module (``fieldcast.engine.systems.<name>``, dashes as underscores) provides

``simulate_trajectory(seed, frames, size, **options) -> dict[str, np.ndarray]``
    one trajectory as float32 fields (scalars ``(T, nx, ny)``, vectors ``(T, nx, ny, 2)``) from anything
    :func:`numpy.random.default_rng` accepts;

and optionally ``writer_options(frames, size, **options) -> dict``, extra keyword arguments for the dataset
writer (simulation parameters, extent, boundary conditions, metadata; ``spec`` for a system whose
fields depend on its options, written into the file instead of the registered spec), and
``check_options(**options)``, which raises ValueError or TypeError for options it does not accept.

Trajectory ``i`` always gets the ``i``-th child of ``numpy.random.SeedSequence(seed)``, and trajectories are
written in index order, so the file is the same whatever the number of worker processes.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.systems.base import get_spec

__all__ = ["check_request", "generate_dataset", "system_module"]

# How often a waiting parent looks at the cancel token, in seconds.
_POLL_S = 0.1


def system_module(system: str) -> ModuleType:
    """The module of ``system`` (its spec is registered on import); KeyError if the system is unknown."""
    get_spec(system)
    return importlib.import_module(f"fieldcast.engine.systems.{system.replace('-', '_')}")


def check_request(
    system: str,
    out: str | os.PathLike,
    trajectories: int,
    frames: int,
    size: int,
    workers: int = 1,
    **options: Any,
) -> None:
    """Raise ValueError (KeyError for an unknown system) with a message for a person if the request is bad.

    Called by :func:`generate_dataset` before any work, and by front ends that want to reject bad input
    before starting a job.
    """
    module = system_module(system)
    simulate = getattr(module, "simulate_trajectory", None)
    if simulate is None:
        raise ValueError(f"system {system!r} has no reference solver to generate data with")
    for name, value in (("trajectories", trajectories), ("frames", frames), ("workers", workers)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer of at least 8 cells, got {size!r}")
    try:
        inspect.signature(simulate).bind(0, frames, size, **options)
        # A system can check its options' names and values before any process starts.
        if hasattr(module, "check_options"):
            module.check_options(**options)
    except TypeError as exc:
        raise ValueError(f"bad option for system {system!r}: {exc}") from None
    folder = Path(out).expanduser().resolve().parent
    if not folder.is_dir():
        raise ValueError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {folder} is not writable")
    if Path(out).is_dir():
        raise ValueError(f"output {out} is a folder; give a file name such as data.h5")


def _ignore_sigint() -> None:
    # Workers leave Ctrl-C to the parent, which cancels cleanly; otherwise every worker would die with a
    # KeyboardInterrupt traceback and break the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _simulate(
    module_name: str, seed: np.random.SeedSequence, frames: int, size: int, options: dict[str, Any]
) -> dict[str, np.ndarray]:
    # Top-level and imported by name so it pickles under the "spawn" start method.
    module = importlib.import_module(module_name)
    return module.simulate_trajectory(seed, frames, size, **options)


def _in_process(
    run: Callable[[int], dict[str, np.ndarray]], n: int, cancel: CancelToken
) -> Iterator[dict[str, np.ndarray]]:
    for i in range(n):
        cancel.raise_if_cancelled()
        yield run(i)


def _in_pool(
    submit_args: Callable[[int], tuple], n: int, workers: int, cancel: CancelToken
) -> Iterator[dict[str, np.ndarray]]:
    """Results in index order from a process pool, with a bounded number of trajectories in flight."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint
    )
    pending: dict[int, Future] = {}
    next_submit = 0
    try:
        for i in range(n):
            # Two per worker keeps every process busy while bounding memory for out-of-order results.
            while next_submit < n and next_submit < i + 2 * workers:
                pending[next_submit] = pool.submit(_simulate, *submit_args(next_submit))
                next_submit += 1
            future = pending.pop(i)
            while not future.done():
                cancel.raise_if_cancelled()
                wait([future], timeout=_POLL_S, return_when=FIRST_COMPLETED)
            cancel.raise_if_cancelled()
            yield future.result()
    finally:
        # Queued trajectories are dropped; running ones finish in the background and are discarded.
        pool.shutdown(wait=False, cancel_futures=True)


def generate_dataset(
    system: str,
    out: str | os.PathLike,
    trajectories: int,
    frames: int,
    size: int,
    seed: int,
    workers: int = 1,
    cancel: CancelToken | None = None,
    **options: Any,
) -> Iterator[Progress]:
    """Simulate ``trajectories`` runs of ``system`` and write them to the dataset file ``out``.

    Parameters
    ----------
    system : system name, e.g. ``"smoke"``.
    out : HDF5 file to create (replaced if it exists).
    trajectories, frames, size : number of runs, frames per run, cells per side of the square grid.
    seed : root seed; the file depends only on it and the other arguments, not on ``workers``.
    workers : processes to simulate in (1 = in this process).
    cancel : token checked between trajectories (and while waiting for workers).
    options : system options passed to ``simulate_trajectory`` (e.g. ``vorticity=0.05`` for smoke).

    Yields
    ------
    Progress after each trajectory is written (and once at the start).

    Raises
    ------
    Cancelled when ``cancel`` is set; KeyboardInterrupt passes through. Either way the file is closed
    valid, holding only the trajectories that were complete.
    """
    check_request(system, out, trajectories, frames, size, workers, **options)
    from fieldcast.engine.data import DatasetWriter

    cancel = cancel or CancelToken()
    spec = get_spec(system)
    module = system_module(system)
    writer_kwargs = {}
    if hasattr(module, "writer_options"):
        writer_kwargs = module.writer_options(frames, size, **options)
    seeds = np.random.SeedSequence(seed).spawn(trajectories)

    def args(i: int) -> tuple:
        return module.__name__, seeds[i], frames, size, options

    if workers == 1:
        results = _in_process(lambda i: _simulate(*args(i)), trajectories, cancel)
    else:
        results = _in_pool(args, trajectories, workers, cancel)
    yield Progress("generate", 0, trajectories, f"{system}: {trajectories} × {frames} frames at {size}²")
    # Field systems store size x size frames; a sequence system stores one sample per frame on a 1 x 1 grid.
    grid = writer_kwargs.pop("grid", (size, size))
    spec = writer_kwargs.pop("spec", spec)  # a system with several data sources names the one written
    dt = writer_kwargs.pop("dt", spec.dt)  # a system may store every k-th frame
    with DatasetWriter(out, spec, n_frames=frames, grid=grid, dt=dt, **writer_kwargs) as writer:
        try:
            for i, fields in enumerate(results):
                writer.append(fields)
                yield Progress("generate", i + 1, trajectories, f"trajectory {i + 1} written")
        finally:
            results.close()
