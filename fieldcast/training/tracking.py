"""Run metrics: ``metrics.jsonl`` (append-only, one flushed JSON line per record) and optional mirrors.

Every record is a flat-ish dict with a ``kind`` (``step``, ``epoch``, ``validation``, ``checkpoint``,
``lr_change``, ``finished`` ...), the ``step`` and ``epoch`` it belongs to and a wall-clock ``time``.
TensorBoard and MLflow writers mirror the numeric values when asked for and importable.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fieldcast.engine.limits import MAX_JSON_LINE_BYTES, format_bytes, loads_json
from fieldcast.engine.run_folder import MAX_METRICS_BYTES

__all__ = ["MetricsWriter", "Tracker", "read_metrics"]

log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    """JSON-safe values: non-finite floats become strings ("nan", "inf") instead of invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left without its newline (its writer was killed), so appending after it keeps
    every line valid JSON; the cut bytes were never a complete record."""
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            block = min(size, 1 << 20)
            f.seek(size - block)
            tail = f.read(block)
            cut = tail.rfind(b"\n")
            f.truncate(size - block + cut + 1 if cut >= 0 else size - block)
    except FileNotFoundError:
        return


class MetricsWriter:
    """Append records to ``metrics.jsonl``; each line is written whole and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        _drop_torn_tail(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(_clean({**record, "time": round(time.time(), 3)}), allow_nan=False)
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_metrics(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a ``metrics.jsonl``, skipping a truncated last line (a run being written)."""
    with open(path, "rb") as f:
        data = f.read(MAX_METRICS_BYTES + 1)
    if len(data) > MAX_METRICS_BYTES:
        raise ValueError(f"{path}: larger than the {format_bytes(MAX_METRICS_BYTES)} of records read")
    lines = data.splitlines()
    for i, line in enumerate(lines):
        try:
            yield loads_json(line, f"line {i + 1}", max_bytes=MAX_JSON_LINE_BYTES)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                return
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
        except ValueError as exc:  # a record far larger or deeper than any the trainer writes
            raise ValueError(f"{path}: {exc}") from None


def _numbers(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in record.items():
        if key in ("step", "epoch", "time", "kind"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _numbers(value, name + "/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, float(value)


class Tracker:
    """``metrics.jsonl`` plus the optional TensorBoard / MLflow mirrors of the same records."""

    def __init__(
        self, run_dir: Path, tensorboard: bool = False, mlflow: bool = False, experiment: str = ""
    ) -> None:
        self.metrics = MetricsWriter(Path(run_dir) / "metrics.jsonl")
        self._tb = None
        self._mlflow = None
        if tensorboard:
            if importlib.util.find_spec("tensorboard") is not None:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))
            else:
                log.warning("tracking.tensorboard is on but tensorboard is not installed; skipped")
        if mlflow:
            if importlib.util.find_spec("mlflow") is not None:
                import mlflow as mlf

                mlf.set_experiment(experiment or "fieldcast")
                mlf.start_run(run_name=Path(run_dir).name)
                self._mlflow = mlf
            else:
                log.warning("tracking.mlflow is on but mlflow is not installed; skipped")

    def write(self, record: dict[str, Any]) -> None:
        self.metrics.write(record)
        if self._tb is None and self._mlflow is None:
            return
        step = int(record.get("step", 0))
        for name, value in _numbers(record, f"{record.get('kind', 'record')}/"):
            if self._tb is not None:
                self._tb.add_scalar(name, value, step)
            if self._mlflow is not None:
                self._mlflow.log_metric(name.replace("@", "_"), value, step=step)

    def close(self) -> None:
        self.metrics.close()
        if self._tb is not None:
            self._tb.close()
        if self._mlflow is not None:
            self._mlflow.end_run()
