"""The Import dialog: turn an NPZ frame sequence or a PDEBench file into a Fieldcast dataset."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from fieldcast.app.data.job_dialog import JobDialog
from fieldcast.engine.data import ImportReport, import_file
from fieldcast.engine.jobs import CancelToken
from fieldcast.engine.systems.base import system_names

__all__ = ["ImportDialog"]

_GENERIC = "generic (from the file's channels)"


def _free_name(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.h5"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.h5"
        n += 1
    return path


class ImportDialog(JobDialog):
    """Source, target system and output file; progress and Cancel; the report when done.

    Parameters
    ----------
    source : the NPZ file or folder, or PDEBench HDF5 file, to import.
    data_dir : the app's datasets folder, where the output goes by default.
    """

    start_text = "Import"

    def __init__(self, source: Path, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__("Import a dataset", parent)
        self.start_button.setText(self.start_text)
        self.source = Path(source)
        self.report: ImportReport | None = None
        self._target: Path | None = None

        self.source_label = QLabel(str(self.source))
        self.source_label.setWordWrap(True)
        self.system_combo = QComboBox()
        self.system_combo.addItem(_GENERIC)
        self.system_combo.addItems(system_names())
        self.system_combo.setToolTip("The system spec the channels are mapped onto")
        self.output_edit = QLineEdit(str(_free_name(Path(data_dir), self.source.stem)))
        self.browse_button = QPushButton("Browse…")
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.browse_button)
        self.form.addRow("Source", self.source_label)
        self.form.addRow("System", self.system_combo)
        self.form.addRow("Output file", output_row)

        self.output_edit.textChanged.connect(self._on_output_changed)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.refresh_problem()

    def output_path(self) -> Path:
        return Path(self.output_edit.text().strip()).expanduser()

    def system(self) -> str | None:
        text = self.system_combo.currentText()
        return None if text == _GENERIC else text

    # JobDialog ------------------------------------------------------------------------------------------
    def form_widgets(self) -> list[QWidget]:
        return [self.system_combo, self.output_edit, self.browse_button]

    def problem(self) -> str | None:
        if not self.output_edit.text().strip():
            return "Choose an output file."
        out = self.output_path()
        if out.suffix.lower() not in (".h5", ".hdf5"):
            return "The output file must end in .h5 or .hdf5."
        if out.resolve() == self.source.resolve():
            return "The output must not be the source file."
        if not out.resolve().parent.is_dir():
            return f"Output folder {out.resolve().parent} does not exist."
        return None

    def note(self) -> str:
        return (
            f"{self.output_path().name} exists and will be replaced." if self.output_path().exists() else ""
        )

    def job_factory(self) -> Callable[[CancelToken], Iterator[object]]:
        source, out, system = self.source, self.output_path(), self.system()
        self._target = out
        self.report = None
        return lambda token: import_file(source, out, system=system, token=token)

    def handle_event(self, event: object) -> None:
        if isinstance(event, ImportReport):
            self.report = event

    def finished_message(self, status: str) -> str:
        if status == "done" and self.report is not None:
            self.sig_output_ready.emit(str(self._target))
            lines = (html.escape(line).replace("  ", "&nbsp;&nbsp;") for line in self.report.lines())
            return "<br>".join(lines)
        return f"Import cancelled; {self._target} was not written."

    # Handlers -------------------------------------------------------------------------------------------
    def _on_output_changed(self, _text: str) -> None:
        self.refresh_problem()

    def _on_browse_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Import into", str(self.output_path()), "HDF5 datasets (*.h5 *.hdf5)"
        )
        if path:
            self.output_edit.setText(path if Path(path).suffix else path + ".h5")
