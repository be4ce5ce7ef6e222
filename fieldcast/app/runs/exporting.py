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


def format_report(report: dict[str, Any]) -> str:
    """The parity report as a few lines a person reads: per variant, parity with torch and rollout error."""
    lines = [
        f"Run {report.get('run', '')}, {report.get('checkpoint', '')} weights, on {report.get('inputs', '')}."
    ]
    for variant, record in (report.get("variants") or {}).items():
        parity = record.get("parity", {})
        verdict = {True: "matches torch", False: "DOES NOT match torch"}.get(parity.get("ok"), "")
        size = record.get("bytes", 0) / 1e6
        lines.append(
            f"{variant} ({record.get('path', '')}, {size:.2f} MB): "
            f"max abs diff {_number(parity.get('max_abs'))}, "
            f"max rel diff {_number(parity.get('max_rel'))} {verdict}".rstrip()
        )
        rollout = record.get("rollout")
        if isinstance(rollout, dict) and "error" not in rollout:
            flat = {k: v for k, v in rollout.items() if isinstance(v, (int, float))}
            if flat:
                lines.append("    rollout error: " + ", ".join(f"{k} {_number(v)}" for k, v in flat.items()))
        elif isinstance(rollout, dict):
            lines.append(f"    rollout error not measured: {rollout['error']}")
    return "\n".join(lines)
