"""The Runs panel: the workspace's training runs, followed live, compared, resumed, exported, deleted."""

from __future__ import annotations

import html
import importlib.util
import logging
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QSplitter, QVBoxLayout, QWidget

from fieldcast.app.panel import Panel
from fieldcast.app.runs.compare import CompareView
from fieldcast.app.runs.exporting import ExportDone, export_job, format_report
from fieldcast.app.runs.reporting import report_job
from fieldcast.app.runs.run_table import RunTable, figures_text
from fieldcast.app.runs.run_watcher import RunWatcher
from fieldcast.app.workers import JobWorker

__all__ = ["RunsPanel", "export_available", "run_details"]

log = logging.getLogger("fieldcast.app")

_RESUMABLE = ("cancelled", "failed", "diverged")


def run_details(info: Any) -> str:
    """One run in a few lines (rich text): what it trains, how its data was split, its best figures."""
    e = html.escape
    model = f", model {e(info.model)}" if info.model else ""
    lines = [f"<b>{e(info.path.name)}</b>: {e(info.system or '?')} data, task {e(info.task)}{model}"]
    lines.append(f"<b>Split</b> {e(info.split) if info.split else 'not recorded'}")
    if info.dataset:
        lines.append(f"<b>Data</b> {e(info.dataset)}")
    if info.best_metrics:
        lines.append(f"<b>Best</b> {e(figures_text(info.best_metrics))}")
    return "<br>".join(lines)


def export_available() -> bool:
    """True when ``fieldcast.training.export`` is installed (checked without importing torch)."""
    spec = importlib.util.find_spec("fieldcast.training")
    folders = spec.submodule_search_locations if spec is not None else None
    return any((Path(f) / "export.py").is_file() or (Path(f) / "export").is_dir() for f in folders or ())


class RunsPanel(Panel):
    """A live table of run folders, a comparison of the selected runs, and actions on a run."""

    name = "runs"
    title = "Runs"

    sig_resume_requested = Signal(str)
    """Continue this run folder from its last checkpoint (the window hands it to the Train panel)."""
    sig_open_paths = Signal(list)
    """Open these files (list of str) in the panel that takes them, e.g. an exported model.onnx in Play."""

    def __init__(self, runs_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self.watcher = RunWatcher(self.runs_dir, parent=self)
        self.table = RunTable()
        self.compare = CompareView()
        self.resume_button = QPushButton("Resume", objectName="resume_run")
        self.export_button = QPushButton("Export to ONNX", objectName="export_run")
        self.play_button = QPushButton("Open in Play", objectName="play_run")
        self.report_button = QPushButton("Report", objectName="report_run")
        self.folder_button = QPushButton("Open folder", objectName="open_run_folder")
        self.delete_button = QPushButton("Delete…", objectName="delete_run")
        self.summary = QLabel(objectName="runs_summary")
        self.details = QLabel(objectName="run_details", wordWrap=True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_worker: JobWorker | None = None
        self.report_worker: JobWorker | None = None
        self.report_dialog: QMessageBox | None = None
        self.last_report: Path | None = None
        self._build()
        self._connect()
        self.watcher.start()
        self._on_selection_changed()

    def _build(self) -> None:
        bar = QHBoxLayout()
        buttons = (self.resume_button, self.export_button, self.play_button, self.report_button)
        for button in (*buttons, self.folder_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.summary)
        bar.addWidget(self.delete_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.compare)
        split.setSizes([300, 400])
        box = QVBoxLayout(self)
        box.addLayout(bar)
        box.addWidget(self.details)
        box.addWidget(split, 1)

    def _connect(self) -> None:
        self.watcher.sig_run_added.connect(self._on_run_changed)
        self.watcher.sig_run_updated.connect(self._on_run_changed)
        self.watcher.sig_run_removed.connect(self._on_run_removed)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.play_button.clicked.connect(self._on_play_clicked)
        self.report_button.clicked.connect(self._on_report_clicked)
        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)

    # Public API ---------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Select run folder ``path`` (the panel takes folders only through this call)."""
        self.watcher.scan()
        self.table.select_paths([Path(path)])
        self.sig_show_me.emit()

    def refresh(self) -> None:
        """Re-read the run folders now instead of at the next poll."""
        self.watcher.scan()

    def shutdown(self) -> None:
        for worker in (self.export_worker, self.report_worker):
            if worker is not None:
                worker.cancel()
                worker.wait()
        self.watcher.stop()
        self.compare.plot.stop()

    # Helpers ------------------------------------------------------------------------------------------
    def _selected(self) -> list[Any]:
        return [info for p in self.table.selected_paths() if (info := self.watcher.info(p)) is not None]

    def _update_actions(self) -> None:
        runs = self._selected()
        one = runs[0] if len(runs) == 1 else None
        last = one.path / "checkpoints" / "last.safetensors" if one else None
        self.resume_button.setEnabled(bool(one and one.status in _RESUMABLE and last.is_file()))
        self.resume_button.setToolTip(
            "Continue the selected run from its last checkpoint in the Train panel"
            if self.resume_button.isEnabled()
            else "Select one stopped run that has a checkpoint"
        )
        has_export = export_available()
        exporting = self.export_worker is not None
        self.export_button.setEnabled(bool(one) and has_export and one.status != "running" and not exporting)
        self.export_button.setToolTip(
            "Export the best weights to model.onnx and check its parity with torch"
            if has_export
            else "Export to ONNX is not available in this build yet"
        )
        model = one.path / "model.onnx" if one else None
        self.play_button.setEnabled(bool(model and model.is_file()))
        self.play_button.setToolTip(
            "Open model.onnx in Play" if self.play_button.isEnabled() else "Export the run first"
        )
        self.folder_button.setEnabled(bool(one))
        self._update_report_action(runs)
        self.delete_button.setEnabled(bool(runs) and all(r.status != "running" for r in runs))

    def _update_report_action(self, runs: list[Any]) -> None:
        from fieldcast.engine.report_plots import plots_unavailable

        missing = plots_unavailable()
        self.report_button.setEnabled(bool(runs) and self.report_worker is None and missing is None)
        if missing:
            self.report_button.setToolTip(f"Reports: {missing}")
        elif len(runs) > 1:
            self.report_button.setToolTip("Write a report comparing the selected runs and open it")
        else:
            self.report_button.setToolTip(
                "Write report.html into the run folder (curves, metrics, samples, evaluation) and open it"
            )

    def _confirm_delete(self, names: list[str]) -> bool:
        listed = "\n".join(names[:10]) + ("\n…" if len(names) > 10 else "")
        answer = QMessageBox.question(
            self,
            "Delete runs",
            f"Delete {len(names)} run folder(s) with their checkpoints and metrics?\n\n{listed}\n\n"
            "This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    # Slots --------------------------------------------------------------------------------------------
    def _on_run_changed(self, path: str) -> None:
        info = self.watcher.info(path)
        if info is not None:
            self.table.runs.upsert(info)
        if Path(path) in self.table.selected_paths():
            self._on_selection_changed()
        self.summary.setText(f"{self.table.runs.rowCount()} runs in {self.runs_dir}")

    def _on_run_removed(self, path: str) -> None:
        self.table.runs.remove(Path(path))
        self.summary.setText(f"{self.table.runs.rowCount()} runs in {self.runs_dir}")

    def _on_selection_changed(self, *_args: Any) -> None:
        runs = self._selected()
        self.compare.set_runs(runs)
        self.details.setText(run_details(runs[0]) if len(runs) == 1 else "")
        self.details.setVisible(len(runs) == 1)
        self._update_actions()

    def _on_resume_clicked(self) -> None:
        runs = self._selected()
        if len(runs) == 1:
            self.sig_resume_requested.emit(str(runs[0].path))

    def _on_export_clicked(self) -> None:
        runs = self._selected()
        if len(runs) != 1 or self.export_worker is not None:
            return
        worker = JobWorker(export_job(runs[0].path), name="export")
        worker.sig_event.connect(self._on_export_event)
        worker.sig_error.connect(self._on_export_error)
        worker.sig_finished.connect(self._on_export_finished)
        self.export_worker = worker
        self.sig_status.emit(f"Exporting {runs[0].path.name} to ONNX…")
        worker.start()
        self._update_actions()

    def _on_export_event(self, event: Any) -> None:
        if isinstance(event, ExportDone):
            self._show_report(event)
        elif type(event).__name__ == "Progress" and event.message:
            self.sig_status.emit(f"Export: {event.message}")

    def _show_report(self, done: ExportDone) -> None:
        dialog = QMessageBox(
            QMessageBox.Icon.Information, "Exported to ONNX", f"Wrote {done.model}", parent=self
        )
        dialog.setObjectName("export_report")
        dialog.setInformativeText(format_report(done.report))
        self.report_dialog = dialog
        dialog.open()

    def _on_export_error(self, message: str, details: str) -> None:
        dialog = QMessageBox(QMessageBox.Icon.Warning, "Export failed", message, parent=self)
        dialog.setInformativeText("The run folder and its checkpoints are unchanged.")
        dialog.setDetailedText(details)
        self.report_dialog = dialog
        dialog.open()

    def _on_export_finished(self, _status: str) -> None:
        self.export_worker = None
        self.watcher.scan()
        self._update_actions()

    def _on_report_clicked(self) -> None:
        runs = self._selected()
        if not runs or self.report_worker is not None:
            return
        worker = JobWorker(report_job([r.path for r in runs], self.runs_dir), name="report")
        worker.sig_event.connect(self._on_report_event)
        worker.sig_error.connect(self._on_report_error)
        worker.sig_finished.connect(self._on_report_finished)
        self.report_worker = worker
        what = runs[0].path.name if len(runs) == 1 else f"a comparison of {len(runs)} runs"
        self.sig_status.emit(f"Writing the report of {what}…")
        worker.start()
        self._update_actions()

    def _on_report_event(self, event: Any) -> None:
        if type(event).__name__ == "ReportDone":
            self.last_report = event.html
            self.sig_status.emit(f"Report written: {event.html}")
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(event.html)))
        elif type(event).__name__ == "Progress" and event.message:
            self.sig_status.emit(f"Report: {event.message}")

    def _on_report_error(self, message: str, details: str) -> None:
        dialog = QMessageBox(QMessageBox.Icon.Warning, "Report failed", message, parent=self)
        dialog.setObjectName("report_failed")
        dialog.setDetailedText(details)
        self.report_dialog = dialog
        dialog.open()

    def _on_report_finished(self, _status: str) -> None:
        self.report_worker = None
        self._update_actions()

    def _on_play_clicked(self) -> None:
        runs = self._selected()
        if len(runs) == 1 and (runs[0].path / "model.onnx").is_file():
            self.sig_open_paths.emit([str(runs[0].path / "model.onnx")])

    def _on_folder_clicked(self) -> None:
        for run in self._selected()[:1]:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def _on_delete_clicked(self) -> None:
        runs = self._selected()
        if not runs or not self._confirm_delete([r.path.name for r in runs]):
            return
        for run in runs:
            try:
                shutil.rmtree(run.path)
            except OSError as exc:
                log.error("cannot delete %s: %s", run.path, exc)
                self.sig_status.emit(f"Cannot delete {run.path.name}: {exc.strerror}")
        self.watcher.scan()
        self.sig_status.emit(f"Deleted {len(runs)} run(s)")
