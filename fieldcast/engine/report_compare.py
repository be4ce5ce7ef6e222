"""A comparison report of several runs: curves overlaid, metrics side by side with the best marked, and the
recipe differences. Written as one self-contained ``report.html`` with ``metrics.json`` beside it.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from fieldcast.engine import report_figures as rf
from fieldcast.engine import report_html as rh
from fieldcast.engine.files import atomic_write
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.report import REPORT_NAME, ReportDone
from fieldcast.engine.run_folder import RunRecord, read_run

__all__ = ["COMPARE_SECTIONS", "best_validation", "flatten", "iter_compare_report"]

#: the section anchors of a comparison report
COMPARE_SECTIONS = ("runs", "curves", "metrics", "recipe")
_MAX_RUNS = 12


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` → ``{"optim.lr": 1}``; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def best_validation(run: RunRecord) -> dict[str, Any] | None:
    """The validation record with the lowest monitored value (``loss`` unless the run says otherwise)."""
    monitor = run.sidecar.get("monitor") or "loss"
    scored = [v for v in run.validations if isinstance(v.get(monitor), (int, float))]
    if scored:
        return min(scored, key=lambda v: v[monitor])
    return run.validations[-1] if run.validations else None


def _curves(runs: Sequence[RunRecord]) -> Any:
    from matplotlib import colormaps

    colours = colormaps["tab10"]
    fig = rf.figure(12.0, 4.6)
    ax_loss, ax_val, ax_lr = fig.subplots(1, 3)
    drawn: dict[Any, list] = {ax_loss: [], ax_val: [], ax_lr: []}
    for i, run in enumerate(runs):
        colour, steps = colours(i % 10), run.steps
        if "loss" in steps and len(steps["step"]):
            ax_loss.plot(steps["step"], steps["loss"], lw=0.9, color=colour, label=run.path.name)
            drawn[ax_loss].append(steps["loss"])
        if "lr" in steps and len(steps["step"]):
            ax_lr.plot(steps["step"], steps["lr"], lw=1.0, color=colour, label=run.path.name)
            drawn[ax_lr].append(steps["lr"])
        vs = [(v["step"], v["loss"]) for v in run.validations if isinstance(v.get("loss"), (int, float))]
        if vs:
            x, y = zip(*vs, strict=True)
            ax_val.plot(x, y, "o-", ms=3, lw=1.2, color=colour, label=run.path.name)
            drawn[ax_val].append(list(y))
    for ax, title, label in (
        (ax_loss, "Training loss", "loss (task units)"),
        (ax_val, "Validation loss", "loss (task units)"),
        (ax_lr, "Learning rate", "learning rate (1/step)"),
    ):
        rf.log_if_any_positive(ax, *drawn[ax])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        if drawn[ax]:
            ax.legend(fontsize=7)
    return fig


def _metric_table(runs: Sequence[RunRecord]) -> tuple[list[str], list[list[Any]], dict]:
    """Rows of metrics, one column per run (the best validation of each), the best error or score marked."""
    bests = [best_validation(r) or {} for r in runs]
    names = ["loss", *rf.validation_metric_names([b for b in bests if b])]
    rows: list[list[Any]] = [
        ["steps", *(r.status.get("step") for r in runs)],
        ["validations", *(len(r.validations) for r in runs)],
    ]
    marks: dict[tuple[int, int], str] = {}
    for name in dict.fromkeys(names):
        values = [b.get(name) for b in bests]
        row = len(rows)
        rows.append([name, *values])
        numbers = [(v, c) for c, v in enumerate(values, start=1) if isinstance(v, (int, float)) and v == v]
        ranked = name == "loss" or rf.is_error(name) or rf.is_score(name)  # a physics metric has no "best"
        if len(numbers) > 1 and ranked and not name.startswith(rf.BASELINE_PREFIXES):
            pick = max if rf.is_score(name) else min
            best_value = pick(v for v, _ in numbers)
            for v, c in numbers:
                if v == best_value:
                    marks[(row, c)] = "best"
    return ["metric (best validation)", *(r.path.name for r in runs)], rows, marks


def _recipe_table(runs: Sequence[RunRecord]) -> tuple[list[str], list[list[Any]], dict, int]:
    flat = [flatten(r.config) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    rows, marks = [], {}
    for key in keys:
        values = [f.get(key, "—") for f in flat]
        if len({repr(v) for v in values}) > 1:
            row = len(rows)
            rows.append([key, *values])
            marks.update({(row, c): "diff" for c in range(1, len(values) + 1)})
    return ["recipe setting", *(r.path.name for r in runs)], rows, marks, len(keys)


def iter_compare_report(
    run_dirs: Sequence[str | Path], out: str | Path, token: CancelToken | None = None
) -> Generator[Progress, None, ReportDone]:
    """Write the comparison of ``run_dirs`` (2 to 12 run folders) into ``out``."""
    from fieldcast.engine.report_plots import plots_unavailable, write_metrics

    problem = plots_unavailable()
    if problem:
        raise ValueError(problem.replace("pictures need", "a report needs", 1))
    if not 2 <= len(run_dirs) <= _MAX_RUNS:
        raise ValueError(f"a comparison takes 2 to {_MAX_RUNS} run folders, got {len(run_dirs)}")
    token = token or CancelToken()
    runs = []
    for i, path in enumerate(run_dirs):
        token.raise_if_cancelled()
        runs.append(read_run(Path(path)))
        yield Progress("report", i + 1, len(run_dirs) + 1, f"read {Path(path).name}")
    facts = [
        [
            r.path.name,
            r.system or "?",
            r.task or "?",
            r.status.get("status"),
            r.status.get("split"),
            str(r.path),
        ]
        for r in runs
    ]
    runs_section = rh.Section("runs", "Runs compared").add(
        rh.table(["run", "system", "task", "status", "split", "folder"], facts)
    )
    curves = rh.Section("curves", "Curves overlaid").add(
        rh.img(rh.figure_png(_curves(runs)), "Curves", "Log axes; each colour one run.")
    )
    header, rows, marks = _metric_table(runs)
    metrics = rh.Section("metrics", "Metrics side by side").add(
        rh.text(
            "Each run's best validation (lowest monitored value). Bold: the best value of each error or "
            "score (lowest error, highest R²); physics metrics are not ranked."
        ),
        rh.table(header, rows, marks),
    )
    header, rows, marks, n_keys = _recipe_table(runs)
    recipe = rh.Section("recipe", "Recipe differences")
    if rows:
        recipe.add(rh.text(f"{len(rows)} of {n_keys} settings differ."), rh.table(header, rows, marks))
    else:
        recipe.add(rh.text(f"The recipes are identical ({n_keys} settings)."))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(r.path.name for r in runs)
    page = rh.page(f"Fieldcast comparison — {len(runs)} runs", names, [runs_section, curves, metrics, recipe])
    html_path = folder / REPORT_NAME
    atomic_write(html_path, page.encode("utf-8"))
    summary = {
        "compared": [str(r.path) for r in runs],
        "best_validation": {r.path.name: best_validation(r) for r in runs},
        "recipe_differences": {row[0]: row[1:] for row in rows},
    }
    metrics_path = write_metrics(summary, folder)
    yield Progress("report", len(run_dirs) + 1, len(run_dirs) + 1, f"wrote {html_path}")
    return ReportDone(html_path, metrics_path, 0, [])
