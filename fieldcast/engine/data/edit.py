"""Changing the splits or statistics stored in an existing file (atomically, see ``atomic_update_meta``)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Generator, Mapping

from fieldcast.engine.data.reader import open_dataset
from fieldcast.engine.data.splits import segments_from_recipe
from fieldcast.engine.data.stats import iter_compute_stats, stats_to_json
from fieldcast.engine.data.store import FORMAT_VERSION, DatasetError, atomic_update_meta, spec_to_json
from fieldcast.engine.jobs import CancelToken, Progress

__all__ = ["iter_set_splits", "recompute_stats", "set_splits"]


def iter_set_splits(
    path: str | os.PathLike, recipe: Mapping | None = None, token: CancelToken | None = None
) -> Generator[Progress, None, None]:
    """Store split ``recipe`` in ``path`` (None keeps the current one) and recompute train statistics.

    Statistics always follow the split, since they must come from the training frames only. A foreign
    Well file gains a Fieldcast attribute holding its generic spec. Nothing is written if cancelled.
    """
    with open_dataset(path) as ds:
        recipe = dict(recipe) if recipe is not None else ds.split_recipe
        try:
            segments = segments_from_recipe(recipe, ds.n_trajectories, ds.n_frames)
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(path, f"split does not fit the file ({exc})") from None
        if not segments["train"]:
            raise DatasetError(path, "the new split leaves no training frames")
        stats = yield from iter_compute_stats(ds, segments["train"], token)
        update = {"splits": recipe, "stats": stats_to_json(stats)}
        if ds.is_foreign:
            update.update(spec=spec_to_json(ds.spec), complete=True, format_version=FORMAT_VERSION)
    if token is not None:
        token.raise_if_cancelled()
    atomic_update_meta(path, update)
    yield Progress("save", 1, 1, "splits and statistics stored")


def _run(job) -> None:
    deque(job, maxlen=0)  # drain the generator, dropping its progress events


def set_splits(path: str | os.PathLike, recipe: Mapping) -> None:
    """Blocking :func:`iter_set_splits`."""
    _run(iter_set_splits(path, recipe))


def recompute_stats(path: str | os.PathLike) -> None:
    """Recompute and store the train statistics of ``path`` under its current split."""
    _run(iter_set_splits(path, None))
