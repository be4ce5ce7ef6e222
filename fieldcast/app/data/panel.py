"""The Data panel: the datasets a user opened, imported or generated, each checked and previewable."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fieldcast.app.data.dataset_list import DatasetList
from fieldcast.app.data.details import DetailsPage
from fieldcast.app.data.generate_dialog import GenerateDialog
from fieldcast.app.data.import_dialog import ImportDialog
from fieldcast.app.data.job_dialog import JobDialog
from fieldcast.app.data.loading import DatasetEntry, load_job
from fieldcast.app.data.preview import DatasetPreview
from fieldcast.app.panel import Panel
from fieldcast.app.paths import app_paths
from fieldcast.app.workers import JobWorker
from fieldcast.widgets.empty_state import EmptyState

__all__ = ["DATASET_SUFFIXES", "DataPanel"]

log = logging.getLogger("fieldcast.app")

DATASET_SUFFIXES = (".h5", ".hdf5", ".hdf", ".npz")
# Files read at the same time (each read runs a probe process).
_PARALLEL_READS = 2


class DataPanel(Panel):
    """A list of datasets (each probed in the background) beside a preview of the selected one.

    Parameters
    ----------
    data_dir : where generated and imported datasets go; the app's datasets folder by default.
    """

    name = "data"
    title = "Data"
    file_suffixes = DATASET_SUFFIXES
    file_filter = "Datasets (*.h5 *.hdf5 *.hdf *.npz)"

    sig_train_requested = Signal(str)
    """The user wants to train on this dataset (path)."""

    def __init__(self, parent: QWidget | None = None, data_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir) if data_dir is not None else app_paths().data
        self._loaders: list[JobWorker] = []
        self._queued: list[tuple[Path, int]] = []
        self._tickets = 0
        self.generate_dialog: GenerateDialog | None = None
        self.import_dialogs: list[ImportDialog] = []

        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open HDF5 datasets or NPZ frame sequences")
        self.generate_button = QPushButton("Generate…")
        self.generate_button.setObjectName("generate_button")
        self.generate_button.setToolTip("Simulate a new dataset with a reference solver")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove from the list (the file stays on disk)")
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.setToolTip("Open the folder holding the file")
        self.train_button = QPushButton("Train on it…")
        self.train_button.setObjectName("train_button")
        self.train_button.setToolTip("Open the Train panel with this dataset chosen")
        toolbar = QHBoxLayout()
        for button in (
            self.open_button,
            self.generate_button,
            self.remove_button,
            self.reveal_button,
            self.train_button,
        ):
            toolbar.addWidget(button)
        toolbar.addStretch(1)

        self.dataset_list = DatasetList()
        self.dataset_list.setMinimumWidth(260)
        self._add_list_actions()
        self.details = DetailsPage()
        self.preview = DatasetPreview()
        self._right = QStackedWidget()
        self._right.addWidget(self.details)
        self._right.addWidget(self.preview)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.dataset_list)
        splitter.addWidget(self._right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 900])

        self.empty = EmptyState(
            "No datasets yet",
            "Drop HDF5 or NPZ files on the window, use File → Open dataset…, or generate one.",
        )
        self.empty_generate_button = self.empty.add_button("Generate a dataset…")
        self._body = QStackedWidget()
        self._body.addWidget(self.empty)
        self._body.addWidget(splitter)

        box = QVBoxLayout(self)
        box.addLayout(toolbar)
        box.addWidget(self._body, 1)

        self.open_button.clicked.connect(self._on_open_button_clicked)
        for button in (self.generate_button, self.empty_generate_button):
            button.clicked.connect(self._on_generate_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.reveal_button.clicked.connect(self._on_reveal_button_clicked)
        self.train_button.clicked.connect(self._on_train_button_clicked)
        self.dataset_list.sig_remove_requested.connect(self._on_remove_button_clicked)
        self.dataset_list.currentItemChanged.connect(self._on_current_item_changed)
        self.dataset_list.model().rowsRemoved.connect(self._on_rows_removed)
        self.details.sig_import_requested.connect(self._on_import_requested)
        self.preview.sig_read_failed.connect(self.sig_status)
        self._update_actions()

    def _add_list_actions(self) -> None:
        self.dataset_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        remove = QAction("Remove from list (Del)", self.dataset_list)
        remove.triggered.connect(self._on_remove_button_clicked)
        reveal = QAction("Reveal in folder", self.dataset_list)
        reveal.triggered.connect(self._on_reveal_button_clicked)
        copy = QAction("Copy path", self.dataset_list)
        copy.triggered.connect(self._on_copy_path_triggered)
        self.dataset_list.addActions([remove, reveal, copy])

    # Panel contract -------------------------------------------------------------------------------------
    def datasets(self) -> list[Path]:
        """Paths of the datasets in the list, in order."""
        return self.dataset_list.paths()

    def entry(self, path: Path) -> DatasetEntry | None:
        """What the panel knows about ``path`` (None if it is not listed)."""
        return self.dataset_list.entry(self.dataset_list.item_for(Path(path)))

    def open_path(self, path: Path, reload: bool = False) -> None:
        """List ``path`` (or select it if it is listed) and check it in the background.

        ``reload`` re-reads a listed file (it was just rewritten by a generate or import job).
        """
        path = Path(path)
        if not path.exists():
            self.sig_status.emit(f"{path}: file not found")
            return
        if self.dataset_list.item_for(path) is not None:
            if not reload:
                self.dataset_list.select(path)
                self.sig_show_me.emit()
                return
            self.remove(path)
        self._tickets += 1
        entry = DatasetEntry(path, ticket=self._tickets)
        item = self.dataset_list.add_entry(entry)
        self._body.setCurrentIndex(1)
        self.dataset_list.setCurrentItem(item)
        self._start_loader(path, entry.ticket)
        self.sig_file_opened.emit(str(path))
        self.sig_show_me.emit()

    def remove(self, path: Path) -> None:
        """Take ``path`` out of the list (the file stays on disk)."""
        item = self.dataset_list.item_for(Path(path))
        if item is None:
            return
        entry = self.dataset_list.entry(item)
        if self.preview.entry() is entry:
            self.preview.clear()
        self.dataset_list.takeItem(self.dataset_list.row(item))
        entry.close()

    def self_check(self) -> list[str]:
        problems = []
        if not self.data_dir.is_dir():
            return [f"datasets folder {self.data_dir} does not exist"]
        try:
            with tempfile.TemporaryFile(dir=self.data_dir):
                pass
        except OSError as exc:
            problems.append(f"datasets folder {self.data_dir} is not writable ({exc.strerror or exc})")
        return problems

    def shutdown(self) -> None:
        self.preview.stop()
        self._queued.clear()
        dialogs: list[JobDialog] = [d for d in (self.generate_dialog, *self.import_dialogs) if d is not None]
        for worker in self._loaders:
            worker.cancel()
        for dialog in dialogs:
            dialog.cancel()
        for worker in self._loaders:
            worker.wait()
        for dialog in dialogs:
            dialog.shutdown()
        for entry in self.dataset_list.entries():
            if entry is not None:
                entry.close()

    # Jobs -----------------------------------------------------------------------------------------------
    def _start_loader(self, path: Path, ticket: int) -> None:
        # Each read starts a probe process: a drop of many files is read a few at a time.
        self._queued.append((path, ticket))
        self._start_queued_loaders()

    def _start_queued_loaders(self) -> None:
        self._loaders = [worker for worker in self._loaders if worker.is_running()]
        while self._queued and len(self._loaders) < _PARALLEL_READS:
            path, ticket = self._queued.pop(0)
            listed = self.entry(path)
            if listed is None or listed.ticket != ticket:
                continue  # removed or reloaded while queued
            worker = JobWorker(load_job(path, ticket), name=f"probe {path.name}")
            worker.sig_event.connect(self._on_loader_event)
            worker.sig_finished.connect(self._on_loader_finished)
            self._loaders.append(worker)
            worker.start()

    def is_busy(self) -> bool:
        """True while a file is still being read, waits to be, or its result has not reached the list."""
        if self._queued or any(worker.is_running() for worker in self._loaders):
            return True
        # A finished reader's result travels to the GUI thread as a queued signal: until it lands, the
        # entry still says "probing".
        return any((e := self.entry(p)) is not None and e.state == "probing" for p in self.datasets())

    def open_generate_dialog(self) -> GenerateDialog:
        """Show the Generate dialog (one per panel, so it keeps its values between uses)."""
        if self.generate_dialog is None:
            self.generate_dialog = GenerateDialog(self.data_dir, self)
            self._connect_job_dialog(self.generate_dialog)
        self.generate_dialog.refresh_problem()
        self.generate_dialog.show()
        self.generate_dialog.raise_()
        self.generate_dialog.activateWindow()
        return self.generate_dialog

    def open_import_dialog(self, source: Path) -> ImportDialog:
        """Show a dialog importing ``source`` into the datasets folder."""
        dialog = ImportDialog(source, self.data_dir, self)
        self._connect_job_dialog(dialog)
        self.import_dialogs.append(dialog)
        dialog.show()
        return dialog

    def _connect_job_dialog(self, dialog: JobDialog) -> None:
        dialog.sig_writing.connect(self._on_job_writing)
        dialog.sig_output_ready.connect(self._on_job_output_ready)

    # Display --------------------------------------------------------------------------------------------
    def _show(self, entry: DatasetEntry | None) -> None:
        if entry is None:
            self.preview.clear()
            self.details.hide()
        elif entry.usable:
            if self.preview.entry() is not entry:
                self.preview.set_entry(entry)
            self._right.setCurrentWidget(self.preview)
        else:
            self.preview.clear()
            self.details.show_entry(entry)
            self.details.show()
            self._right.setCurrentWidget(self.details)
        self._update_actions()

    def _update_actions(self) -> None:
        has = self.dataset_list.currentItem() is not None
        self.remove_button.setEnabled(has)
        self.reveal_button.setEnabled(has)
        entry = self.dataset_list.current_entry() if has else None
        self.train_button.setEnabled(entry is not None and entry.state in ("ok", "problems"))

    # Handlers -------------------------------------------------------------------------------------------
    def _on_loader_event(self, entry: DatasetEntry) -> None:
        listed = self.entry(entry.path)
        if listed is None or listed.ticket != entry.ticket:
            entry.close()  # removed from the list, or reloaded, while it was being read
            return
        self.dataset_list.update_entry(entry)
        if self.dataset_list.current_entry() is entry:
            self._show(entry)
            self._update_actions()
        if entry.state == "error":
            self.sig_status.emit(entry.error)
        elif entry.state == "problems":
            self.sig_status.emit(f"{entry.path.name}: {len(entry.problems)} validation problem(s)")

    def _on_loader_finished(self, _status: str) -> None:
        worker = self.sender()
        if isinstance(worker, JobWorker):
            worker.wait(5000)  # its thread emits this as its last act; let it end before counting
            if worker in self._loaders:
                self._loaders.remove(worker)
        self._start_queued_loaders()

    def _on_current_item_changed(self, current: QListWidgetItem | None, _previous) -> None:
        self._show(self.dataset_list.entry(current))

    def _on_rows_removed(self, *_args) -> None:
        if self.dataset_list.count() == 0:
            self.preview.clear()
            self._body.setCurrentWidget(self.empty)
        self._update_actions()

    def _on_open_button_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open datasets", str(self.data_dir), self.file_filter)
        for name in files:
            self.open_path(Path(name))

    def _on_generate_button_clicked(self) -> None:
        self.open_generate_dialog()

    def _on_import_requested(self) -> None:
        entry = self.dataset_list.current_entry()
        if entry is not None:
            self.open_import_dialog(entry.path)

    def _on_remove_button_clicked(self) -> None:
        entry = self.dataset_list.current_entry()
        if entry is not None:
            self.remove(entry.path)
            self.sig_status.emit(f"Removed {entry.path.name} from the list (the file is still on disk)")

    def _on_train_button_clicked(self) -> None:
        entry = self.dataset_list.current_entry()
        if entry is not None:
            self.sig_train_requested.emit(str(entry.path))

    def _on_reveal_button_clicked(self) -> None:
        entry = self.dataset_list.current_entry()
        if entry is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(entry.path.resolve().parent)))
            self.sig_status.emit(str(entry.path.resolve()))

    def _on_copy_path_triggered(self) -> None:
        entry = self.dataset_list.current_entry()
        if entry is not None:
            QGuiApplication.clipboard().setText(str(entry.path.resolve()))

    def _on_job_writing(self, path: str) -> None:
        # The writer replaces the file: the preview must not hold it open (HDF5 locks it).
        for listed in self.datasets():
            if listed.resolve() == Path(path).resolve():
                self.remove(listed)

    def _on_job_output_ready(self, path: str) -> None:
        self.open_path(Path(path), reload=True)
