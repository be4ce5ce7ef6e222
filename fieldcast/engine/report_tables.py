"""The tables of a report: the facts of a run and model, and the evaluation beside its baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["evaluation_table", "run_facts"]

_SEQUENCE_COLUMNS = (
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("r2", "R²"),
    ("corr", "corr"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("nmse", "nmse"),
)
_HIGHER_IS_BETTER = ("r2", "corr")


def run_facts(run: Any, info: Any, model: Path | None, data: Path | None) -> list[tuple[str, Any]]:
    """``(label, value)`` rows: what was trained, on what, how far, and where the model came from."""
    rows: list[tuple[str, Any]] = []
    if run is not None:
        status, side = run.status, run.sidecar
        start = next((e for e in run.events if e.get("kind") == "start"), {})
        rows += [
            ("run folder", str(run.path)),
            ("run", run.name),
            ("system", run.system or "?"),
            ("task", run.task or "?"),
            ("model", (run.config.get("model") or {}).get("name")),
            ("status", status.get("status")),
            ("steps / epochs", f"{status.get('step', '?')} / {status.get('epoch', '?')}"),
            ("split", status.get("split") or side.get("split")),
            ("device", start.get("device")),
            ("recipe hash", status.get("config_hash")),
            ("data", (side.get("data") or {}).get("path") or (run.config.get("data") or {}).get("path")),
            ("data hash", (side.get("data") or {}).get("hash")),
            ("best checkpoint", _checkpoint(side)),
            ("last update", status.get("updated")),
        ]
    if info is not None:
        prov = dict(info.provenance or {})
        record = info.model or {}
        rows += [
            ("exported model", str(model)),
            ("model system / kind", f"{info.system} / {getattr(info, 'kind', 'sequence')}"),
            ("model family", record.get("name")),
            ("variant", getattr(info, "variant", "fp32")),
            ("inputs", ", ".join(info.input_channels)),
            ("outputs", ", ".join(info.output_channels)),
            (
                "trained from",
                f"run {prov.get('run')}, {prov.get('checkpoint')} checkpoint at step {prov.get('step')}",
            ),
            ("trained / exported", f"{prov.get('trained')} / {prov.get('exported')}"),
            ("model data hash", prov.get("data_hash")),
            ("Fieldcast version", prov.get("fieldcast")),
        ]
    rows.append(("evaluated on", str(data) if data else "—"))
    return [(k, v) for k, v in rows if v not in (None, "")]


def _checkpoint(side: dict[str, Any]) -> str | None:
    if not side:
        return None
    metric = side.get("metric")
    value = f"{metric:.4g}" if isinstance(metric, (int, float)) else metric
    return f"step {side.get('step')}, {side.get('monitor')} {value}"


def _better(a: float | None, b: float | None, higher: bool) -> bool:
    if a is None or b is None or a != a:
        return False
    return a > b if higher else a < b


def _mark_best(rows: list[list[Any]], groups: list[list[int]], columns: range, higher: set[int]) -> dict:
    """CSS marks on the best value of each column within each group of rows."""
    marks: dict[tuple[int, int], str] = {}
    for group in groups:
        for c in columns:
            best = None
            for r in group:
                v = rows[r][c]
                if (
                    isinstance(v, (int, float))
                    and v == v
                    and (best is None or _better(v, rows[best][c], c in higher))
                ):
                    best = r
            if best is not None and len(group) > 1:
                marks[(best, c)] = "best"
    return marks


def _field_table(r: dict[str, Any]):
    horizons = sorted(r["horizons"], key=int)
    first = r["horizons"][horizons[0]]
    keys = [k for k in first if k == "nmse" or k.startswith("rmse/")]
    persistence = r["baselines"]["persistence"]
    rows, groups = [], []
    for h in horizons:
        base = persistence.get(h, persistence.get(str(h), {}))
        groups.append([len(rows), len(rows) + 1])
        rows.append([f"+{h} frames", "model", *(r["horizons"][h].get(k) for k in keys)])
        rows.append([f"+{h} frames", "persistence (last true state)", *(base.get(k) for k in keys)])
    marks = _mark_best(rows, groups, range(2, 2 + len(keys)), set())
    notes = [
        f"physics baseline: none for system {r.get('system', '?')!r}; persistence copies the last true "
        "state.",
        "nmse: MSE in units of each channel's train-split variance; rmse in the channel's unit. Bold: the "
        "better predictor at that horizon.",
    ]
    return ["horizon", "predictor", *keys], rows, marks, notes


def _sequence_table(r: dict[str, Any]):
    names = r["baseline_names"]
    predictors = [("model", r["metrics"])]
    for key in ("physics", "linear", "persistence"):
        if key in r["baselines"]:
            predictors.append((f"{names.get(key, key)} ({key})", r["baselines"][key]))
    units = r.get("units", {})
    rows, groups = [], []
    for channel, unit in units.items():
        group = []
        for label, metrics in predictors:
            group.append(len(rows))
            rows.append(
                [label, f"{channel} ({unit})", *(metrics.get(f"{k}/{channel}") for k, _ in _SEQUENCE_COLUMNS)]
            )
        groups.append(group)
    higher = {2 + i for i, (k, _) in enumerate(_SEQUENCE_COLUMNS) if k in _HIGHER_IS_BETTER}
    marks = _mark_best(rows, groups, range(2, 2 + len(_SEQUENCE_COLUMNS)), higher)
    notes = [
        "p50/p90/p99: percentiles of |prediction − truth|; nmse: MSE in train-split variances. Bold: the "
        "best predictor of each channel."
    ]
    if "physics" not in r["baselines"]:
        notes.insert(0, f"physics baseline: none for system {r.get('system', '?')!r}")
    return ["predictor", "channel", *(t for _, t in _SEQUENCE_COLUMNS)], rows, marks, notes


def evaluation_table(r: dict[str, Any]) -> tuple[list[str], list[list[Any]], dict, list[str]]:
    """``(header, rows, marks, notes)`` of an evaluation result, the best value of each comparison marked."""
    return _sequence_table(r) if r["task"] == "sequence" else _field_table(r)
