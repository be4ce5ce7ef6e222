"""The report of a training run or an exported model: one self-contained HTML page and ``metrics.json``.

:func:`iter_report` reads a run folder (:mod:`fieldcast.engine.run_folder`) and, when there is an exported
model and a dataset, evaluates the model beside the persistence and physics baselines
(:func:`fieldcast.engine.evaluate.iter_evaluate_model`). The page has these sections, each present in every
report (saying why it is empty when the run or model has nothing for it):

``recipe`` (recipe and provenance), ``curves`` (loss and learning rate), ``validation`` (validation metrics by
channel), ``evaluation`` (the table with the baselines), ``rollout`` (rollout error against horizon),
``cases`` (truth / prediction / error of chosen test cases), ``samples`` (the saved validation samples: the
newest, the first five and last five validations, the per-sample loss distribution) and ``system`` (the
pictures the system's plug-in contributes, :mod:`fieldcast.engine.report_systems`).

Only the samples files the page shows are opened, so a run with many validations reports as fast as a
short one. Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fieldcast.engine import report_evaluation as rev
from fieldcast.engine import report_figures as rf
from fieldcast.engine import report_html as rh
from fieldcast.engine.files import atomic_write
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.report_tables import evaluation_table, run_facts
from fieldcast.engine.run_folder import RunRecord, Samples, is_run_folder, load_samples, read_run

__all__ = ["REPORT_NAME", "SECTIONS", "ReportDone", "ReportOptions", "iter_report", "resolve_source"]

REPORT_NAME = "report.html"
#: the section anchors of every report, in page order
SECTIONS = ("recipe", "curves", "validation", "evaluation", "rollout", "cases", "samples", "system")
_GRID_VALIDATIONS = 5  # validations in the first-five and last-five grids
_MAX_CASE_ROWS = 6  # rows (case x channel) in the test-case grid


@dataclass
class ReportOptions:
    """What to evaluate and show: split, horizons (frames), trajectories evaluated, test cases drawn."""

    split: str = "test"
    horizons: Sequence[int] = (10, 50, 200)
    trajectories: int = 4
    cases: int = 2


@dataclass
class ReportDone:
    """The files written, the samples files read, and notes on anything left out."""

    html: Path
    metrics: Path
    samples_read: int
    notes: list[str] = field(default_factory=list)


def resolve_source(source: Path, data: Path | None) -> tuple[Path | None, Path | None, Path | None]:
    """``(run folder or None, model file or None, dataset or None)`` for a run folder or a model file.

    A model inside a run folder brings its run; a run brings its ``model.onnx`` when it was exported. The
    dataset is ``data`` if given, else the one the run (or the model's provenance) trained on, if it exists.
    Raises ValueError naming ``source`` when it is neither.
    """
    source = Path(source)
    if source.is_dir():
        if not is_run_folder(source):
            raise ValueError(f"{source}: not a run folder (it has no config.yaml or run.json)")
        run, model = source, source / "model.onnx"
        model = model if model.is_file() else None
    elif source.is_file():
        if source.suffix.lower() != ".onnx":
            raise ValueError(f"{source}: not a run folder or an exported model (.onnx)")
        model = source
        run = source.parent if is_run_folder(source.parent) else None
    else:
        raise ValueError(f"{source}: no such run folder or model")
    return run, model, data


def _trained_data(run: RunRecord | None, provenance: dict[str, Any]) -> Path | None:
    candidates = [((run.config.get("data") or {}).get("path") if run else None), provenance.get("data_path")]
    for value in candidates:
        if isinstance(value, str) and value and Path(value).is_file():
            return Path(value)
    return None


def _model_info(model: Path) -> Any:
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.engine.sequence_runtime import SequenceSession, is_sequence_model

    session = SequenceSession(model) if is_sequence_model(model) else ModelSession(model)
    return session.info


class _Builder:
    """Gathers what the report shows, then draws it into sections."""

    def __init__(self, options: ReportOptions) -> None:
        self.options = options
        self.run: RunRecord | None = None
        self.model: Path | None = None
        self.info: Any = None
        self.data: Path | None = None
        self.result: dict[str, Any] | None = None
        self.notes: list[str] = []
        self.loaded: dict[int, Samples] = {}

    # Samples: only those shown are opened ------------------------------------------------------------
    def samples(self, index: int) -> Samples | None:
        if index not in self.loaded:
            self.loaded[index] = load_samples(self.run.samples[index])
        return self.loaded[index]

    def shown_samples(self) -> tuple[list[Samples], list[Samples]]:
        n = len(self.run.samples) if self.run else 0
        first = [self.samples(i) for i in range(min(n, _GRID_VALIDATIONS))]
        last = [self.samples(i) for i in range(max(0, n - _GRID_VALIDATIONS), n)]
        return first, last

    # Sections ---------------------------------------------------------------------------------------
    def recipe(self) -> rh.Section:
        s = rh.Section("recipe", "Recipe and provenance")
        facts = run_facts(self.run, self.info, self.model, self.data)
        cut = next((i for i, (k, _) in enumerate(facts) if k == "exported model"), len(facts))
        parts = [("run", facts[:cut]), ("model", facts[cut:])]
        tables = "".join(rh.table([title, ""], rows, css="facts") for title, rows in parts if rows)
        s.add(f'<div class="cols">{tables}</div>')
        if self.run is not None and self.run.config:
            text = yaml.safe_dump(self.run.config, sort_keys=False)
            s.add(f"<details><summary>Recipe (config.yaml)</summary><pre>{rh.cell(text)}</pre></details>")
        elif self.info is not None and (self.info.metrics or self.info.model):
            s.add(
                rh.text(
                    "The model file carries no recipe; its model record and validation metrics at export:"
                )
            )
            model = self.info.model or {}
            s.add(
                rh.table(["", "value"], [("model", model.get("name")), ("arguments", str(model.get("args")))])
            )
        for note in self.notes:
            s.add(rh.text(f"Note: {note}"))
        return s

    def curves(self) -> rh.Section:
        s = rh.Section("curves", "Loss and learning rate")
        fig = rf.curves_figure(self.run.steps, self.run.validations, self.run.events) if self.run else None
        if fig is None:
            why = (
                "no run folder: an exported model keeps no training curves"
                if self.run is None
                else "no loss was logged"
            )
            return s.add(rh.text(why))
        n = len(self.run.steps.get("step", ()))
        return s.add(
            self._img(
                fig,
                "Loss and learning rate",
                f"{n} logged steps, {len(self.run.validations)} validations; log axes.",
            )
        )

    def validation(self) -> rh.Section:
        s = rh.Section("validation", "Validation metrics by channel")
        vals = self.run.validations if self.run else []
        if not vals:
            metrics = dict(self.info.metrics) if self.info is not None and self.info.metrics else {}
            if metrics:
                names = rf.validation_metric_names([metrics])
                s.add(rh.text("Validation metrics carried by the model file (at export):"))
                return s.add(rh.table(["metric", "value"], [(n, metrics[n]) for n in names]))
            return s.add(rh.text("no validation ran (or no run folder)"))
        fig = rf.validation_figure(vals)
        if fig is not None:
            s.add(
                self._img(
                    fig,
                    "Validation metrics",
                    "Dashed lines: the baselines (persistence, zero, linear filter) of the same metric.",
                )
            )
        names = rf.validation_metric_names(vals)
        monitor = self.run.sidecar.get("monitor") or "loss"
        scored = [v for v in vals if isinstance(v.get(monitor), (int, float))]
        best = min(scored, key=lambda v: v[monitor]) if scored else vals[-1]
        rows = [(n, vals[-1].get(n), best.get(n)) for n in names]
        header = [
            "metric",
            f"newest (step {vals[-1].get('step')})",
            f"best {monitor} (step {best.get('step')})",
        ]
        return s.add(rh.table(header, rows))

    def evaluation(self) -> tuple[rh.Section, rh.Section, rh.Section]:
        ev = rh.Section("evaluation", "Evaluation with the persistence and physics baselines")
        ro = rh.Section("rollout", "Rollout error against horizon")
        cs = rh.Section("cases", "Truth, prediction and error of test cases")
        if self.run is not None:
            fig = rf.validation_rollout_figure(self.run.validations)
            if fig is not None:
                ro.add(
                    self._img(
                        fig, "Validation rollout", "From the trainer's rollout test at each validation."
                    )
                )
        r = self.result
        if r is None:
            why = self._why_no_evaluation()
            for section in (ev, ro, cs):
                section.add(rh.text(why))
            return ev, ro, cs
        from fieldcast.engine.report_plots import evaluation_figures

        header, rows, marks, notes = evaluation_table(r)
        ev.add(rh.text(self._evaluated_on(r), note=False), rh.table(header, rows, marks))
        ev.add(*(rh.text(n) for n in notes))
        figures = dict(evaluation_figures(r))
        if r["task"] == "sequence":
            ro.add(self._img(rev.stream_error_figure(r), "Error along the stream", rev.STREAM_CAPTION))
            cs.add(
                self._img(
                    figures["error_over_time.png"],
                    "Error over time",
                    "Truth, model and physics baseline along the first test trajectory.",
                )
            )
            for name in ("scatter.png", "error_histogram.png", "axis_metrics.png"):
                ev.add(self._img(figures[name], name))
        else:
            ro.add(
                self._img(
                    figures["rollout_error.png"],
                    "Rollout error",
                    "The model against persistence, every predicted frame.",
                )
            )
            figures["rollout_case.png"].clear()
            physics = rev.physics_figure(r)
            if physics is not None:
                ev.add(
                    self._img(
                        physics,
                        "Physics metrics",
                        "Each physics metric of the prediction against that of the truth.",
                    )
                )
            fig = self._case_grid(r)
            cs.add(
                self._img(
                    fig,
                    "Test cases",
                    "Shared colour scale for truth and prediction; error in red/blue around zero.",
                )
            )
        return ev, ro, cs

    def samples_section(self) -> rh.Section:
        s = rh.Section("samples", "Validation samples over training")
        if self.run is None or not self.run.samples:
            why = (
                "no run folder"
                if self.run is None
                else "this run saved no validation samples (its task draws none)"
            )
            return s.add(rh.text(why))
        latest = self.samples(len(self.run.samples) - 1)
        first, last = self.shown_samples()
        units = self._units()
        rows = [
            (f"sample 0 — {c}", latest.truth[0, j], latest.prediction[0, j])
            for j, c in enumerate(latest.channels[:4])
        ]
        s.add(
            self._img(
                rf.field_triplets(rows, f"Newest validation (epoch {latest.epoch})", units), "Newest samples"
            )
        )
        s.add(
            self._img(
                rf.progression_figure(first, f"First {len(first)} validations", units=units),
                f"First {len(first)} validations",
                "Truth, prediction and difference of the first sample at each validation; shared scales.",
            )
        )
        if len(self.run.samples) > _GRID_VALIDATIONS:
            s.add(
                self._img(
                    rf.progression_figure(last, f"Last {len(last)} validations", units=units),
                    f"Last {len(last)} validations",
                    "Truth, prediction and difference of the first sample at each validation; shared scales.",
                )
            )
        fig = rf.loss_distribution_figure(latest, first[0] if first else None)
        n_losses = latest.losses.size
        s.add(
            self._img(fig, "Per-sample loss distribution", f"{n_losses} sample(s) at the newest validation.")
        )
        return s.add(
            rh.text(
                f"{len(self.run.samples)} validations saved samples; {len(self.loaded)} files read for "
                "this page."
            )
        )

    def system_section(self) -> rh.Section:
        from fieldcast.engine.report_systems import ReportInputs, system_pictures

        system = self._system()
        s = rh.Section("system", f"Pictures of the {system or 'unknown'} system")
        latest = self.samples(len(self.run.samples) - 1) if self.run and self.run.samples else None
        spec = self.run.sidecar.get("spec") if self.run else None
        inputs = ReportInputs(
            system, self.result, latest, self.data, spec or getattr(self.info, "spec", None)
        )
        pictures, notes = system_pictures(inputs)
        for p in pictures:
            s.add(self._img(p.figure, p.title, p.caption))
        s.add(*(rh.text(n) for n in notes))
        if not pictures and not notes:
            s.add(rh.text(f"system {system or '?'} adds no pictures of its own; the sections above cover it"))
        return s

    # Helpers ----------------------------------------------------------------------------------------
    def _img(self, fig: Any, title: str, caption: str = "") -> str:
        if fig is None:
            return ""
        return rh.img(rh.figure_png(fig), title, caption)

    def _system(self) -> str:
        if self.info is not None:
            return str(self.info.system)
        return self.run.system if self.run else ""

    def _units(self) -> dict[str, str]:
        if self.info is not None and self.info.output_units:
            return dict(zip(self.info.output_channels, self.info.output_units, strict=False))
        spec = self.run.sidecar.get("spec") if self.run else None
        units = {}
        for f in (spec or {}).get("fields", []):
            n = int((spec or {}).get("n_dims", 2))
            names = [f["name"]] if int(f.get("order", 0)) == 0 else [f"{f['name']}_{a}" for a in "xyz"[:n]]
            units.update({c: str(f.get("units", "")) for c in names})
        return units

    def _why_no_evaluation(self) -> str:
        if self.model is None:
            return "the run has no exported model: export it (fieldcast export RUN) to evaluate it here"
        if self.data is None:
            return "no dataset to evaluate on: give one (fieldcast report MODEL DATA)"
        return "the evaluation could not run (see the notes under Recipe and provenance)"

    def _evaluated_on(self, r: dict[str, Any]) -> str:
        split = f"{r['split']} split" + (f" ({r['split_note']})" if r.get("split_note") else "")
        model = Path(r.get("model", "")).name
        return f"{model} on {self.data.name}, {split}, {r['n_trajectories']} trajectories."

    def _case_grid(self, r: dict[str, Any]) -> Any:
        cases = r["arrays"].get("cases", [])[: self.options.cases]
        names = r["arrays"]["names"]
        per_case = max(1, _MAX_CASE_ROWS // max(1, len(cases)))
        rows = []
        for case in cases:
            label = f"trajectory {case['trajectory']}, +{case['horizon']}"
            rows += [
                (f"{label} — {c}", case["truth"][j], case["model"][j]) for j, c in enumerate(names[:per_case])
            ]
        units = dict(zip(names, r["arrays"]["units"], strict=False))
        title = f"{len(cases)} test case(s) at {cases[0]['horizon'] if cases else '?'} frames predicted"
        return rf.field_triplets(rows, title, units)


def iter_report(
    source: str | Path,
    data: str | Path | None = None,
    out: str | Path | None = None,
    options: ReportOptions | None = None,
    token: CancelToken | None = None,
) -> Generator[Progress, None, ReportDone]:
    """Write ``report.html`` and ``metrics.json`` of run folder or model ``source`` into ``out``.

    ``out`` defaults to the run folder (or the model's folder). ``data`` is evaluated on when given (an
    error with it raises); else the run's own dataset is used when it still exists (an error is noted on the
    page). Raises ValueError (and :class:`~fieldcast.engine.run_folder.RunFolderError`,
    :class:`~fieldcast.engine.runtime.ModelError`, OSError) naming the file at fault.
    """
    from fieldcast.engine.report_plots import json_ready, plots_unavailable, write_metrics

    problem = plots_unavailable()
    if problem:
        raise ValueError(problem.replace("pictures need", "a report needs", 1))
    token = token or CancelToken()
    options = options or ReportOptions()
    run_dir, model, data = resolve_source(Path(source), Path(data) if data else None)
    explicit = data is not None
    b = _Builder(options)
    b.model = model
    yield Progress("report", 0, 4, "reading the run")
    b.run = read_run(run_dir) if run_dir is not None else None
    if model is not None:
        b.info = _model_info(model)
    b.data = data or _trained_data(b.run, getattr(b.info, "provenance", {}) or {})
    if model is not None and b.data is not None:
        b.result = yield from _evaluate(b, explicit, token)
    token.raise_if_cancelled()
    yield Progress("report", 2, 4, "drawing")
    sections = [
        b.recipe(),
        b.curves(),
        b.validation(),
        *b.evaluation(),
        b.samples_section(),
        b.system_section(),
    ]
    name = b.run.name if b.run else model.name
    subtitle = " · ".join(
        x
        for x in (b._system(), b.run.task if b.run else getattr(b.info, "kind", ""), str(run_dir or model))
        if x
    )
    folder = Path(out) if out is not None else (run_dir or model.parent)
    folder.mkdir(parents=True, exist_ok=True)
    yield Progress("report", 3, 4, "writing")
    page = rh.page(f"Fieldcast report — {name}", subtitle, sections)
    html_path = folder / REPORT_NAME
    atomic_write(html_path, page.encode("utf-8"))
    summary = {
        "source": str(source),
        "run": _run_summary(b.run),
        "model": str(model) if model else None,
        "data": str(b.data) if b.data else None,
        "evaluation": json_ready(b.result) if b.result else None,
        "samples_shown": sorted(b.run.samples[i].path.name for i in b.loaded) if b.run else [],
        "notes": b.notes,
    }
    metrics = write_metrics(summary, folder)
    yield Progress("report", 4, 4, f"wrote {html_path}")
    return ReportDone(html_path, metrics, len(b.loaded), b.notes)


def _evaluate(
    b: _Builder, explicit: bool, token: CancelToken
) -> Generator[Progress, None, dict[str, Any] | None]:
    from fieldcast.engine.evaluate import iter_evaluate_model
    from fieldcast.engine.runtime import ModelError

    o = b.options
    try:
        return (
            yield from iter_evaluate_model(
                b.model, b.data, o.split, o.horizons, o.trajectories, token, keep_arrays=True
            )
        )
    except (ModelError, OSError, ValueError, KeyError) as exc:
        if explicit:
            raise
        b.notes.append(f"evaluation on {b.data} failed: {exc}")
        return None


def _run_summary(run: RunRecord | None) -> dict[str, Any] | None:
    if run is None:
        return None
    steps = run.steps.get("step")
    return {
        "folder": str(run.path),
        "name": run.name,
        "system": run.system,
        "task": run.task,
        "status": run.status.get("status"),
        "logged_steps": int(len(steps)) if steps is not None else 0,
        "validations": len(run.validations),
        "newest_validation": run.validations[-1] if run.validations else None,
        "samples_saved": len(run.samples),
    }
