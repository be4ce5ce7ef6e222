"""Reading the generative records of a run folder: samples of each validation and loss by timestep. No Qt.

A task that generates maps (:mod:`fieldcast.training.tasks.generative`) writes, after each validation, two
kinds of ``metrics.jsonl`` record (the trainer adds ``step`` and ``epoch``):

- ``timestep_loss``: ``bins``, the n + 1 edges of the diffusion-timestep bins, and ``values``, the mean
  validation loss in each bin (null for an empty bin);
- ``generative_samples``: ``path``, the ``samples/*.npz`` file (relative to the run folder) holding
  ``conditions`` (n, C, nx, ny), ``truths`` and ``predictions`` (n, nx, ny): one generated map of each of n
  validation conditions; ``condition`` (C, nx, ny), ``truth`` (nx, ny) and ``samples`` (s, nx, ny): several
  generated maps of one condition; ``condition_names``, ``target_name`` and ``units``.

Only the files on screen are opened; each array's stored size is checked against a budget before it is
read, and a path that leaves the run folder is refused.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldcast.engine.run_folder import RunFolderError

__all__ = [
    "GenerativeSamples",
    "RecordTail",
    "SamplesRecord",
    "TimestepLoss",
    "generative_records",
    "load_generative_samples",
]

MAX_ARRAY_BYTES = 128 << 20
_KINDS = (b'"generative_samples"', b'"timestep_loss"')
_MAX_LINE = 1 << 20  # a generative record is a few hundred bytes; longer lines are not these records
_CHUNK = 16 << 20  # bytes of metrics.jsonl read per call at most
_MAX_BINS = 100_000


@dataclass(frozen=True)
class SamplesRecord:
    """One validation's generated samples: its step, epoch and file."""

    step: int
    epoch: int | None
    path: Path


@dataclass(frozen=True)
class TimestepLoss:
    """The validation loss of one validation by diffusion timestep: bin ``centres`` and mean ``values``
    (NaN for an empty bin)."""

    step: int
    centres: np.ndarray
    values: np.ndarray


@dataclass
class GenerativeSamples:
    """The maps of one samples file (physical units): generated-vs-truth pairs of several conditions and
    several samples of one condition."""

    truths: np.ndarray  # (n, nx, ny)
    predictions: np.ndarray  # (n, nx, ny)
    truth: np.ndarray  # (nx, ny)
    samples: np.ndarray  # (s, nx, ny)
    target: str = ""
    units: str = ""

    @property
    def differences(self) -> np.ndarray:
        """(n, nx, ny) generated minus truth."""
        return self.predictions - self.truths


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def generative_records(
    run_dir: Path, records: list[dict[str, Any]]
) -> tuple[list[SamplesRecord], list[TimestepLoss]]:
    """The generative samples records (files inside ``run_dir``) and timestep-loss records among ``records``,
    oldest first; malformed records are skipped (a run being written may end in a torn one)."""
    root = Path(run_dir).resolve()
    samples: list[SamplesRecord] = []
    losses: list[TimestepLoss] = []
    for r in records:
        kind, step = r.get("kind"), _number(r.get("step"))
        if step is None:
            continue
        if kind == "generative_samples" and isinstance(r.get("path"), str):
            path = (root / r["path"]).resolve()
            if root not in path.parents:
                continue  # a record pointing outside its run folder is not followed
            epoch = _number(r.get("epoch"))
            samples.append(SamplesRecord(int(step), None if epoch is None else int(epoch), path))
        elif kind == "timestep_loss":
            loss = _timestep_loss(int(step), r.get("bins"), r.get("values"))
            if loss is not None:
                losses.append(loss)
    return samples, losses


def _timestep_loss(step: int, bins: Any, values: Any) -> TimestepLoss | None:
    if not isinstance(bins, list) or not isinstance(values, list) or not 0 < len(values) <= _MAX_BINS:
        return None
    if len(bins) != len(values) + 1:
        return None
    edges = [_number(b) for b in bins]
    if any(e is None for e in edges):
        return None
    mean = [_number(v) for v in values]
    e = np.asarray(edges, float)
    v = np.asarray([math.nan if x is None else x for x in mean], float)
    return TimestepLoss(step, (e[:-1] + e[1:]) / 2, v)


class RecordTail:
    """The generative records appended to a ``metrics.jsonl`` since the last call, read incrementally.

    A run's metrics file grows by a record every step; re-reading it whole at each validation would cost
    the GUI thread more as training goes on. Each call reads only the bytes added since the last one (at most
    :data:`_CHUNK`), keeps a torn last line for the next call, and parses only the lines naming one of the
    generative kinds.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        """The complete generative records added since the last call (OSError if the file cannot be read)."""
        import json

        if not self.path.is_file():
            return []
        size = self.path.stat().st_size
        if size < self.offset:  # the file was replaced: start again
            self.offset, self._partial = 0, b""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(min(_CHUNK, size - self.offset))
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # b"" after a complete last line
        if len(self._partial) > _MAX_LINE:
            self._partial = b""
        found = []
        for line in lines:
            if len(line) > _MAX_LINE or not any(kind in line for kind in _KINDS):
                continue
            try:
                record = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue  # a damaged line is not a record
            if isinstance(record, dict):
                found.append(record)
        return found


def _read(archive, members: dict[str, int], path: Path, name: str, budget: int) -> np.ndarray:
    size = members.get(f"{name}.npy")
    if size is None:
        raise RunFolderError(f"{path}: no array {name!r}")
    if size > budget:
        raise RunFolderError(f"{path}: array {name!r} holds {size >> 20} MiB, more than {budget >> 20} MiB")
    return np.asarray(archive[name])


def _text(archive, members: dict[str, int], name: str) -> str:
    if f"{name}.npy" not in members or members[f"{name}.npy"] > 4096:
        return ""
    return str(np.asarray(archive[name]).ravel()[0]) if np.asarray(archive[name]).size else ""


def load_generative_samples(path: Path, budget: int = MAX_ARRAY_BYTES) -> GenerativeSamples:
    """Open one generative samples file; raises :class:`RunFolderError` naming the file and the problem."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename: i.file_size for i in z.infolist()}
        with np.load(path, allow_pickle=False) as archive:
            truths = _read(archive, members, path, "truths", budget).astype(np.float32)
            predictions = _read(archive, members, path, "predictions", budget).astype(np.float32)
            truth = _read(archive, members, path, "truth", budget).astype(np.float32)
            samples = _read(archive, members, path, "samples", budget).astype(np.float32)
            target, units = _text(archive, members, "target_name"), _text(archive, members, "units")
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        if isinstance(exc, RunFolderError):
            raise
        raise RunFolderError(f"{path}: not a generative samples file ({exc})") from None
    if truths.ndim != 3 or predictions.shape != truths.shape:
        raise RunFolderError(
            f"{path}: truths {truths.shape} and predictions {predictions.shape} are not pairs of maps"
        )
    if truth.ndim != 2 or samples.ndim != 3 or samples.shape[1:] != truth.shape or not len(samples):
        raise RunFolderError(
            f"{path}: samples {samples.shape} are not maps of the truth's shape {truth.shape}"
        )
    return GenerativeSamples(truths, predictions, truth, samples, target, units)
