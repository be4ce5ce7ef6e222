"""The Generate dialog: simulate a dataset with a system's reference solver, as ``fieldcast generate``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from fieldcast.app.data.job_dialog import JobDialog
from fieldcast.engine.generation import check_request, generate_dataset, system_module
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.systems.base import system_names

__all__ = ["GenerateDialog", "generator_systems"]


def generator_systems() -> list[str]:
    """Systems whose module has a reference solver to generate data with."""
    out = []
    for name in system_names():
        try:
            module = system_module(name)
        except (KeyError, ImportError):
            continue
        if hasattr(module, "simulate_trajectory"):
            out.append(name)
    return out


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


class GenerateDialog(JobDialog):
    """System, trajectories, frames, size, seed, workers and output file; progress, ETA and Cancel.

    Parameters
    ----------
    data_dir : the app's datasets folder, where the output goes by default.
    """

    start_text = "Generate"

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__("Generate a dataset", parent)
        self.start_button.setText(self.start_text)
        self.data_dir = Path(data_dir)
        self._auto_output = True  # the output name follows the parameters until the user picks one
        self._written = 0
        self._target: Path | None = None

        self.system_combo = QComboBox()
        self.system_combo.addItems(generator_systems())
        if self.system_combo.findText("smoke") >= 0:  # the system the shipped Play model is trained on
            self.system_combo.setCurrentText("smoke")
        self.trajectories_spin = _spin(1, 1_000_000, 10, "Number of simulated runs")
        self.frames_spin = _spin(1, 1_000_000, 100, "Frames stored per run")
        self.size_spin = _spin(8, 4096, 128, "Cells per side of the square grid")
        self.size_spin.setSingleStep(16)
        self.seed_spin = _spin(0, 2**31 - 1, 0, "Root seed: the same seed gives the same file")
        cores = os.cpu_count() or 1
        self.workers_spin = _spin(1, max(1, cores), 1, f"Processes to simulate in (this machine: {cores})")
        self.output_edit = QLineEdit()
        self.output_edit.setObjectName("output_edit")
        self.output_edit.setToolTip("HDF5 file to write (replaced if it exists)")
        self.browse_button = QPushButton("Browse…")
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.browse_button)

        self.form.addRow("System", self.system_combo)
        self.form.addRow("Trajectories", self.trajectories_spin)
        self.form.addRow("Frames", self.frames_spin)
        self.form.addRow("Grid size", self.size_spin)
        self.form.addRow("Seed", self.seed_spin)
        self.form.addRow("Workers", self.workers_spin)
        self.form.addRow("Output file", output_row)

        self.system_combo.currentTextChanged.connect(self._on_parameters_changed)
        for spin in self._spins():
            spin.valueChanged.connect(self._on_parameters_changed)
        self.output_edit.textEdited.connect(self._on_output_edited)
        self.output_edit.textChanged.connect(self._on_output_changed)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self._update_auto_output()
        self.refresh_problem()

    # The request ----------------------------------------------------------------------------------------
    def _spins(self) -> list[QSpinBox]:
        return [self.trajectories_spin, self.frames_spin, self.size_spin, self.seed_spin, self.workers_spin]

    def request(self) -> dict:
        """The arguments of :func:`~fieldcast.engine.generation.generate_dataset` the form describes."""
        return {
            "system": self.system_combo.currentText(),
            "out": self.output_path(),
            "trajectories": self.trajectories_spin.value(),
            "frames": self.frames_spin.value(),
            "size": self.size_spin.value(),
            "seed": self.seed_spin.value(),
            "workers": self.workers_spin.value(),
        }

    def output_path(self) -> Path:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else Path()

    def set_output_path(self, path: Path | str) -> None:
        """Write to ``path`` (the name no longer follows the parameters)."""
        self._auto_output = False
        self.output_edit.setText(str(path))

    def _default_name(self) -> Path:
        r = self.request()
        stem = f"{r['system'] or 'dataset'}_{r['size']}px_{r['trajectories']}x{r['frames']}_seed{r['seed']}"
        path = self.data_dir / f"{stem}.h5"
        n = 2
        while path.exists():
            path = self.data_dir / f"{stem}-{n}.h5"
            n += 1
        return path

    def _update_auto_output(self) -> None:
        if self._auto_output:
            self.output_edit.blockSignals(True)
            self.output_edit.setText(str(self._default_name()))
            self.output_edit.blockSignals(False)

    # JobDialog ------------------------------------------------------------------------------------------
    def form_widgets(self) -> list[QWidget]:
        return [self.system_combo, *self._spins(), self.output_edit, self.browse_button]

    def problem(self) -> str | None:
        r = self.request()
        if not r["system"]:
            return "No system with a reference solver is installed."
        if not self.output_edit.text().strip():
            return "Choose an output file."
        if r["out"].suffix.lower() not in (".h5", ".hdf5"):
            return "The output file must end in .h5 or .hdf5."
        try:
            check_request(**{k: v for k, v in r.items() if k != "seed"})
        except (KeyError, ValueError) as exc:
            return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return None

    def note(self) -> str:
        out = self.output_path()
        if out.exists():
            return f"{out.name} exists and will be replaced."
        return ""

    def job_factory(self) -> Callable[[CancelToken], Iterator[Progress]]:
        r = self.request()
        self._target = r["out"]
        self._written = 0
        return lambda token: generate_dataset(cancel=token, **r)

    def _on_worker_event(self, event: object) -> None:
        if isinstance(event, Progress):
            self._written = event.done
        super()._on_worker_event(event)

    def finished_message(self, status: str) -> str:
        target = self._target
        if status == "done":
            self.sig_output_ready.emit(str(target))
            return f"Done: wrote {self._written} trajectories to {target}; it is now in the dataset list."
        # Cancelled: the writer closed the file with the complete trajectories only.
        if self._written == 0:
            if target is not None and target.exists():
                target.unlink()
            return "Cancelled before any trajectory was complete; no file was written."
        self.sig_output_ready.emit(str(target))
        return (
            f"Cancelled: {target.name} holds the {self._written} complete trajectories "
            "and was added to the dataset list."
        )

    # Handlers -------------------------------------------------------------------------------------------
    def _on_parameters_changed(self, *_args) -> None:
        self._update_auto_output()
        self.refresh_problem()

    def _on_output_edited(self, _text: str) -> None:
        self._auto_output = False

    def _on_output_changed(self, _text: str) -> None:
        self.refresh_problem()

    def _on_browse_button_clicked(self) -> None:
        start = str(self.output_path() if self.output_edit.text().strip() else self.data_dir)
        path, _ = QFileDialog.getSaveFileName(self, "Generate into", start, "HDF5 datasets (*.h5 *.hdf5)")
        if path:
            if Path(path).suffix.lower() not in (".h5", ".hdf5"):
                path += ".h5"
            self.set_output_path(path)
