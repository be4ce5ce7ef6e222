"""Reading a training run folder without torch: its recipe, status, metric records and saved samples.

A run folder (written by :mod:`fieldcast.training`) holds ``config.yaml`` (the resolved recipe),
``run.json`` (name, status, split), ``metrics.jsonl`` (one JSON record a line), ``checkpoints/`` (each
``<tag>.json`` sidecar says which model, step and data) and ``samples/epoch_NNNN.npz`` (truth and prediction
pairs of one validation, ``(N, C, nx, ny)`` in physical units, with the per-sample ``losses`` of that
validation when the trainer recorded them).

:func:`read_run` reads the small files and lists the samples without opening them; :func:`load_samples`
opens one samples file, checking each array's size against a budget before it is read. Reports and the
Train panel read only the samples they show, so a run with hundreds of validations costs no more than one
with five.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fieldcast.engine.limits import (
    MAX_JSON_LINE_BYTES,
    JsonFileError,
    format_bytes,
    loads_json,
    loads_yaml,
    read_json_file,
)

__all__ = [
    "MAX_METRICS_BYTES",
    "MAX_SAMPLE_BYTES",
    "RunFolderError",
    "RunRecord",
    "SampleFile",
    "Samples",
    "is_run_folder",
    "list_samples",
    "load_samples",
    "read_run",
]

MAX_METRICS_BYTES = 512 << 20  # a metrics.jsonl larger than this is not read
MAX_SAMPLE_BYTES = 256 << 20  # one array of a samples file larger than this is not read
_SMALL_FILE = 16 << 20  # config.yaml, run.json, a checkpoint sidecar
_SAMPLE_NAME = re.compile(r"^epoch_(\d{1,9})\.npz$")


class RunFolderError(ValueError):
    """A run folder file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class SampleFile:
    """One validation's saved samples: the epoch count when they were taken and the file."""

    epoch: int
    path: Path


@dataclass
class Samples:
    """Truth and prediction pairs of one validation (``(N, C, nx, ny)``) and per-sample losses."""

    epoch: int
    truth: np.ndarray
    prediction: np.ndarray
    channels: tuple[str, ...]
    losses: np.ndarray  # (M,) per-sample MSE of the validation (M >= N when the trainer recorded more)
    step: int | None = None


@dataclass
class RunRecord:
    """What a run folder says about its training, read once."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    sidecar: dict[str, Any] = field(default_factory=dict)  # checkpoints/best.json (else last.json)
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # "step", "loss", "lr", loss parts
    validations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # lr changes, back-offs, start, finished
    samples: list[SampleFile] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.status.get("name") or self.config.get("name") or self.path.name)

    @property
    def system(self) -> str:
        return str(self.sidecar.get("system") or "")

    @property
    def task(self) -> str:
        return str(self.status.get("task") or self.sidecar.get("task") or self.config.get("task") or "")


def is_run_folder(path: Path) -> bool:
    """True for a folder holding a run's ``config.yaml`` or ``run.json``."""
    path = Path(path)
    return path.is_dir() and ((path / "config.yaml").is_file() or (path / "run.json").is_file())


def _read_small(path: Path) -> bytes:
    """The bytes of a small run file; at most ``_SMALL_FILE`` are read, whatever the file's size says."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_SMALL_FILE + 1)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > _SMALL_FILE:
        raise RunFolderError(f"{path}: larger than a run file can be ({format_bytes(_SMALL_FILE)})")
    return raw


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = read_json_file(path, path.name, max_bytes=_SMALL_FILE)
    except JsonFileError as exc:
        raise RunFolderError(f"{path}: {exc.problem.removeprefix(path.name + ' is ')}") from None
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = loads_yaml(_read_small(path).decode("utf-8"))
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not valid YAML (not UTF-8 text)") from None
    except yaml.YAMLError as exc:
        raise RunFolderError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValueError as exc:
        raise RunFolderError(f"{path}: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a mapping of recipe sections")
    return value


def _number(value: Any) -> float | None:
    """A record's value as a float (``"nan"`` / ``"inf"`` as written for non-finite numbers), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl``; a torn last line (a run being written) is skipped."""
    if not path.is_file():
        return []
    size = path.stat().st_size
    if size > MAX_METRICS_BYTES:
        raise RunFolderError(f"{path}: {size >> 20} MiB, more than the {MAX_METRICS_BYTES >> 20} MiB read")
    lines = path.read_bytes().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = loads_json(line, f"line {i + 1}", max_bytes=MAX_JSON_LINE_BYTES)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if i == len(lines) - 1:
                break
            raise RunFolderError(f"{path}: line {i + 1} is not valid JSON") from None
        except ValueError as exc:  # a record far larger or deeper than any the trainer writes
            raise RunFolderError(f"{path}: {exc}") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def _step_columns(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The ``step`` records as columns; a run resumed from a checkpoint keeps the newest record of a step."""
    rows: dict[int, dict[str, float]] = {}
    for r in records:
        step = _number(r.get("step"))
        if step is None:
            continue
        rows[int(step)] = {
            k: v
            for k, val in r.items()
            if k not in ("kind", "time", "step") and (v := _number(val)) is not None
        }
    steps = sorted(rows)
    keys = sorted({k for row in rows.values() for k in row})
    columns = {"step": np.asarray(steps, np.int64)}
    for key in keys:
        columns[key] = np.asarray([rows[s].get(key, math.nan) for s in steps], np.float64)
    return columns


def list_samples(run_dir: Path) -> list[SampleFile]:
    """The saved samples files of a run, oldest validation first (names only; nothing is opened)."""
    folder = Path(run_dir) / "samples"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _SAMPLE_NAME.match(path.name)
        if m and path.is_file():
            found.append(SampleFile(int(m.group(1)), path))
    return sorted(found, key=lambda s: s.epoch)


def read_run(run_dir: Path) -> RunRecord:
    """Read run folder ``run_dir``: recipe, status, best sidecar, metric records, list of samples.

    Raises :class:`RunFolderError` naming the file for a folder that is not a run or a file that is damaged.
    """
    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        why = "no such folder" if not run_dir.exists() else "it has no config.yaml or run.json"
        raise RunFolderError(f"{run_dir}: not a run folder ({why})")
    run = RunRecord(path=run_dir)
    run.config = _read_yaml(run_dir / "config.yaml")
    run.status = _read_json(run_dir / "run.json")
    for tag in ("best", "last"):
        run.sidecar = _read_json(run_dir / "checkpoints" / f"{tag}.json")
        if run.sidecar:
            break
    records = _read_records(run_dir / "metrics.jsonl")
    run.steps = _step_columns([r for r in records if r.get("kind") == "step"])
    for r in records:
        kind = r.get("kind")
        if kind == "validation":
            run.validations.append(r)
        elif kind not in ("step", "epoch", "checkpoint"):
            run.events.append(r)
    run.samples = list_samples(run_dir)
    return run


def _array(archive: np.lib.npyio.NpzFile, members: dict[str, int], path: Path, name: str, budget: int):
    size = members.get(f"{name}.npy")
    if size is None:
        raise RunFolderError(f"{path}: no array {name!r}")
    if size > budget:
        raise RunFolderError(f"{path}: array {name!r} holds {size >> 20} MiB, more than {budget >> 20} MiB")
    return archive[name]


def load_samples(sample: SampleFile, budget: int = MAX_SAMPLE_BYTES) -> Samples:
    """Open one samples file; each array's stored size is checked against ``budget`` before it is read."""
    path = sample.path
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename: i.file_size for i in z.infolist()}
        with np.load(path, allow_pickle=False) as archive:
            truth = np.asarray(_array(archive, members, path, "truth", budget), np.float32)
            pred = np.asarray(_array(archive, members, path, "prediction", budget), np.float32)
            names = tuple(str(c) for c in _array(archive, members, path, "channels", 1 << 20))
            losses = _array(archive, members, path, "losses", budget) if "losses.npy" in members else None
            step = int(archive["step"]) if "step.npy" in members and members["step.npy"] < 1024 else None
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        if isinstance(exc, RunFolderError):
            raise
        raise RunFolderError(f"{path}: not a samples file ({exc})") from None
    if truth.shape != pred.shape or truth.ndim < 2 or truth.shape[1] != len(names):
        raise RunFolderError(
            f"{path}: truth {truth.shape} and prediction {pred.shape} do not pair over {len(names)} channels"
        )
    if losses is None:  # files written before per-sample losses were recorded: the pairs shown
        axes = tuple(range(1, truth.ndim))
        losses = np.mean((pred.astype(np.float64) - truth) ** 2, axis=axes) if truth.size else np.zeros(0)
    return Samples(sample.epoch, truth, pred, names, np.asarray(losses, np.float64).ravel(), step)
