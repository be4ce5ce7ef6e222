"""Export a run to ONNX in the background and put its parity report into words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldcast.engine.jobs import CancelToken

__all__ = ["ExportDone", "export_job", "format_report"]


@dataclass(frozen=True)
class ExportDone:
    """Last event of an export job: the exported model and the exporter's report."""

    model: Path
    report: dict[str, Any]


def export_job(run_dir: Path):
    """A JobWorker factory exporting ``run_dir`` (best weights) to ``run_dir/model.onnx``."""

    def job(token: CancelToken) -> Iterator[Any]:
        from fieldcast.training.export import export_run

        report = yield from export_run(run_dir, token=token)
        yield ExportDone(Path(run_dir) / "model.onnx", report)

    return job


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else str(value)


def _note(record: dict[str, Any]) -> str:
    """A variant's own words about itself (why it cannot exist, what was not measured)."""
    if isinstance(record.get("not_applicable"), str):
        return f"not applicable: {record['not_applicable']}"
    for key in ("note", "reason", "message"):
        if isinstance(record.get(key), str) and record[key]:
            return record[key]
    return ""


def format_report(report: dict[str, Any]) -> str:
    """The parity report as a few lines a person reads: per variant, parity with torch and rollout error.

    Any kind of run (field, recurrent, sequence) reports the same way; a variant that cannot exist for a
    model says so in its own words.
    """
    lines = [
        f"Run {report.get('run', '')}, {report.get('checkpoint', '')} weights, on {report.get('inputs', '')}."
    ]
    for variant, record in (report.get("variants") or {}).items():
        if not isinstance(record, dict):
            lines.append(f"{variant}: {record}")
            continue
        parity = record.get("parity") if isinstance(record.get("parity"), dict) else {}
        if not parity:
            lines.append(f"{variant}: {_note(record) or 'no parity measured'}")
            continue
        verdict = {True: "matches torch", False: "DOES NOT match torch"}.get(parity.get("ok"), "")
        size = (record.get("bytes") or 0) / 1e6
        lines.append(
            f"{variant} ({record.get('path', '')}, {size:.2f} MB): "
            f"max abs diff {_number(parity.get('max_abs'))}, "
            f"max rel diff {_number(parity.get('max_rel'))} {verdict}".rstrip()
        )
        if note := _note(record):
            lines.append(f"    {note}")
        rollout = record.get("rollout")
        if isinstance(rollout, dict) and "error" not in rollout:
            flat = {k: v for k, v in rollout.items() if isinstance(v, (int, float))}
            if flat:
                lines.append("    rollout error: " + ", ".join(f"{k} {_number(v)}" for k, v in flat.items()))
        elif isinstance(rollout, dict):
            lines.append(f"    rollout error not measured: {rollout['error']}")
    for note in report.get("notes") or ():
        lines.append(str(note))
    return "\n".join(lines)
