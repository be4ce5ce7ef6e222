"""Checks of a dataset's values and stored metadata, beyond the structural checks made on open."""

from __future__ import annotations

import os
from collections.abc import Generator

import numpy as np

from fieldcast.engine.data.reader import FieldDataset, open_dataset
from fieldcast.engine.data.splits import SPLIT_NAMES
from fieldcast.engine.data.store import DatasetError
from fieldcast.engine.jobs import CancelToken, Progress

__all__ = ["check_file", "iter_validate", "validate_dataset"]


def _meta_problems(ds: FieldDataset) -> list[str]:
    problems = []
    if not ds.is_foreign and not ds.meta.get("complete", True):
        problems.append(
            f"writing was interrupted; {ds.n_trajectories} complete trajectories are usable, "
            "splits and statistics are defaults"
        )
    try:
        segments = {name: ds.split_segments(name) for name in SPLIT_NAMES}
    except DatasetError as exc:
        return problems + [exc.problem]
    if not segments["train"]:
        problems.append("the train split is empty")
    if ds.has_stored_stats:
        std = ds.stats["std"]
        if not np.all(np.isfinite(std)) or np.any(std <= 0):
            problems.append("stored statistics have a non-positive or non-finite std")
    problems.extend(f"unusable field {s}" for s in ds.skipped_fields)
    problems.extend(_integer_problems(ds))
    return problems


# Quantities that cannot be negative: an integer field of one of these names holding negative values was
# stored with the wrong type or wrapped around (an int8 density of -128).
_NONNEGATIVE = ("density", "temperature", "pressure", "concentration", "mass", "emitter", "collider", "mask")


def _integer_problems(ds: FieldDataset) -> list[str]:
    """Integer-typed fields whose values do not fit what the field means, from its first and last frame."""
    problems = []
    for fl in ds._layout.fields:
        dtype = np.dtype(fl.dtype)
        if dtype.kind not in "iu":
            continue
        data = ds._file()[fl.path]
        lead = (0,) if fl.sample_varying else ()
        # Up to 16 frames spread over the first trajectory, one at a time (each within the frame budget).
        picks = np.unique(np.linspace(0, ds.n_frames - 1, min(ds.n_frames, 16)).round().astype(int))
        frames = [lead + (int(k),) for k in picks] if fl.time_varying else [lead]
        low, high = None, None
        try:
            for index in frames:
                values = np.asarray(data[index] if index else data[()])
                if values.size:
                    low = int(values.min()) if low is None else min(low, int(values.min()))
                    high = int(values.max()) if high is None else max(high, int(values.max()))
        except (OSError, RuntimeError):
            continue  # unreadable chunks are reported by the NaN scan
        if low is None:
            continue
        info = np.iinfo(dtype)
        if dtype.kind == "i" and low == info.min:
            problems.append(
                f"field '{fl.name}' is stored as {dtype} and holds {low}, the type's lowest value "
                "(an overflow or a fill marker rather than data?)"
            )
        elif low < 0 and any(word in fl.name.lower() for word in _NONNEGATIVE):
            problems.append(
                f"field '{fl.name}' is stored as {dtype} and holds {low}; a {fl.name} cannot be negative "
                "(wrapped-around integers?)"
            )
        elif dtype.kind == "u" and high == info.max and info.max > 255:
            problems.append(f"field '{fl.name}' is stored as {dtype} and reaches {high}, the type's limit")
    return problems


def iter_validate(
    ds: FieldDataset, token: CancelToken | None = None, max_bytes: int | None = None
) -> Generator[Progress, None, list[str]]:
    """Scan frames for NaN/Inf and check metadata; returns the problems (one line each, no path).

    ``max_bytes`` bounds how much is read (spread over the trajectories' first and last frames), for a
    quick look at a huge file; None scans everything.
    """
    problems = _meta_problems(ds)
    budget_frames = None if max_bytes is None else max(1, max_bytes // max(ds.frame_nbytes, 1))
    if budget_frames is None or budget_frames >= ds.n_trajectories * ds.n_frames:
        plan = [(t, 0, ds.n_frames) for t in range(ds.n_trajectories)]
    else:
        # Damage usually shows at the end of a run (a blow-up) or of a file (a bad copy): look at the
        # first and last frame of as many trajectories as the budget allows, the last ones first.
        n_traj = min(ds.n_trajectories, max(1, budget_frames // 2))
        plan = []
        for t in range(ds.n_trajectories - 1, ds.n_trajectories - 1 - n_traj, -1):
            plan.append((t, 0, 1))
            if ds.n_frames > 1:
                plan.append((t, ds.n_frames - 1, ds.n_frames))
    total = sum(b - a for _, a, b in plan)
    done = 0
    bad: dict[str, tuple[int, int]] = {}
    step = max(1, (32 << 20) // max(ds.frame_nbytes, 1))
    for traj, a, b in plan:
        for s in range(a, b, step):
            if token is not None:
                token.raise_if_cancelled()
            n = min(step, b - s)
            window = ds.read_window(traj, s, n)
            finite = np.isfinite(window).all(axis=(2, 3))  # (n, C)
            if not finite.all():
                for frame, c in zip(*np.nonzero(~finite), strict=True):
                    bad.setdefault(ds.channel_names[c], (traj, s + int(frame)))
            done += n
            yield Progress("validate", done, total)
    for name, (traj, frame) in bad.items():
        problems.append(f"channel '{name}' contains NaN or Inf (first at trajectory {traj}, frame {frame})")
    return problems


def validate_dataset(ds: FieldDataset, max_bytes: int | None = None) -> list[str]:
    """Problems of an open dataset, one line each (empty when it is fine)."""
    job = iter_validate(ds, max_bytes=max_bytes)
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def check_file(path: str | os.PathLike, max_bytes: int | None = None) -> FieldDataset:
    """Open ``path`` and scan it; raises one :class:`DatasetError` for the first problem found."""
    ds = open_dataset(path)
    try:
        problems = validate_dataset(ds, max_bytes=max_bytes)
    except (OSError, RuntimeError) as exc:
        ds.close()
        raise DatasetError(path, f"reading the field data failed ({exc})") from None
    if problems:
        ds.close()
        raise DatasetError(path, problems[0])
    return ds
