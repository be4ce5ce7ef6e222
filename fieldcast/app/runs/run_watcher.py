"""Follow the run folders of a workspace: the GUI's own runs, the CLI's and torchrun's alike.

A run folder (see :mod:`fieldcast.training.runs`) holds ``run.json`` (status), ``config.yaml`` (the resolved
recipe), ``metrics.jsonl`` (append-only records) and ``checkpoints/``. Nothing here imports torch: files are
read as JSON and YAML. ``metrics.jsonl`` is read incrementally from where the last read stopped; a last line
still being written (no newline yet) is left for the next read.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from fieldcast.engine.limits import MAX_JSON_LINE_BYTES, loads_json, loads_yaml, read_json_file

__all__ = ["RunInfo", "RunWatcher", "best_figures", "count_parameters", "model_text", "read_records"]

log = logging.getLogger("fieldcast.app")

#: bytes of ``metrics.jsonl`` read in one scan; a longer backlog is read over the following scans
_METRICS_CHUNK = 16 << 20
#: a safetensors JSON header larger than this is not one the trainer wrote
_MAX_HEADER_BYTES = 16 << 20
#: a resolved recipe is a page of settings
_MAX_CONFIG_BYTES = 1 << 20


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The complete JSON records of a ``metrics.jsonl``; a truncated or damaged line is skipped."""
    with open(path, "rb") as f:
        while True:
            line = f.readline(MAX_JSON_LINE_BYTES + 1)  # a line never costs more than the bound
            if not line.endswith(b"\n"):
                if len(line) <= MAX_JSON_LINE_BYTES:
                    return  # the end, or a last line still being written
                log.warning("%s: skipped a line longer than %d bytes", path, MAX_JSON_LINE_BYTES)
                while line and not line.endswith(b"\n"):
                    line = f.readline(MAX_JSON_LINE_BYTES + 1)
                continue
            try:
                yield loads_json(line, "a record")
            except ValueError as exc:  # not JSON, or nested far deeper than any record
                log.warning("%s: skipped a line that is not a record (%s)", path, exc)


def count_parameters(weights: Path) -> int | None:
    """Number of weights in a ``.safetensors`` file, read from its JSON header (no tensor is loaded)."""
    try:
        with open(weights, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > _MAX_HEADER_BYTES:  # never trust the size the file declares
                return None
            header = loads_json(f.read(size), "the header")
        return sum(math.prod(int(n) for n in t["shape"]) for k, t in header.items() if k != "__metadata__")
    except (OSError, ValueError, struct.error, AttributeError, KeyError, TypeError):
        return None


@dataclass
class RunInfo:
    """What the runs table shows about one run folder, kept up to date by :class:`RunWatcher`."""

    path: Path
    name: str = ""
    system: str = ""
    task: str = ""  # field_rollout, recurrent_field, sequence ...
    split: str = ""  # how the run's data was split, in one line
    dataset: str = ""  # the file it trained on
    model: str = ""
    parameters: int | None = None
    status: str = ""
    device: str = ""
    step: int = 0
    best_loss: float | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    started: float | None = None
    last_time: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    train_curve: list[tuple[int, float]] = field(default_factory=list)
    valid_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from the first record to the latest one."""
        if self.started is None or self.last_time is None:
            return None
        return self.last_time - self.started

    def add_record(self, record: dict[str, Any]) -> None:
        kind, step, t = record.get("kind"), int(record.get("step", 0)), record.get("time")
        if isinstance(t, (int, float)):
            self.started = t if self.started is None else self.started
            self.last_time = t
        self.step = max(self.step, step)
        if kind == "start":
            self.device = str(record.get("device", self.device))
        elif kind == "step" and isinstance(record.get("loss"), (int, float)):
            self.train_curve.append((step, float(record["loss"])))
        elif kind == "validation" and isinstance(record.get("loss"), (int, float)):
            loss = float(record["loss"])
            self.valid_curve.append((step, loss))
            if self.best_loss is None or loss < self.best_loss:
                self.best_loss = loss
                self.best_metrics = best_figures(record)


#: prefixes of the baselines a validation metric is reported beside
BASELINE_PREFIXES = ("persistence_", "zero_", "linear_")
#: keys of a validation record that are not metrics
_NOT_METRICS = ("kind", "step", "epoch", "time", "loss", "rollout")


def best_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures of a validation record worth a glance: per-channel MSE (``mse/<channel>``), else every
    metric that has a baseline beside it, followed by those baselines."""
    numbers = {
        k: float(v)
        for k, v in record.items()
        if k not in _NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    channels = {k: v for k, v in numbers.items() if k.startswith("mse/")}
    if channels:
        return channels
    out: dict[str, float] = {}
    for name, value in numbers.items():
        partners = [p + name for p in BASELINE_PREFIXES if p + name in numbers]
        if partners and not name.startswith(BASELINE_PREFIXES):
            out[name] = value
            out.update({p: numbers[p] for p in partners})
    return out


def model_text(model: dict[str, Any]) -> str:
    """``unet d1 b4``, ``convlstm h64``, ``lstm h56 l2``: the family and its size arguments."""
    args = model.get("args") or {}
    short = {"depth": "d", "base_width": "b", "hidden": "h", "hidden_size": "h", "num_layers": "l"}
    size = " ".join(f"{s}{args[k]}" for k, s in short.items() if k in args)
    return f"{model.get('name', '')} {size}".strip()


class _Follow:
    """Read position in one run folder's files."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self.offset = 0
        self.status_mtime = 0.0
        self.params_from = ""


class RunWatcher(QObject):
    """Scan ``runs_dir`` when it changes and on a timer; report runs added, updated and removed."""

    sig_run_added = Signal(str)
    """A run folder appeared (its path)."""
    sig_run_updated = Signal(str)
    """A run's status or metrics changed (its path)."""
    sig_run_removed = Signal(str)
    """A run folder disappeared (its path)."""

    def __init__(self, runs_dir: Path, interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self._runs: dict[Path, _Follow] = {}
        self._fs = QFileSystemWatcher(self)
        self._fs.directoryChanged.connect(self._on_folder_changed)
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.scan)

    def start(self) -> None:
        """Scan now and keep following."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        if str(self.runs_dir) not in self._fs.directories():
            self._fs.addPath(str(self.runs_dir))
        self.scan()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def runs(self) -> list[RunInfo]:
        return [f.info for f in self._runs.values()]

    def info(self, path: Path | str) -> RunInfo | None:
        follow = self._runs.get(Path(path))
        return follow.info if follow else None

    def scan(self) -> None:
        """Look at every run folder once: new ones, changed ones, gone ones."""
        found = set()
        if self.runs_dir.is_dir():
            for folder in self.runs_dir.iterdir():
                if folder.name.startswith(".") or not (folder / "run.json").is_file():
                    continue
                found.add(folder)
                new = folder not in self._runs
                if new:
                    self._runs[folder] = _Follow(RunInfo(folder, name=folder.name))
                changed = self._refresh(self._runs[folder])
                if new:
                    self.sig_run_added.emit(str(folder))
                elif changed:
                    self.sig_run_updated.emit(str(folder))
        for gone in set(self._runs) - found:
            del self._runs[gone]
            self.sig_run_removed.emit(str(gone))

    def _refresh(self, follow: _Follow) -> bool:
        changed = self._read_status(follow)
        changed |= self._read_metrics(follow)
        changed |= self._read_parameters(follow)
        return changed

    def _read_status(self, follow: _Follow) -> bool:
        info, path = follow.info, follow.info.path / "run.json"
        try:
            mtime = path.stat().st_mtime
            if mtime == follow.status_mtime:
                return False
            status = read_json_file(path, "run.json")
        except (OSError, ValueError):
            return False  # being replaced right now (the next scan reads it), or damaged
        if not isinstance(status, dict):
            return False
        follow.status_mtime = mtime
        info.status = str(status.get("status", ""))
        info.name = str(status.get("name") or info.path.name)
        if not info.config:
            info.config = self._read_config(info.path)
            model = info.config.get("model")
            info.model = model_text(model if isinstance(model, dict) else {})
            info.system = str(info.config.get("system") or "")
            data = info.config.get("data") if isinstance(info.config.get("data"), dict) else {}
            info.dataset = str(data.get("path") or "")
        info.task = str(status.get("task") or info.config.get("task") or "field_rollout")
        info.split = str(status.get("split") or _split_setting(info.config))
        if info.system in ("", "auto"):
            info.system = self._carried_system(info.path) or info.system
        return True

    @staticmethod
    def _carried_system(run_dir: Path) -> str:
        """The system a run's checkpoint carries (a recipe that says ``system: auto`` fits any)."""
        for tag in ("best", "last"):
            try:
                sidecar = read_json_file(run_dir / "checkpoints" / f"{tag}.json", "the sidecar")
            except (OSError, ValueError):
                continue
            if isinstance(sidecar, dict) and sidecar.get("system"):
                return str(sidecar["system"])
        return ""

    @staticmethod
    def _read_config(run_dir: Path) -> dict[str, Any]:
        try:
            with open(run_dir / "config.yaml", "rb") as f:
                raw = f.read(_MAX_CONFIG_BYTES + 1)
            if len(raw) > _MAX_CONFIG_BYTES:
                return {}
            data = loads_yaml(raw.decode("utf-8"))
        except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8, too deep, an alias bomb
            return {}
        return data if isinstance(data, dict) else {}

    def _read_metrics(self, follow: _Follow) -> bool:
        path = follow.info.path / "metrics.jsonl"
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if size < follow.offset:  # rewritten: start over
            follow.offset = 0
            follow.info.train_curve.clear()
            follow.info.valid_curve.clear()
        if size == follow.offset:
            return False
        with open(path, "rb") as f:
            f.seek(follow.offset)
            chunk = f.read(min(size - follow.offset, _METRICS_CHUNK))
        end = chunk.rfind(b"\n") + 1  # a last line without its newline is still being written
        if end == 0 and len(chunk) == _METRICS_CHUNK:
            end = len(chunk)  # one line longer than a whole chunk is no record: skip it
        for line in chunk[:end].splitlines():
            try:
                record = loads_json(line, "a record", max_bytes=MAX_JSON_LINE_BYTES)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                follow.info.add_record(record)
            except (TypeError, ValueError) as exc:  # not JSON, too large or deep, or a step that is no number
                log.warning("%s: skipped a line that is not a record (%s)", path, exc)
        follow.offset += end
        return end > 0

    def _read_parameters(self, follow: _Follow) -> bool:
        folder = follow.info.path / "checkpoints"
        for tag in ("best", "last"):
            weights = folder / f"{tag}.safetensors"
            if weights.is_file():
                if follow.params_from == str(weights):
                    return False
                follow.params_from = str(weights)
                follow.info.parameters = count_parameters(weights)
                if follow.info.system in ("", "auto"):
                    follow.info.system = self._carried_system(follow.info.path) or follow.info.system
                return True
        return False

    # Slots --------------------------------------------------------------------------------------------
    def _on_folder_changed(self, _path: str) -> None:
        self.scan()


def _split_setting(config: dict[str, Any]) -> str:
    """The ``data.split`` of a resolved recipe in words (runs written before the split note existed)."""
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    split = data.get("split")
    if isinstance(split, list) and split:
        return "along time " + ":".join(f"{float(v):g}" for v in split)
    return "the file's stored split" if split == "stored" else ""
